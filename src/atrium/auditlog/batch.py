"""One batch of queued requests made ready to store: rows as tuples, the bytes each hash
covers, and the batch's figures grouped by hour, route, status and latency bucket (from which
the roll-up rows and the per-process request statistics are made, so no per-row dicts)."""

from bisect import bisect_left
from collections.abc import Callable
from typing import Any

import orjson

from atrium.auditlog.chain import Chainer, clean_path, moment
from atrium.auditlog.tables import BUCKETS, LATENCY_BOUNDS_MS

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
UNMATCHED = "(unmatched)"


class Batch:
    def __init__(self) -> None:
        self.rows: list[tuple] = []  # chain.STORED values
        self.payloads: list[bytes] = []
        # (hours since the epoch, method, route, status, bucket index) -> [requests, latency sum]
        self.groups: dict[tuple, list] = {}
        self.actors: dict[tuple[int, str], int] = {}  # (day, actor) -> requests

    def __len__(self) -> int:
        return len(self.rows)

    def without_users(self) -> "Batch":
        """The same batch with `user_id` nulled (as deleting a user does): the chain does
        not cover it, so the hashes are unchanged."""
        copy = Batch()
        copy.rows = [(row[0], None, *row[2:]) for row in self.rows]
        copy.payloads, copy.groups, copy.actors = self.payloads, self.groups, self.actors
        return copy

    def hourly_rows(self) -> list[dict[str, Any]]:
        return _figure_rows(self.groups, lambda hour: ("hour", moment(hour * HOUR_US)))

    def daily_rows(self) -> list[dict[str, Any]]:
        return _figure_rows(self.groups, lambda hour: ("day", moment(hour * HOUR_US).date()))

    def actor_rows(self) -> list[dict[str, Any]]:
        return [
            {"day": moment(day * DAY_US).date(), "actor": actor, "requests": count}
            for (day, actor), count in self.actors.items()
        ]


def encode(chainer: Chainer, entries: list[tuple], stored_time: Callable[[int], Any]) -> Batch:
    """Rows, hash payloads and figures of queued entries (see `middleware._audit_entry`), in
    one pass with everything bound locally: this loop is most of the audit log's CPU."""
    batch = Batch()
    rows, payloads, groups, actors = batch.rows, batch.payloads, batch.groups, batch.actors
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
        payload = dumps([us, actor, key_id, key_prefix, method, route, path, status,
                         latency_text, client, agent, rid])  # fmt: skip
        rows.append((stored_time(us), user_id, actor, key_id, key_prefix, method, route, path,
                     status, latency, client, agent, rid))  # fmt: skip
        payloads.append(payload)
        key = (us // HOUR_US, method, route or UNMATCHED, status, bisect_left(bounds, latency))
        group = groups.get(key)
        if group is None:
            groups[key] = [1, latency]
        else:
            group[0] += 1
            group[1] += latency
        if actor is not None:
            actor_key = (us // DAY_US, actor)
            actors[actor_key] = actors.get(actor_key, 0) + 1
    return batch


def _figure_rows(groups: dict[tuple, list], period: Callable[[int], tuple]) -> list[dict]:
    """Roll-up rows (one per period, method and route) from a batch's groups."""
    out: dict[tuple, dict[str, Any]] = {}
    for (hour, method, route, status, bucket), (count, latency) in groups.items():
        column, when = period(hour)
        row = out.get((when, method, route))
        if row is None:
            row = out[(when, method, route)] = {column: when, "method": method, "route": route}
            row.update(requests=0, client_errors=0, server_errors=0, latency_ms_sum=0.0)
            row.update(dict.fromkeys(BUCKETS, 0))
        row["requests"] += count
        if status >= 400:
            row["client_errors" if status < 500 else "server_errors"] += count
        row["latency_ms_sum"] += latency
        row[BUCKETS[bucket]] += count
    return list(out.values())


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
