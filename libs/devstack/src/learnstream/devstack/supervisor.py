"""``make run``: the whole platform on one machine, supervised.

Starts PostgreSQL, the Kafka-protocol broker and Redis from their wheels, creates
each service's database and every topic, then runs the six services as separate
processes. It shows progress while starting, prints the URLs once everything is
healthy, prefixes every line a process logs with its name, restarts a crashed
service with exponential backoff and a server that stopped (the broker's topics created
again), and stops everything in order on Ctrl-C. A
second ``make run`` in the same checkout finds the lock and refuses politely.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import psutil
from rich.console import Console

from learnstream.devstack import demo
from learnstream.devstack.servers import (
    ChildServer,
    EmbeddedPostgres,
    RedisServer,
    TansuBroker,
    port_is_open,
)
from learnstream.runtime.bus import all_topics, ensure_topics
from learnstream.runtime.db import ensure_database
from learnstream.runtime.settings import SERVICE_PORTS

SERVICES = ("progress", "chat", "achievements", "analytics", "exports", "gateway")
COLORS = {
    "progress": "green",
    "chat": "magenta",
    "achievements": "yellow",
    "analytics": "cyan",
    "exports": "blue",
    "gateway": "bright_white",
}
HOST = "127.0.0.1"
POSTGRES_PORT = 55432
KAFKA_PORT = 9092
REDIS_PORT = 56379
ANALYST_PORT = 8123
"""The analytics service's read-only ClickHouse-compatible endpoint for analysts."""
VAULT_DATABASE = "learnstream_vault"
"""The key vault's database: per-person keys of personal fields, shared by the services."""
MAX_BACKOFF = 30.0
SERVER_RESTARTS = 5
"""An embedded server restarted more often than this within ``STABLE_AFTER`` stops the stack."""
STABLE_AFTER = 60.0  # a service up this long has its backoff reset

console = Console(highlight=False)


class AlreadyRunning(Exception):
    """Another stack holds the lock of this data directory."""


