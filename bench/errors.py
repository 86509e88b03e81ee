class BenchError(Exception):
    """The harness cannot run at all (missing tool, server that never became ready)."""


class Skip(Exception):
    """Raised by a scenario's setup when it cannot apply to this run."""


class ScenarioFailed(Exception):
    """Raised by a scenario's setup when what it needs is broken."""
