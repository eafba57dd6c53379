"""A read whose client went away stops; a write finishes. Over real HTTP (uvicorn), since
only a real connection can go away."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from learnstream.devstack.testing import uvicorn_server
from learnstream.runtime.limits import CancelAbandonedReads


def app(steps: list[str]) -> FastAPI:
    application = FastAPI()
    application.add_middleware(CancelAbandonedReads)

    async def slow(name: str) -> dict[str, str]:
        steps.append(f"{name} started")
        for part in range(3):  # three "queries" of 0.3 s
            await asyncio.sleep(0.3)
            steps.append(f"{name} part {part}")
        return {"done": name}

    @application.get("/report")
    async def report() -> dict[str, str]:
        return await slow("report")

    @application.post("/write")
    async def write() -> dict[str, str]:
        return await slow("write")

    return application


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, list[str]]]:
    steps: list[str] = []
    async with uvicorn_server(app(steps)) as (host, port):
        yield f"http://{host}:{port}", steps


async def test_a_read_whose_client_left_is_cancelled(served: tuple[str, list[str]]) -> None:
    base, steps = served
    async with httpx.AsyncClient(base_url=base) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get("/report", timeout=0.45)  # gives up during the second part
    await asyncio.sleep(1.2)
    assert steps == ["report started", "report part 0"]


async def test_a_read_whose_client_waits_is_answered(served: tuple[str, list[str]]) -> None:
    base, steps = served
    async with httpx.AsyncClient(base_url=base) as http:
        answer = await http.get("/report", timeout=5)
        again = await http.get("/report", timeout=5)  # the same connection, kept alive
    assert answer.json() == again.json() == {"done": "report"}
    assert steps.count("report part 2") == 2


async def test_a_write_finishes_though_its_client_left(served: tuple[str, list[str]]) -> None:
    base, steps = served
    async with httpx.AsyncClient(base_url=base) as http:
        with contextlib.suppress(httpx.ReadTimeout):
            await http.post("/write", timeout=0.45)
    await asyncio.sleep(1.2)
    assert steps[-1] == "write part 2"