@contextlib.contextmanager
def stack_lock(data_dir: Path) -> Iterator[None]:
    """Hold ``<data_dir>/stack.lock`` for the life of the stack (released if we die)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "stack.lock"
    handle: IO[str] = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        raise AlreadyRunning(owner) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def service_env(
    name: str,
    *,
    ports: dict[str, int],
    postgres: EmbeddedPostgres,
    broker: TansuBroker,
    redis: RedisServer,
    data_dir: Path,
    analyst_port: int = ANALYST_PORT,
) -> dict[str, str]:
    """The environment of one service process in the embedded stack."""
    env = dict(os.environ)
    env.update(
        {
            f"LEARNSTREAM_{other.upper()}_URL": f"http://{HOST}:{ports[other]}"
            for other in SERVICES
            if other != "gateway"
        }
    )
    env.update(
        {
            "LEARNSTREAM_ENV": env.get("LEARNSTREAM_ENV", "dev"),
            "LEARNSTREAM_SERVICE_NAME": name,
            "LEARNSTREAM_FAILPOINT_DIR": str((data_dir / "failpoints").absolute()),
            "LEARNSTREAM_HTTP_HOST": HOST,
            "LEARNSTREAM_HTTP_PORT": str(ports[name]),
            "LEARNSTREAM_DATABASE_URL": postgres.url(f"learnstream_{name}"),
            "LEARNSTREAM_VAULT_URL": postgres.url(VAULT_DATABASE),
            "LEARNSTREAM_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "LEARNSTREAM_KAFKA_IDEMPOTENT_PRODUCER": "false",
            "LEARNSTREAM_REDIS_URL": redis.url,
            "LEARNSTREAM_CLICKHOUSE_URL": f"chdb://{(data_dir / 'clickhouse').absolute()}",
            "LEARNSTREAM_ANALYST_HTTP_PORT": str(analyst_port),
            # exports: files, the mail outbox and the links clients follow to the gateway
            "LEARNSTREAM_EXPORT_STORAGE_DIR": str((data_dir / "exports").absolute()),
            "LEARNSTREAM_MAIL_OUTBOX_DIR": str((data_dir / "outbox").absolute()),
            "LEARNSTREAM_PUBLIC_BASE_URL": f"http://{HOST}:{ports['gateway']}",
            "LEARNSTREAM_GATEWAY_URL": f"http://{HOST}:{ports['gateway']}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@dataclass
class ServiceProcess:
    """One service, restarted with backoff whenever it exits unexpectedly."""

    name: str
    port: int
    env: dict[str, str]
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    stopping: bool = False
    on_start: Callable[[], None] | None = None
    _pump: asyncio.Task[None] | None = field(default=None, repr=False)

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            f"learnstream.{self.name}",
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        self._pump = asyncio.create_task(self._print_lines(self.process))

    async def _print_lines(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        prefix = f"[{COLORS[self.name]}]{self.name:>12} |[/] "
        async for raw in process.stdout:
            line = raw.decode(errors="replace").rstrip()
            console.print(prefix, end="")
            console.out(line, highlight=False)

    async def supervise(self) -> None:
        """Keep the service running until the stack stops."""
        backoff = 1.0
        while not self.stopping:
            started = time.monotonic()
            await self.start()
            assert self.process is not None
            if self.stopping:  # stop() ran while this process was being spawned
                self.process.terminate()
            if self.on_start is not None:
                self.on_start()
            code = await self.process.wait()
            if self._pump is not None:
                await self._pump
            if self.stopping:
                return
            if time.monotonic() - started > STABLE_AFTER:
                backoff = 1.0
            self.restarts += 1
            console.print(
                f"[red]{self.name} exited with code {code}; restarting in {backoff:.0f}s "
                f"(restart #{self.restarts})[/]"
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def stop(self, timeout: float = 10.0) -> None:
        self.stopping = True
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()


async def _healthy(client: httpx.AsyncClient, port: int) -> bool:
    try:
        response = await client.get(f"http://{HOST}:{port}/health", timeout=3.0)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


async def wait_until_healthy(services: list[ServiceProcess], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = {service.name: service for service in services}
    async with httpx.AsyncClient() as client:
        while pending and time.monotonic() < deadline:
            for name, service in list(pending.items()):
                if await _healthy(client, service.port):
                    console.print(f"  [green]✓[/] {name} healthy on {HOST}:{service.port}")
                    del pending[name]
            await asyncio.sleep(0.3)
    if pending:
        raise TimeoutError(f"not healthy after {timeout:.0f}s: {', '.join(pending)}")


def _children_file(data_dir: Path) -> Path:
    return data_dir / "children.json"


def remember_children(data_dir: Path, pids: list[int]) -> None:
    """Note our children (pid and start time), so a stack killed with SIGKILL can be cleaned up."""
    children = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            children.append([pid, psutil.Process(pid).create_time()])
    _children_file(data_dir).write_text(json.dumps(children))


def stop_orphans(data_dir: Path) -> int:
    """Stop children a previous supervisor left running when it died; return how many.

    Called with the stack lock held, so no live stack owns them. A pid counts only if
    the process there started when ours did, so a reused pid is never touched.
    """
    path = _children_file(data_dir)
    if not path.exists():
        return 0
    stopped = []
    for pid, started in json.loads(path.read_text()):
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            if abs(process.create_time() - started) < 0.01:
                process.terminate()
                stopped.append(process)
    _, alive = psutil.wait_procs(stopped, timeout=10)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(alive, timeout=5)
    path.unlink()
    return len(stopped)


class Stack:
    """The embedded servers and the six services."""

    def __init__(self, data_dir: Path, port_offset: int = 0) -> None:
        self.data_dir = data_dir.absolute()
        self.ports = {name: SERVICE_PORTS[name] + port_offset for name in SERVICES}
        self.analyst_port = ANALYST_PORT + port_offset
        logs = self.data_dir / "logs"
        self.postgres = EmbeddedPostgres(
            "postgres",
            HOST,
            POSTGRES_PORT + port_offset,
            logs / "postgres.log",
            data_dir=self.data_dir / "postgres",
        )
        self.broker = TansuBroker("kafka", HOST, KAFKA_PORT + port_offset, logs / "kafka.log")
        self.redis = RedisServer(
            "redis",
            HOST,
            REDIS_PORT + port_offset,
            logs / "redis.log",
            data_dir=self.data_dir / "redis",
        )
        self.servers: list[ChildServer] = [self.postgres, self.broker, self.redis]
        self.stopping = False
        """Set once the stack stops: a server exiting then is not restarted."""
        self.services: list[ServiceProcess] = []
        self._tasks: list[asyncio.Task[None]] = []

    def check_ports(self) -> None:
        busy = [
            f"{port} ({what})"
            for what, port in [
                ("PostgreSQL", self.postgres.port),
                ("Kafka", self.broker.port),
                ("Redis", self.redis.port),
                *self.ports.items(),
            ]
            if port_is_open(HOST, port)
        ]
        if busy:
            raise RuntimeError(
                "these ports on 127.0.0.1 are already taken, so a stack may already be running "
                f"from another checkout: {', '.join(busy)}. Stop it (Ctrl-C in its terminal) first."
            )

    async def start(self) -> None:
        started = time.monotonic()
        if orphans := await asyncio.to_thread(stop_orphans, self.data_dir):
            console.print(f"[yellow]Stopped {orphans} processes a crashed earlier run left behind.[/]")
        self.check_ports()
        console.print("[bold]Starting the embedded servers…[/]")
        await asyncio.gather(*(self._start_server(server) for server in self.servers))
        databases = {name: f"learnstream_{name}" for name in SERVICES} | {"vault": VAULT_DATABASE}
        created = await asyncio.gather(
            *(ensure_database(self.postgres.url(database)) for database in databases.values())
        )
        new = [name for name, made in zip(databases, created, strict=True) if made]
        console.print(f"  [green]✓[/] databases ready{' (created ' + ', '.join(new) + ')' if new else ''}")
        made = await ensure_topics(self.broker.bootstrap_servers, all_topics(), partitions=12)
        console.print(f"  [green]✓[/] {len(all_topics())} topics ready ({len(made)} created now)")
        console.print("[bold]Starting the services…[/]")
        for name in SERVICES:
            env = service_env(
                name,
                ports=self.ports,
                postgres=self.postgres,
                broker=self.broker,
                redis=self.redis,
                data_dir=self.data_dir,
                analyst_port=self.analyst_port,
            )
            service = ServiceProcess(name, self.ports[name], env, on_start=self._remember_children)
            self.services.append(service)
            self._tasks.append(asyncio.create_task(service.supervise()))
        self._remember_children()
        await wait_until_healthy(self.services, timeout=120.0)
        await self._wait_gateway_all_ok()
        kafka = self.broker.bootstrap_servers
        console.print(
            f"\n[bold green]Learnstream is up[/] in {time.monotonic() - started:.1f}s.\n"
            f"  Gateway      http://{HOST}:{self.ports['gateway']}  (docs: /docs, health: /health)\n"
            f"  Services     " + ", ".join(f"{n} :{self.ports[n]}" for n in SERVICES if n != "gateway") + "\n"
            f"  Kafka        {kafka}   (scripts/kcat -L -b {kafka})\n"
            f"  PostgreSQL   postgresql://postgres@{HOST}:{self.postgres.port}/learnstream_<service>\n"
            f"  Redis        {self.redis.url}\n"
            f"  ClickHouse   chDB in the analytics process, data in {self.data_dir / 'clickhouse'};\n"
            f"               analysts (read-only): clickhouse_connect.get_client(host='{HOST}',"
            f" port={self.analyst_port})\n"
            f"  Logs         {self.data_dir / 'logs'}\n"
            "Press Ctrl-C to stop.\n"
        )

    def _remember_children(self) -> None:
        processes = [*(s.process for s in self.servers), *(s.process for s in self.services)]
        remember_children(self.data_dir, [p.pid for p in processes if p is not None])

    async def _start_server(self, server: ChildServer) -> None:
        began = time.monotonic()
        await server.start()
        console.print(
            f"  [green]✓[/] {server.name} on {server.host}:{server.port} ({time.monotonic() - began:.1f}s)"
        )

    async def _wait_gateway_all_ok(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        last: object = None
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    response = await client.get(f"http://{HOST}:{self.ports['gateway']}/health", timeout=5.0)
                    last = response.json()
                    if response.status_code == 200:
                        return
                await asyncio.sleep(0.5)
        raise TimeoutError(f"the gateway's /health is not ok: {last}")

    async def stop(self) -> None:
        self.stopping = True
        console.print("\n[bold]Stopping…[/]")
        await asyncio.gather(*(service.stop() for service in self.services))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(server.stop() for server in reversed(self.servers)))
        with contextlib.suppress(FileNotFoundError):
            _children_file(self.data_dir).unlink()
        console.print("[bold]Stopped.[/]")

    async def keep_servers_up(self) -> str:
        """Restart an embedded server that dies (with the broker, its topics are created
        again: Tansu keeps them in memory, and the services republish their event stores
        when they see it); return the name of one that keeps dying (more than
        ``SERVER_RESTARTS`` times within ``STABLE_AFTER`` seconds), to stop the stack."""
        crashes: dict[str, list[float]] = {server.name: [] for server in self.servers}
        while True:
            waits = {
                asyncio.create_task(server.process.wait()): server
                for server in self.servers
                if server.process is not None
            }
            done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            if self.stopping:
                return waits[done.pop()].name
            for finished in done:
                server = waits[finished]
                now = time.monotonic()
                recent = [t for t in crashes[server.name] if now - t < STABLE_AFTER] + [now]
                crashes[server.name] = recent
                if len(recent) > SERVER_RESTARTS:
                    return server.name
                console.print(f"[red]{server.name} exited with code {finished.result()}; restarting it[/]")
                await asyncio.sleep(1.0)
                if self.stopping:
                    return server.name
                try:
                    await server.start()
                except Exception as exc:  # its process is gone: the next turn counts another crash
                    console.print(f"[red]{server.name} did not come back: {exc}[/]")
                    continue
                self._remember_children()
                if server is self.broker:
                    await self._topics_again()
                console.print(f"  [green]✓[/] {server.name} is back")

    async def _topics_again(self) -> None:
        """Create the topics a restarted broker lost, retrying while it settles."""
        for attempt in range(10):
            try:
                made = await ensure_topics(self.broker.bootstrap_servers, all_topics(), partitions=12)
                console.print(f"  [green]✓[/] {len(made)} topics created again")
                return
            except Exception as exc:
                console.print(f"[yellow]topics not created yet ({type(exc).__name__}); retrying[/]")
                await asyncio.sleep(min(2.0**attempt, 10.0))


async def seed_demo_once(stack: Stack, learners: int) -> None:
    """Seed a new stack's demo data (:mod:`learnstream.devstack.demo`) while it serves; once per
    data directory (a marker file says it was done)."""
    marker = stack.data_dir / "demo-seeded"
    if learners <= 0 or marker.exists():
        return
    gateway = f"http://{HOST}:{stack.ports['gateway']}"
    console.print(f"[bold]Seeding demo data[/] ({learners} simulated learners over four weeks)…")
    step = max(1, learners // 10)

    def show(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            console.print(f"  demo data: {done}/{total} learners")

    try:
        summary = await demo.seed(gateway, learners=learners, progress=show)
    except (demo.SeedError, OSError, TimeoutError) as exc:
        console.print(f"[yellow]Demo data could not be seeded: {exc}[/]")
        return
    marker.write_text(f"{summary}\n")
    console.print(
        f"  [green]✓[/] demo data: {summary.courses} courses, {summary.learners} learners, "
        f"{summary.enrollments} enrollments, {summary.reports} tracking reports, "
        f"{summary.quiz_attempts} quiz attempts, {summary.questions} assistant questions "
        f"({summary.seconds:.0f}s; the dashboards fill in as the services work them off).\n"
        f"  Open {gateway} and sign in as the demo learner, instructor or admin."
    )


async def run(data_dir: Path, port_offset: int = 0, demo_learners: int = 0) -> int:
    stack = Stack(data_dir, port_offset)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    try:
        starting = asyncio.create_task(stack.start())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            return 130
        starting.result()
        seeding = asyncio.create_task(seed_demo_once(stack, demo_learners))
        crashed = asyncio.create_task(stack.keep_servers_up())
        await asyncio.wait({crashed, stopping}, return_when=asyncio.FIRST_COMPLETED)
        seeding.cancel()
        if crashed.done():
            console.print(f"[red]{crashed.result()} keeps stopping; shutting down.[/]")
            return 1
        # stopping: the servers' exits from here on are ours, not crashes to restart
        crashed.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await crashed
        return 0
    except Exception as exc:
        console.print(f"[red]Could not start Learnstream: {exc}[/]")
        return 1
    finally:
        await stack.stop()
