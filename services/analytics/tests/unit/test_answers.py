"""Kept answers: used while the course's fingerprint holds and (about now) while young enough."""

from __future__ import annotations

import asyncio

import pytest

from learnstream.analytics.service_layer.answers import Answers


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Counting:
    """A report that answers how many times it was computed."""

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.calls = 0
        self.gate = gate

    async def __call__(self) -> dict[str, int]:
        self.calls += 1
        call = self.calls
        if self.gate is not None:
            await self.gate.wait()
        return {"call": call}


async def test_an_answer_is_kept_while_the_fingerprint_holds_and_recomputed_when_it_changes() -> None:
    answers, report = Answers(max_age=30, clock=Clock()), Counting()
    assert await answers.get("k", (1, 10), report, moving=False) == {"call": 1}
    assert await answers.get("k", (1, 10), report, moving=False) == {"call": 1}
    assert await answers.get("k", (2, 11), report, moving=False) == {"call": 2}  # a write
    assert await answers.get("other", (2, 11), report, moving=False) == {"call": 3}
    assert (report.calls, answers.computed) == (3, 3)


async def test_an_answer_about_now_is_used_for_max_age_seconds_at_most() -> None:
    clock = Clock()
    answers, report = Answers(max_age=30, clock=clock), Counting()
    await answers.get("k", "f", report, moving=True)
    clock.now += 30
    assert await answers.get("k", "f", report, moving=True) == {"call": 1}
    clock.now += 0.001
    assert await answers.get("k", "f", report, moving=True) == {"call": 2}
    clock.now += 3600  # an answer about a given instant does not age
    await answers.get("fixed", "f", report, moving=False)
    clock.now += 3600
    assert await answers.get("fixed", "f", report, moving=False) == {"call": 3}


async def test_no_cache_computes_afresh_and_max_age_zero_keeps_nothing() -> None:
    answers, report = Answers(max_age=30, clock=Clock()), Counting()
    await answers.get("k", "f", report, moving=True)
    assert await answers.get("k", "f", report, moving=True, fresh=True) == {"call": 2}
    assert await answers.get("k", "f", report, moving=True) == {"call": 2}  # the fresh one is kept
    off = Answers(max_age=0)
    assert [await off.get("k", "f", report, moving=False) for _ in range(2)] == [{"call": 3}, {"call": 4}]


async def test_callers_of_the_same_answer_wait_for_one_computation() -> None:
    gate = asyncio.Event()
    answers, report = Answers(max_age=30, clock=Clock()), Counting(gate)
    waiting = [asyncio.create_task(answers.get("k", "f", report, moving=True)) for _ in range(10)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiting) == [{"call": 1}] * 10
    assert report.calls == 1


async def test_a_caller_that_goes_away_does_not_cancel_the_others_answer() -> None:
    gate = asyncio.Event()
    answers, report = Answers(max_age=30, clock=Clock()), Counting(gate)
    first = asyncio.create_task(answers.get("k", "f", report, moving=True))
    second = asyncio.create_task(answers.get("k", "f", report, moving=True))
    await asyncio.sleep(0)
    first.cancel()
    gate.set()
    assert await second == {"call": 1}
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_when_every_caller_has_gone_the_computation_is_cancelled_and_not_kept() -> None:
    gate = asyncio.Event()
    answers, report = Answers(max_age=30, clock=Clock()), Counting(gate)
    callers = [asyncio.create_task(answers.get("k", "f", report, moving=True)) for _ in range(2)]
    await asyncio.sleep(0)
    for caller in callers:
        caller.cancel()
    await asyncio.gather(*callers, return_exceptions=True)
    await asyncio.sleep(0)
    gate.set()
    assert await answers.get("k", "f", report, moving=True) == {"call": 2}  # computed again


async def test_a_failure_is_not_kept() -> None:
    answers = Answers(max_age=30, clock=Clock())
    calls = 0

    async def failing() -> dict[str, int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise LookupError("course not found")
        return {"call": calls}

    with pytest.raises(LookupError):
        await answers.get("k", "f", failing, moving=False)
    assert await answers.get("k", "f", failing, moving=False) == {"call": 2}


async def test_the_least_recently_used_answer_goes_first() -> None:
    answers, report = Answers(max_age=30, size=2, clock=Clock()), Counting()
    await answers.get("a", "f", report, moving=False)
    await answers.get("b", "f", report, moving=False)
    await answers.get("a", "f", report, moving=False)  # a is used again: b is the oldest
    await answers.get("c", "f", report, moving=False)
    assert await answers.get("a", "f", report, moving=False) == {"call": 1}
    assert await answers.get("b", "f", report, moving=False) == {"call": 4}
