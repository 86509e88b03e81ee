"""Wake-up signals between processes; the durable events are rows (job_event)."""
