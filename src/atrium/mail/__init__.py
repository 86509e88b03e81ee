"""Outgoing email over SMTP."""
