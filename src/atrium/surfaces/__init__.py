"""Thin routers that speak each seed's own shapes over the shared services."""
