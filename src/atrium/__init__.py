"""Atrium: a self-hosted AI platform backend."""

__version__ = "0.1.0"
