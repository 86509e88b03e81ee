"""Projects: named groups of a user's conversations (seed 004)."""
