"""Conversations and their messages; seed 004 generates replies, Vault stores what it is given."""
