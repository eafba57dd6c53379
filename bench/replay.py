"""``replay_events_per_s``: analytics rebuilds every projection from its stored events.

``POST /api/analytics/rebuild?from=events`` (service credential) empties the derived tables
and re-derives them from ``events``, the raw copy of everything analytics took off the bus;
the figure is the events it re-read divided by the seconds the call took. It runs after the
instructor dashboard's million events are in (before ingest, whose batches keep every
consumer group busy for minutes), on whatever the earlier scenarios left (or on a seeding
of its own when run alone), and is repeated three times; the median is reported.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import aiohttp

from bench import ingest
from bench.stack import EmbeddedStack, json_of
from learnstream.runtime.settings import DEV_SERVICE_TOKEN

TARGET = 50_000.0
RUNS = 3


async def _rebuild(stack: EmbeddedStack) -> tuple[int, float]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3600)) as http:
        began = time.perf_counter()
        async with http.post(
            f"{stack.url('analytics')}/api/analytics/rebuild",
            params={"from": "events"},
            headers={"X-Service-Token": DEV_SERVICE_TOKEN},
        ) as answer:
            body = await json_of(answer)
        return int(body["events"]), time.perf_counter() - began


async def _stored(stack: EmbeddedStack) -> int:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http,
        http.post(
            f"http://127.0.0.1:{8123 + stack.port_offset}/", data="SELECT count() FROM learnstream.events"
        ) as answer,
    ):
        return int((await answer.text()).strip())


def measure(stack: EmbeddedStack, *, quick: bool) -> dict[str, Any]:
    if asyncio.run(_stored(stack)) < 10_000:
        print("replay: too few stored events; running the ingest scenario first to have some")
        ingest.measure(stack, quick=True)
    idle = stack.idle_percent
    stack.wait_quiet(idle)
    runs = []
    for _ in range(RUNS):
        events, seconds = asyncio.run(_rebuild(stack))
        runs.append({"events": events, "seconds": round(seconds, 2), "per_s": round(events / seconds, 1)})
        print(f"  rebuilt from {events} stored events in {seconds:.2f} s")
    value = statistics.median(run["per_s"] for run in runs)
    return {
        "value": value,
        "target": f">= {TARGET:g}",
        "met": value >= TARGET,
        "workload": f"{runs[-1]['events']} stored events, rebuild from events, median of {RUNS}",
        "runs": runs,
    }
