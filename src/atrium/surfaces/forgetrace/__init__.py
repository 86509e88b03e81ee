"""Seed 001 (ForgeTrace): its camelCase /api/v1 paths."""
