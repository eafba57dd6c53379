"""Failpoints: places where the fault suite can break a process at an exact moment.

``kill -9`` from outside lands wherever the process happens to be; some faults need a
precise moment, such as an outbox relay that has published a batch and not yet recorded
that it did. :func:`reached` marks such a moment. It does nothing unless the service was
given a failpoint directory (``LEARNSTREAM_FAILPOINT_DIR``, which only the embedded stack
sets) and a file named ``<failpoint>@<service>`` is in it: then it removes the file (so
the restarted process goes on) and kills its own process with ``SIGKILL``, exactly as
``kill -9`` would at that line.

Other faults last a while rather than strike once, such as a store that cannot be reached
from outside because the embedded stack runs it in-process (chDB). :func:`failing` asks
whether such a *condition* holds: it does while its file is there (armed the same way, by
:func:`arm`), and nothing removes the file but :func:`disarm`. With no failpoint directory
it answers ``False`` without touching the filesystem; otherwise it costs one ``stat``, so
ask it once per call into the store, not per row.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

_armed_in: Path | None = None
_service = ""


def configure(directory: str, service: str) -> None:
    """Look for armed failpoints in ``directory`` ('' turns them all off)."""
    global _armed_in, _service
    _armed_in = Path(directory) if directory else None
    _service = service


def arm(directory: Path, failpoint: str, service: str) -> Path:
    """Arm ``failpoint`` of ``service`` (what a fault test does); the file that arms it."""
    directory.mkdir(parents=True, exist_ok=True)
    armed = directory / f"{failpoint}@{service}"
    armed.touch()
    return armed


def disarm(directory: Path, failpoint: str, service: str) -> None:
    """End the condition ``failpoint`` of ``service`` (armed by :func:`arm`); no error if it was not."""
    (directory / f"{failpoint}@{service}").unlink(missing_ok=True)


def failing(failpoint: str) -> bool:
    """Whether the condition ``failpoint`` holds for this process: armed and not yet disarmed."""
    if _armed_in is None:
        return False
    return (_armed_in / f"{failpoint}@{_service}").exists()


def reached(failpoint: str) -> None:
    """The process is at ``failpoint``: die here if it is armed."""
    if _armed_in is None:
        return
    try:
        (_armed_in / f"{failpoint}@{_service}").unlink()
    except FileNotFoundError:
        return
    os.kill(os.getpid(), signal.SIGKILL)
