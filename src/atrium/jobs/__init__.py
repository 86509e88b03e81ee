"""The durable job engine: one `job` table, runners registered per kind, two executors."""
