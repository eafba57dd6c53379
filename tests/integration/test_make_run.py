"""``make run`` as a newcomer meets it: the supervised embedded stack.

Given a fresh data directory, the supervisor starts every server and service and
the gateway reports all of them healthy; the topics are visible to an outside
Kafka client; a second stack on the same directory is refused; a killed service
is restarted; Ctrl-C stops everything. Ports are shifted so a developer's running
stack is not disturbed.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psutil
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from learnstream.runtime.bus import all_topics
from learnstream.runtime.settings import DEV_SERVICE_TOKEN, SERVICE_PORTS

pytestmark = pytest.mark.integration

OFFSET = 3000
GATEWAY = f"http://127.0.0.1:{SERVICE_PORTS['gateway'] + OFFSET}"
KAFKA = f"127.0.0.1:{9092 + OFFSET}"
ROOT = Path(__file__).resolve().parents[2]


class Supervisor:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.log = data_dir.parent / "supervisor.log"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "learnstream.devstack",
            "--data-dir",
            str(self.data_dir),
            "--port-offset",
            str(OFFSET),
        ]

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command(),
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "200"},
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            assert self.process is not None and self.process.poll() is None, self.output()[-3000:]
            await asyncio.sleep(0.5)
        raise AssertionError(f"{text!r} not seen within {timeout}s:\n{self.output()[-3000:]}")


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Supervisor]:
    supervisor = Supervisor(tmp_path_factory.mktemp("stack") / "data")
    supervisor.start()
    try:
        await supervisor.wait_for("Learnstream is up", timeout=240)
        yield supervisor
    finally:
        assert supervisor.process is not None
        if supervisor.process.poll() is None:
            supervisor.process.send_signal(signal.SIGINT)
            try:
                supervisor.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                supervisor.process.kill()


async def test_the_gateway_reports_every_service_broker_and_store_ok(stack: Supervisor) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{GATEWAY}/health")
    body = response.json()

    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["services"] == dict.fromkeys(
        ["progress", "chat", "achievements", "analytics", "exports", "gateway"], "ok"
    )
    assert body["broker"] == "ok"
    assert set(body["stores"].values()) == {"ok"}
    assert {
        "progress",
        "chat",
        "achievements",
        "analytics",
        "exports",
        "gateway",
        "redis",
        "clickhouse",
    } <= set(body["stores"])


async def test_every_topic_and_dead_letter_topic_exists_with_12_partitions(
    stack: Supervisor,
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        described = await admin.describe_topics(all_topics())
    finally:
        await admin.close()
    partitions = {topic["topic"]: len(topic["partitions"]) for topic in described}
    assert partitions == dict.fromkeys(all_topics(), 12)


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed (CI installs it)")
async def test_an_outside_team_lists_the_topics_with_kcat(stack: Supervisor) -> None:
    listing = subprocess.run(
        [str(ROOT / "scripts" / "kcat"), "-m", "15", "-L", "-b", KAFKA],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert listing.returncode == 0, listing.stderr
    for topic in all_topics():
        assert f'topic "{topic}" with 12 partitions' in listing.stdout


async def create_course(title: str) -> str:
    """Create a one-lesson course on the stack's progress service, as an instructor; its id."""
    progress = f"http://127.0.0.1:{SERVICE_PORTS['progress'] + OFFSET}"
    headers = {
        "X-Service-Token": DEV_SERVICE_TOKEN,
        "X-Actor-Id": str(uuid.uuid4()),
        "X-Actor-Role": "instructor",
    }
    body = {
        "title": title,
        "category": "testing",
        "difficulty": "beginner",
        "sections": [
            {"title": "One", "lessons": [{"title": "Only", "contentType": "article", "durationSeconds": 60}]}
        ],
    }
    async with httpx.AsyncClient(base_url=progress, headers=headers) as client:
        created = await client.post("/api/instructor/courses", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed (CI installs it)")
async def test_a_course_created_on_the_stack_reaches_its_topic(stack: Supervisor) -> None:
    course_id = await create_course("Stack smoke test")

    deadline = time.monotonic() + 30
    seen = ""
    while course_id not in seen and time.monotonic() < deadline:
        read = subprocess.run(
            [
                str(ROOT / "scripts" / "kcat"),
                "-C",
                "-b",
                KAFKA,
                "-t",
                "learnstream.catalog",
                "-o",
                "beginning",
                "-e",
                "-q",
                "-m",
                "15",
                "-f",
                "%k %h\\n",
            ],
            capture_output=True,
            text=True,
            timeout=40,
            check=False,
        )
        seen = read.stdout
    lines = [line for line in seen.splitlines() if line.startswith(course_id)]
    assert any("ce_type=learnstream.catalog.CourseCreated.v1" in line for line in lines), seen[-2000:]
    assert any("ce_type=learnstream.catalog.CourseStructureChanged.v1" in line for line in lines)


async def test_analysts_query_the_stack_with_clickhouse_connect(stack: Supervisor) -> None:
    import clickhouse_connect

    course_id = await create_course("Analysts' course")

    def titles() -> list[str]:
        analyst = clickhouse_connect.get_client(host="127.0.0.1", port=8123 + OFFSET)
        try:
            rows = analyst.query(
                "SELECT title FROM learnstream.course_profiles WHERE course_id = {c:UUID}",
                parameters={"c": course_id},
            ).result_rows
            with pytest.raises(Exception, match=r"(?i)read-?only"):  # the endpoint refuses writes
                analyst.command("DROP TABLE learnstream.events")
            return [row[0] for row in rows]
        finally:
            analyst.close()

    deadline = time.monotonic() + 30
    found: list[str] = []
    while not found and time.monotonic() < deadline:
        found = await asyncio.to_thread(titles)
        await asyncio.sleep(0.2)
    assert found == ["Analysts' course"]


PUBLISHES = {
    "gateway": {"learnstream.identity"},
    "progress": {"learnstream.catalog", "learnstream.progress"},
    "chat": {"learnstream.chat"},
    "achievements": {"learnstream.achievements"},
    "analytics": set(),
    "exports": {"learnstream.exports"},
}


async def test_each_service_documents_what_it_publishes_and_serves_metrics(
    stack: Supervisor,
) -> None:
    async with httpx.AsyncClient() as client:
        for name, port in SERVICE_PORTS.items():
            asyncapi = await client.get(f"http://127.0.0.1:{port + OFFSET}/asyncapi.json")
            metrics = await client.get(f"http://127.0.0.1:{port + OFFSET}/metrics")
            assert asyncapi.status_code == 200, name
            addresses = {channel["address"] for channel in asyncapi.json()["channels"].values()}
            assert PUBLISHES[name] <= addresses, name
            assert metrics.status_code == 200 and "learnstream_outbox_pending" in metrics.text, name


async def test_a_second_stack_on_the_same_directory_is_refused(stack: Supervisor) -> None:
    second = subprocess.run(stack.command(), capture_output=True, text=True, timeout=60, check=False)
    assert second.returncode == 1
    assert "already running" in second.stdout


async def test_a_crashed_service_is_restarted(stack: Supervisor) -> None:
    assert stack.process is not None
    [progress] = [
        child
        for child in psutil.Process(stack.process.pid).children()
        if "learnstream.progress" in child.cmdline()
    ]
    progress.kill()
    await stack.wait_for("progress exited with code -9; restarting", timeout=30)
    async with httpx.AsyncClient() as client:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                health = (await client.get(f"{GATEWAY}/health")).json()
                if health["services"]["progress"] == "ok":
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)
    assert health["services"]["progress"] == "ok"


