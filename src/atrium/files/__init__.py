"""Uploaded files: streamed to storage, hashed, sniffed, quota-checked, served with Range."""
