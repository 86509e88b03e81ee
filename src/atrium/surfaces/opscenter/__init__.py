"""Seed 002 Ops Center pages' own calls, over the shared services."""
