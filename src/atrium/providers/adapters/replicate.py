"""Replicate predictions API for language models.

A chat becomes one prediction: `POST /v1/models/{owner}/{name}/predictions` (or
`POST /v1/predictions` with a version, for `owner/name:version`) with `Prefer: wait`, then
polling `urls.get` while it runs. Streams read the prediction's `urls.stream` (SSE events
`output`, `error`, `done`). Language models on Replicate take a text `prompt` and a
`system_prompt`, so the conversation is rendered as a transcript.
"""

import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx

from atrium.outbound.http import (
    api_root,
    bearer,
    expect_object,
    iter_sse,
    open_stream,
    provider_message,
    send,
)
from atrium.providers.adapters import shapes
from atrium.providers.adapters.base import (
    ProviderTarget,
    UnsupportedOperation,
    UpstreamError,
    UpstreamTimeout,
)

TERMINAL = ("succeeded", "failed", "canceled", "aborted")
MAX_WAIT_HEADER = 60  # Replicate holds a request open for at most 60 s
FIRST_POLL_DELAY = 0.2
MAX_POLL_DELAY = 2.0
ROLE_NAMES = {"user": "User", "assistant": "Assistant", "tool": "Tool"}
PARAMETERS = ("temperature", "top_p", "top_k", "seed")


def _url(target: ProviderTarget, path: str) -> str:
    return f"{api_root(target.api_base, '/v1')}/v1{path}"


# --- request --------------------------------------------------------------------------


