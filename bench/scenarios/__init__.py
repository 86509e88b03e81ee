"""One module per scenario; each registers itself with `@scenario(...)` on import."""
