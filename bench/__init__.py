"""Atrium's benchmark harness: wrk against a FastAPI hello-world baseline and Atrium, same run."""