def prediction_input(body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI chat request as the input of a Replicate language model."""
    messages = body.get("messages") or []
    turns = [m for m in messages if not shapes.is_system(m)]
    for message in turns:
        if any(shapes.image_url_of(p) for p in shapes.content_parts(message.get("content"))):
            raise UnsupportedOperation("replicate adapter sends text prompts only, not images")
    model_input: dict[str, Any] = {"prompt": _prompt(turns)}
    if system := shapes.system_text(messages):
        model_input["system_prompt"] = system
    model_input |= {name: body[name] for name in PARAMETERS if body.get(name) is not None}
    if max_tokens := shapes.max_tokens_of(body):
        model_input["max_tokens"] = max_tokens
    if stop := shapes.stop_list(body.get("stop")):
        model_input["stop_sequences"] = ",".join(stop)
    return model_input


def _prompt(turns: list[dict[str, Any]]) -> str:
    if len(turns) == 1 and turns[0].get("role") == "user":
        return shapes.text_of(turns[0].get("content"))
    lines = [
        f"{ROLE_NAMES.get(m.get('role', ''), 'User')}: {shapes.text_of(m.get('content'))}"
        for m in turns
    ]
    return "\n\n".join([*lines, "Assistant:"])


def _create_request(model: str, model_input: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Path and body that start a prediction of `owner/name` or `owner/name:version`."""
    name, _, version = model.partition(":")
    if version:
        return "/predictions", {"version": version, "input": model_input}
    return f"/models/{name}/predictions", {"input": model_input}


# --- answers --------------------------------------------------------------------------


def _output_text(output: Any) -> str:
    if output is None:
        return ""
    if isinstance(output, list):
        return "".join(str(piece) for piece in output)
    return str(output)


def _usage(prediction: dict[str, Any]) -> dict[str, int] | None:
    metrics = prediction.get("metrics") or {}
    return shapes.usage(metrics.get("input_token_count"), metrics.get("output_token_count"))


def _check_outcome(prediction: dict[str, Any], target: ProviderTarget) -> None:
    status = prediction.get("status")
    if status == "failed":
        raise UpstreamError(f"{target.type} prediction failed: {prediction.get('error')}")
    if status in ("canceled", "aborted"):
        raise UpstreamError(f"{target.type} prediction was {status}")


def _completion(prediction: dict[str, Any], model: str) -> dict[str, Any]:
    return shapes.completion(
        model=model,
        content=_output_text(prediction.get("output")),
        finish_reason="stop",
        usage=_usage(prediction),
        completion_id=prediction.get("id"),
    )


class ReplicateAdapter:
    async def chat(
        self, client: httpx.AsyncClient, target: ProviderTarget, body: dict[str, Any]
    ) -> dict[str, Any]:
        deadline = time.monotonic() + target.timeout
        prediction = await self._create(client, target, body, stream=False)
        prediction = await self._wait(client, target, prediction, deadline)
        return _completion(prediction, body.get("model", ""))

    async def stream_chat(
        self, client: httpx.AsyncClient, target: ProviderTarget, body: dict[str, Any]
    ) -> AsyncIterator[dict[str, Any]]:
        model = body.get("model", "")
        deadline = time.monotonic() + target.timeout
        prediction = await self._create(client, target, body, stream=True)
        chunks = shapes.ChunkBuilder(model, completion_id=prediction.get("id") or shapes.new_id())
        stream_url = (prediction.get("urls") or {}).get("stream")
        if not stream_url:  # a model that cannot stream: send its whole answer as one chunk
            prediction = await self._wait(client, target, prediction, deadline)
            for chunk in (chunks.role(), chunks.text(_output_text(prediction.get("output")))):
                yield chunk
        else:
            headers = {**bearer(target), "Accept": "text/event-stream", "Cache-Control": "no-store"}
            async with open_stream(client, target, "GET", stream_url, headers=headers) as response:
                yield chunks.role()
                async for event in iter_sse(response):
                    if event.event == "output":
                        yield chunks.text(event.data)
                    elif event.event == "error":
                        raise _stream_failure(event.data, target)
                    elif event.event == "done":
                        _check_done(event.data, target)
                        break
            prediction = await self._refresh_quietly(client, target, prediction)
        yield chunks.finish("stop")
        if usage := _usage(prediction):
            yield chunks.usage(usage)

    async def list_models(self, client: httpx.AsyncClient, target: ProviderTarget) -> list[str]:
        """The first page of public models (Replicate hosts tens of thousands)."""
        reply = await send(client, target, "GET", _url(target, "/models"), headers=bearer(target))
        results = expect_object(reply, target, "model list").get("results") or []
        return [f"{m['owner']}/{m['name']}" for m in results if m.get("owner") and m.get("name")]

    async def embeddings(
        self, client: httpx.AsyncClient, target: ProviderTarget, body: dict[str, Any]
    ) -> dict[str, Any]:
        raise UnsupportedOperation("replicate adapter does not offer embeddings")

    async def _create(
        self,
        client: httpx.AsyncClient,
        target: ProviderTarget,
        body: dict[str, Any],
        *,
        stream: bool,
    ) -> dict[str, Any]:
        path, request = _create_request(body.get("model", ""), prediction_input(body))
        headers = bearer(target)
        if stream:
            request["stream"] = True
        else:
            wait = max(1, min(MAX_WAIT_HEADER, int(target.timeout)))
            headers["Prefer"] = f"wait={wait}"
        reply = await send(
            client, target, "POST", _url(target, path), json=request, headers=headers
        )
        return expect_object(reply, target, "prediction")

    async def _wait(
        self,
        client: httpx.AsyncClient,
        target: ProviderTarget,
        prediction: dict[str, Any],
        deadline: float,
    ) -> dict[str, Any]:
        """Poll the prediction until it ends or the deadline (the target's timeout) passes."""
        delay = FIRST_POLL_DELAY
        while prediction.get("status") not in TERMINAL:
            urls = prediction.get("urls") or {}
            if not urls.get("get"):
                raise UpstreamError(f"{target.type} sent a running prediction without urls.get")
            if time.monotonic() + delay > deadline:
                await self._cancel_quietly(client, target, urls.get("cancel"))
                raise UpstreamTimeout(
                    f"{target.type} prediction did not finish within {target.timeout:g} s"
                )
            await anyio.sleep(delay)
            delay = min(delay * 2, MAX_POLL_DELAY)
            reply = await send(client, target, "GET", urls["get"], headers=bearer(target))
            prediction = expect_object(reply, target, "prediction")
        _check_outcome(prediction, target)
        return prediction

    async def _refresh_quietly(
        self, client: httpx.AsyncClient, target: ProviderTarget, prediction: dict[str, Any]
    ) -> dict[str, Any]:
        """The prediction as it stands after its stream, for token counts; best effort."""
        get_url = (prediction.get("urls") or {}).get("get")
        if not get_url:
            return prediction
        try:
            reply = await send(client, target, "GET", get_url, headers=bearer(target))
        except UpstreamError:
            return prediction
        return reply if isinstance(reply, dict) else prediction

    async def _cancel_quietly(
        self, client: httpx.AsyncClient, target: ProviderTarget, cancel_url: str | None
    ) -> None:
        """Stop a prediction nobody waits for any more, so that it stops costing money."""
        if not cancel_url:
            return
        with contextlib.suppress(UpstreamError):
            await send(client, target, "POST", cancel_url, headers=bearer(target))


def _event_json(data: str) -> dict[str, Any]:
    try:
        parsed = json.loads(data or "{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _check_done(data: str, target: ProviderTarget) -> None:
    """A `done` event carries `{}`, or `{"reason": "canceled" | "error"}`."""
    reason = _event_json(data).get("reason")
    if reason:
        raise UpstreamError(f"{target.type} prediction ended early: {reason}")


def _stream_failure(data: str, target: ProviderTarget) -> UpstreamError:
    message = provider_message(_event_json(data)) or data or "no detail"
    return UpstreamError(f"{target.type} prediction failed: {message}")
