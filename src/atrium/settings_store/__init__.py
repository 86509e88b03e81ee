"""Instance settings that administrators change at run time (registration, default model)."""
