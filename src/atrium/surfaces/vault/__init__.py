"""Seed 000 (Vault AI): /vault/* routers."""
