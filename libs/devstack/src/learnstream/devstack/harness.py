"""The embedded stack as an outsider drives it: ``python -m learnstream.devstack`` in a data
directory of its own, with every port shifted, stopped with Ctrl-C (SIGINT) after. The
benchmarks measure it and the fault suite breaks it; both find its processes here."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil

from learnstream.runtime.settings import SERVICE_PORTS


class EmbeddedStack:
    def __init__(self, data_dir: Path, port_offset: int, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port_offset = port_offset
        self.env = env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self._idle: float | None = None

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{SERVICE_PORTS[service] + self.port_offset}"

    @property
    def gateway(self) -> str:
        return self.url("gateway")

    def cpu_percent(self, seconds: float = 2.0) -> float:
        """How much of one core the stack's processes used together over ``seconds``."""
        assert self.process is not None
        supervisor = psutil.Process(self.process.pid)
        processes = [supervisor, *supervisor.children(recursive=True)]
        for process in processes:
            with contextlib.suppress(psutil.Error):
                process.cpu_percent(None)
        time.sleep(seconds)
        busy = 0.0
        for process in processes:
            with contextlib.suppress(psutil.Error):
                busy += process.cpu_percent(None)
        return busy

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds (user and system) each kind of process of the stack has used so far."""
        assert self.process is not None
        supervisor = psutil.Process(self.process.pid)
        each: dict[str, float] = {}
        for process in [supervisor, *supervisor.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                name = _name(process)
                each[name] = each.get(name, 0.0) + times.user + times.system
        return each

    def memory_mb(self) -> dict[str, Any]:
        """Memory of the whole stack (the supervisor and everything it started), in MB: the
        sum of each process's proportional set size (``pss``: a page shared by n processes
        counts 1/n in each, so the sum is what the stack holds) and the plain sum of resident
        sets (``rss``: PostgreSQL's shared buffers and shared libraries counted once per
        process), in total and by kind of process."""
        assert self.process is not None
        supervisor = psutil.Process(self.process.pid)
        pss: dict[str, float] = {}
        rss: dict[str, float] = {}
        for process in [supervisor, *supervisor.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                name = _name(process)
                info = process.memory_full_info()
                pss[name] = pss.get(name, 0.0) + getattr(info, "pss", info.rss) / 2**20
                rss[name] = rss.get(name, 0.0) + info.rss / 2**20
        return {
            "pss_mb": round(sum(pss.values()), 1),
            "rss_mb": round(sum(rss.values()), 1),
            "pss_by_process_mb": {k: round(v, 1) for k, v in sorted(pss.items())},
            "rss_by_process_mb": {k: round(v, 1) for k, v in sorted(rss.items())},
        }

    @property
    def idle_percent(self) -> float:
        """The stack's CPU use at rest, measured the first time it is asked (the first
        scenario, before any load) and kept: a scenario that starts while an earlier one's
        work is still draining must not take that for idle."""
        if self._idle is None:
            self._idle = self.cpu_percent(5.0)
        return self._idle

    def wait_quiet(self, idle_percent: float, *, timeout: float = 900.0) -> float:
        """Wait until the stack is back to about its idle CPU use (``idle_percent``, measured
        before the load): the consumers have worked off what seeding published. Returns the
        seconds waited."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.cpu_percent() < idle_percent * 1.3 + 10:
                return time.monotonic() - started
        raise RuntimeError(f"the stack was still busy after {timeout:.0f} s")

    def __enter__(self) -> EmbeddedStack:
        command = [
            sys.executable,
            "-m",
            "learnstream.devstack",
            "--data-dir",
            str(self.data_dir),
            "--port-offset",
            str(self.port_offset),
        ]
        print(f"starting the embedded stack in {self.data_dir} (ports +{self.port_offset})", flush=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.data_dir / "supervisor.log"
        # a file, not a pipe: the supervisor must not die of a closed pipe (leaving its servers
        # running) if this process ends first
        with log_path.open("w") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "LEARNSTREAM_LOG_LEVEL": "WARNING", **self.env},
            )
        deadline = time.monotonic() + 300
        while "Learnstream is up" not in log_path.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
                self.__exit__(None, None, None)
                raise RuntimeError(f"the stack did not come up; its last lines:\n{tail}")
            time.sleep(0.5)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _name(process: psutil.Process) -> str:
    """A readable name: the Learnstream service a Python process runs, or the program."""
    arguments = process.cmdline()
    for index, argument in enumerate(arguments[:-1]):
        if argument == "-m":
            return str(arguments[index + 1]).removeprefix("learnstream.")
    return str(process.name())
