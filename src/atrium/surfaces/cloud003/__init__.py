"""Seed 003 (cloud cost platform): /api/auth/* and its other prefixes."""
