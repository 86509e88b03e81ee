"""One batch of queued requests made ready to store: the rows' values in one flat list, the
bytes each hash covers, and the batch's figures grouped by hour, route, status and latency
bucket (from which the roll-up rows and the per-process request statistics are made, so no
per-row dicts or tuples)."""

from bisect import bisect_left
from collections.abc import Callable
from typing import Any

import orjson

from atrium.auditlog.chain import COLUMNS, Chainer, clean_path, moment
from atrium.auditlog.tables import BUCKETS, LATENCY_BOUNDS_MS

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
UNMATCHED = "(unmatched)"
# the summed columns of the roll-up tables, in order
FIGURES = ("requests", "client_errors", "server_errors", "latency_ms_sum", *BUCKETS)
WIDTH = len(COLUMNS)  # values per row
USER_ID, PREV_HASH, HASH = COLUMNS.index("user_id"), WIDTH - 2, WIDTH - 1


class Batch:
    def __init__(self) -> None:
        # every row's values in COLUMNS order, one after the other; `link` fills the hashes
        self.values: list[Any] = []
        self.payloads: list[bytes] = []
        # (hours since the epoch, method, route, status, bucket index) -> [requests, latency sum]
        self.groups: dict[tuple, list] = {}
        self.actors: dict[tuple[int, str], int] = {}  # (day, actor) -> requests

    def __len__(self) -> int:
        return len(self.payloads)

    def link(self, chainer: Chainer, prev_hash: str) -> str:
        """Chain the rows after `prev_hash`: fill each row's `prev_hash` and `hash`; returns
        the last hash."""
        hashes = chainer.link(self.payloads, prev_hash)
        if not hashes:
            return prev_hash
        self.values[PREV_HASH::WIDTH] = [prev_hash, *hashes[:-1]]
        self.values[HASH::WIDTH] = hashes
        return hashes[-1]

    def rows(self) -> list[list[Any]]:
        values = self.values
        return [values[start : start + WIDTH] for start in range(0, len(values), WIDTH)]

    def without_users(self) -> "Batch":
        """The same batch with `user_id` nulled (as deleting a user does): the chain does
        not cover it, so the hashes are unchanged."""
        copy = Batch()
        copy.values = self.values.copy()
        copy.values[USER_ID::WIDTH] = [None] * len(self)
        copy.payloads, copy.groups, copy.actors = self.payloads, self.groups, self.actors
        return copy

    def figures(self, *, daily: bool) -> dict[tuple[int, str, str], list]:
        """(hours or days since the epoch, method, route) -> the FIGURES of the roll-ups."""
        out: dict[tuple[int, str, str], list] = {}
        for (hour, method, route, status, bucket), (count, latency) in self.groups.items():
            key = (hour // 24 if daily else hour, method, route)
            row = out.get(key)
            if row is None:
                row = out[key] = [0, 0, 0, 0.0, *[0] * len(BUCKETS)]
            row[0] += count
            if status >= 400:
                row[1 if status < 500 else 2] += count
            row[3] += latency
            row[4 + bucket] += count
        return out

    def hourly_rows(self) -> list[dict[str, Any]]:
        return [
            {"hour": moment(hour * HOUR_US), "method": method, "route": route,
             **dict(zip(FIGURES, figures, strict=True))}
            for (hour, method, route), figures in self.figures(daily=False).items()
        ]  # fmt: skip

    def daily_rows(self) -> list[dict[str, Any]]:
        return [
            {"day": moment(day * DAY_US).date(), "method": method, "route": route,
             **dict(zip(FIGURES, figures, strict=True))}
            for (day, method, route), figures in self.figures(daily=True).items()
        ]  # fmt: skip

    def actor_rows(self) -> list[dict[str, Any]]:
        return [
            {"day": moment(day * DAY_US).date(), "actor": actor, "requests": count}
            for (day, actor), count in self.actors.items()
        ]


def encode(chainer: Chainer, entries: list[tuple], stored_time: Callable[[int], Any]) -> Batch:
    """Values, hash payloads and figures of queued entries (see `middleware._audit_entry`),
    in one pass with everything bound locally: this loop is most of the audit log's Python
    work."""
    batch = Batch()
    payloads, groups, actors = batch.payloads, batch.groups, batch.actors
    add_values, add_payload, group_of = batch.values.extend, payloads.append, groups.get
    bounds, dumps, actor_of, agent_of = (
        LATENCY_BOUNDS_MS,
        orjson.dumps,
        chainer.actor,
        chainer.agent,
    )
    known_actors, known_agents = chainer.actors, chainer.agents
    for entry in entries:
        (when, user_id, key_id, key_prefix, method, route, path, query, status, latency,
         client, agent, rid) = entry  # fmt: skip
        us = int(when * 1_000_000)
        actor = None if user_id is None else known_actors.get(user_id) or actor_of(user_id)
        key_prefix = key_prefix[:32] if key_prefix else None
        method = method[:10]
        route = route[:300] if route else None
        path = clean_path(path, query) if query else path[:2000]
        status = int(status)
        latency_text = f"{latency:.3f}"  # what the hash covers; the stored value is the same
        latency = float(latency_text)
        client = client[:64] if client else None
        agent = (known_agents.get(agent) or agent_of(agent)) if agent else None
        add_payload(dumps([us, actor, key_id, key_prefix, method, route, path, status,
                           latency_text, client, agent, rid]))  # fmt: skip
        # COLUMNS order; the hashes are filled when the batch is chained
        add_values((stored_time(us), user_id, actor, key_id, key_prefix, method, route, path,
                    status, latency, client, agent, rid, None, None))  # fmt: skip
        key = (us // HOUR_US, method, route or UNMATCHED, status, bisect_left(bounds, latency))
        group = group_of(key)
        if group is None:
            groups[key] = [1, latency]
        else:
            group[0] += 1
            group[1] += latency
        if actor is not None:
            actor_key = (us // DAY_US, actor)
            actors[actor_key] = actors.get(actor_key, 0) + 1
    return batch


class RequestStats:
    """Per-process request counts and latency histograms by route template, updated from the
    written batches (so metrics cost the request nothing either)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, int], int] = {}
        self.latency: dict[tuple[str, str], list[float]] = {}  # buckets..., sum

    def add(self, batch: Batch) -> None:
        width = len(BUCKETS)
        for (_hour, method, route, status, bucket), (count, latency) in batch.groups.items():
            key = (method, route, status)
            self.counts[key] = self.counts.get(key, 0) + count
            histogram = self.latency.get(key[:2])
            if histogram is None:
                histogram = self.latency[key[:2]] = [0.0] * (width + 1)
            histogram[bucket] += count
            histogram[width] += latency
