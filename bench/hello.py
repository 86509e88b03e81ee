"""The baseline: a bare FastAPI hello-world, served like Atrium (one worker, uvloop, httptools)."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/", response_model=None)
async def hello() -> dict[str, str]:
    return {"hello": "world"}
