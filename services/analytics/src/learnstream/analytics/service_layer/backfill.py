"""Backfill: history imported from an archive instead of the bus.

Events arrive in the CloudEvents JSON format, one per line (what ``structured`` of
``learnstream.events`` writes; a topic dumped with kcat and converted line by line is the
same), and go to the warehouse through the projection's sink under its lock, exactly as a
batch from the bus would: checked by the catalog's decoder, deduplicated by event id (so an
event imported twice, or imported after it was taken off the bus, counts once), erased
learners' events dropped. Used to load history older than the topics' retention, and by the
benchmark to put millions of events behind the instructor dashboard in minutes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from learnstream.events import EventDecodeError, decode, from_structured
from learnstream.runtime.consumer import Delivery
from learnstream.runtime.projection import Projected

IMPORT_TOPIC = "import"
"""The ``topic`` an imported event is stored with (its ``offset`` is its line number)."""
CHUNK = 10_000
"""Events written to the warehouse at a time."""
MAX_ERRORS = 20


@dataclass
class Imported:
    imported: int = 0
    refused: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    """The first refused lines: ``{line, reason}``."""


async def import_lines(
    chunks: AsyncIterator[bytes],
    sink: Callable[[Sequence[Projected]], Awaitable[None]],
    lock: asyncio.Lock,
    reveal: Callable[[Sequence[Projected]], Awaitable[list[Projected]]] | None = None,
) -> Imported:
    """Write the events of an NDJSON body (read in ``chunks``) through ``sink``; a line that
    is not an event of the catalog is refused and reported, the others are written.
    ``reveal`` opens sealed personal fields first, outside ``lock`` (it may wait for the key
    vault, and the live projection must not wait with it)."""
    result = Imported()
    pending: list[Projected] = []
    number = 0

    def take(line: bytes) -> None:
        nonlocal number
        number += 1
        if not line.strip():
            return
        try:
            document = orjson.loads(line)
            if not isinstance(document, dict):
                raise ValueError("the line is not a JSON object")
            headers, value = from_structured(document)
            envelope = decode(headers, value)
        except (ValueError, EventDecodeError) as exc:
            result.refused += 1
            if len(result.errors) < MAX_ERRORS:
                result.errors.append({"line": number, "reason": str(exc)[:500]})
            return
        delivery = Delivery(IMPORT_TOPIC, 0, number, None, headers, value)
        pending.append(Projected(envelope, delivery))

    async def flush() -> None:
        if pending:
            ready = await reveal(pending) if reveal is not None else pending
            async with lock:
                await sink(ready)
            result.imported += len(pending)
            pending.clear()

    rest = b""
    async for chunk in chunks:
        *lines, rest = (rest + chunk).split(b"\n")
        for line in lines:
            take(line)
        if len(pending) >= CHUNK:
            await flush()
    take(rest)
    await flush()
    return result
