"""Course reports' answers, kept while nothing they are computed from has changed.

An instructor's course page asks the same few reports again and again (every reload, every
assistant on the course, every open tab), and at ten million events one computation takes
about a second of ClickHouse's time. Each answer is kept with the course's fingerprint
(:meth:`~learnstream.analytics.service_layer.base.ReportsBase.fingerprint`), which changes
with any write that can change a report about the course: a batch that touches one of its
learners (the read model's rows are re-derived, so their newest version rises), an
erasure, a change of its catalog or of anybody's profile. A kept answer is used only while
the fingerprint is what it was when the answer was computed, so an event is in the next
answer after it is projected, exactly as without the cache.

Without any write, an answer about *now* still moves with the clock (a learner's days of
quiet, the end of the window), so it is used for at most ``max_age`` seconds; an answer about
a given instant (``now=``) as long as the fingerprint holds. ``Cache-Control: no-cache`` on
a request computes afresh. Requests for the same answer while it is being computed wait
for that one computation instead of starting their own; when every caller has gone, the
computation is cancelled. Each analytics process keeps its own answers; the fingerprint
lives in ClickHouse, so replicas stay exact.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

Answer = TypeVar("Answer")


@dataclass
class _Kept:
    fingerprint: Hashable
    started: float
    moving: bool
    answer: asyncio.Task[Any]
    waiting: int = 0


class Answers:
    """At most ``size`` answers, the least recently used dropped first; ``max_age`` 0 keeps none."""

    def __init__(
        self, *, max_age: float, size: int = 256, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_age = max_age
        self.size = size
        self._clock = clock
        self._kept: OrderedDict[Hashable, _Kept] = OrderedDict()
        self.computed = 0
        """How many answers were computed (the rest were kept ones): for tests and metrics."""

    def clear(self) -> None:
        """Forget every kept answer (computations under way still answer their callers)."""
        self._kept.clear()

    def _usable(self, kept: _Kept | None, fingerprint: Hashable, now: float) -> bool:
        if kept is None or kept.fingerprint != fingerprint:
            return False
        if kept.answer.done() and (kept.answer.cancelled() or kept.answer.exception() is not None):
            return False
        return not kept.moving or now - kept.started <= self.max_age

    async def get(
        self,
        key: Hashable,
        fingerprint: Hashable,
        compute: Callable[[], Awaitable[Answer]],
        *,
        moving: bool,
        fresh: bool = False,
    ) -> Answer:
        """The answer for ``key``: the kept one if ``fingerprint`` still holds (and, for an
        answer about now, ``moving``, it is young enough), else ``compute()``'s."""
        if self.max_age <= 0:
            self.computed += 1
            return await compute()
        now = self._clock()
        kept = self._kept.get(key)
        if fresh or not self._usable(kept, fingerprint, now):
            self.computed += 1
            kept = _Kept(fingerprint, now, moving, asyncio.ensure_future(compute()))
            kept.answer.add_done_callback(self._settled(key))
            self._kept[key] = kept
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        else:
            self._kept.move_to_end(key)
        assert kept is not None
        # a caller that goes away does not cancel the computation others wait for; when the
        # last one goes (the gateway's page deadline), it stops at its next query
        kept.waiting += 1
        try:
            answer: Answer = await asyncio.shield(kept.answer)
        except asyncio.CancelledError:
            kept.waiting -= 1
            if not kept.waiting and not kept.answer.done():
                kept.answer.cancel()
            raise
        kept.waiting -= 1
        return answer

    def _settled(self, key: Hashable) -> Callable[[asyncio.Task[Any]], None]:
        def forget_failure(task: asyncio.Task[Any]) -> None:
            if task.cancelled() or task.exception() is not None:  # retrieved: errors are not kept
                kept = self._kept.get(key)
                if kept is not None and kept.answer is task:
                    del self._kept[key]

        return forget_failure