async def test_ctrl_c_stops_everything(stack: Supervisor) -> None:
    assert stack.process is not None
    children = psutil.Process(stack.process.pid).children(recursive=True)
    stack.process.send_signal(signal.SIGINT)
    assert stack.process.wait(timeout=60) == 0
    assert "Stopped." in stack.output()
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == []


async def test_a_stack_killed_outright_is_cleaned_up_by_the_next_make_run(stack: Supervisor) -> None:
    """SIGKILL leaves the servers running (they are in sessions of their own); the next run stops them."""
    crashed = Supervisor(stack.data_dir)
    crashed.log = stack.data_dir.parent / "crashed.log"
    crashed.start()
    await crashed.wait_for("Learnstream is up", timeout=240)
    assert crashed.process is not None
    orphans = psutil.Process(crashed.process.pid).children(recursive=True)
    crashed.process.kill()
    crashed.process.wait(timeout=10)
    assert any(child.is_running() for child in orphans)

    again = Supervisor(stack.data_dir)
    again.log = stack.data_dir.parent / "again.log"
    again.start()
    try:
        await again.wait_for("Learnstream is up", timeout=240)
        assert "processes a crashed earlier run left behind" in again.output()
    finally:
        assert again.process is not None
        again.process.send_signal(signal.SIGINT)
        assert again.process.wait(timeout=60) == 0
    _, alive = psutil.wait_procs(orphans, timeout=10)
    assert alive == []
