"""The repository audit engine: a library that needs no server (the CLI and the job runner
both call `audit`)."""

from atrium.audits.engine.scan import SCHEMA_VERSION, audit

__all__ = ["SCHEMA_VERSION", "audit"]
