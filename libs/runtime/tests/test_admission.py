"""Admission: past its places a service answers 503 at once instead of taking on work it
cannot finish in time (a real uvicorn server and HTTP client)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import StreamingResponse

from learnstream.devstack.testing import uvicorn_server
from learnstream.runtime.limits import CancelAbandonedReads, admission
from learnstream.runtime.problems import install_problem_handlers


def an_app(places: int, wait: float, release: asyncio.Event) -> FastAPI:
    router = APIRouter()

    @router.get("/work")
    async def work() -> dict[str, str]:
        await release.wait()
        return {"done": "yes"}

    @router.get("/fail")
    async def fail() -> dict[str, str]:
        raise ValueError("a bug")

    @router.post("/upload")
    async def upload(body: dict[str, str]) -> dict[str, int]:
        return {"keys": len(body)}

    @router.post("/raw")
    async def raw(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}  # a body the endpoint reads itself

    @router.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"first\n"
            await release.wait()
            yield b"last\n"

        return StreamingResponse(chunks(), media_type="text/plain")

    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router, dependencies=[Depends(admission(places, wait), scope="function")])
    return app


@contextlib.asynccontextmanager
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        uvicorn_server(app) as (host, port),
        httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=10) as http,
    ):
        yield http


async def test_requests_past_the_places_are_answered_503_at_once_and_the_admitted_finish() -> None:
    release = asyncio.Event()
    async with client(an_app(2, 0.2, release)) as http:
        admitted = [asyncio.create_task(http.get("/work")) for _ in range(2)]
        await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        started = loop.time()
        shed = await asyncio.gather(*(http.get("/work") for _ in range(3)))
        waited = loop.time() - started

        assert [answer.status_code for answer in shed] == [503] * 3
        assert 0.2 <= waited < 2
        for answer in shed:
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.headers["retry-after"] == "1"
            assert "all 2 places" in answer.json()["detail"]
        assert not any(task.done() for task in admitted)
        release.set()
        assert [(await task).status_code for task in admitted] == [200, 200]
        assert (await http.get("/work")).status_code == 200


async def test_a_request_waiting_for_a_place_gets_it_when_one_frees() -> None:
    release = asyncio.Event()
    async with client(an_app(1, 5, release)) as http:
        first = asyncio.create_task(http.get("/work"))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(http.get("/work"))
        await asyncio.sleep(0.1)
        release.set()
        assert (await first).status_code == 200
        assert (await second).status_code == 200


async def test_a_failing_request_gives_its_place_back() -> None:
    release = asyncio.Event()
    release.set()
    async with client(an_app(1, 0.2, release)) as http:
        for _ in range(3):
            assert (await http.get("/fail")).status_code == 500
        assert (await http.get("/work")).status_code == 200


async def test_a_streamed_answer_holds_no_place_while_it_streams() -> None:
    release = asyncio.Event()
    async with client(an_app(1, 0.2, release)) as http, http.stream("GET", "/stream") as streaming:
        assert streaming.status_code == 200
        assert (await http.post("/upload", json={"a": "b"})).json() == {"keys": 1}
        release.set()
        assert (await streaming.aread()) == b"first\nlast\n"


@pytest.mark.parametrize("path", ["/upload", "/raw"])
async def test_a_slow_upload_holds_no_place_until_its_body_is_in(path: str) -> None:
    release = asyncio.Event()
    release.set()
    body_may_end = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield b'{"a": '
        await body_may_end.wait()
        yield b'"b"}'

    async with client(an_app(1, 0.2, release)) as http:
        uploading = asyncio.create_task(
            http.post(path, content=slow_body(), headers={"content-type": "application/json"})
        )
        await asyncio.sleep(0.05)
        assert (await http.get("/work")).status_code == 200  # the upload took no place
        body_may_end.set()
        assert (await uploading).json() in ({"keys": 1}, {"bytes": 10})


async def test_a_read_whose_client_left_gives_its_place_back() -> None:
    """With reads cancelled when their client leaves (as analytics' are), the place of a read
    still at work is free again as soon as it is cancelled."""
    release = asyncio.Event()
    app = an_app(1, 0.3, release)
    app.add_middleware(CancelAbandonedReads)
    async with client(app) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get("/work", timeout=0.2)  # holds the place, then the client leaves
        await asyncio.sleep(0.3)
        assert (await http.post("/upload", json={"a": "b"})).status_code == 200
        assert not release.is_set()
