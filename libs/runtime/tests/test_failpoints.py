"""Failpoints: a one-off moment (``reached``, which kills) and a condition (``failing``), armed
by a file ``<failpoint>@<service>`` in the directory the process was given."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from learnstream.runtime import failpoints


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[Path]:
    failpoints.configure(str(tmp_path), "analytics")
    try:
        yield tmp_path
    finally:
        failpoints.configure("", "")


def test_a_condition_holds_while_armed_and_reaching_it_does_not_disarm_it(directory: Path) -> None:
    assert not failpoints.failing("store.down")
    armed = failpoints.arm(directory, "store.down", "analytics")
    assert failpoints.failing("store.down")
    assert failpoints.failing("store.down")
    assert armed.exists()
    failpoints.disarm(directory, "store.down", "analytics")
    assert not failpoints.failing("store.down")
    failpoints.disarm(directory, "store.down", "analytics")  # disarming twice is no error


def test_a_condition_holds_only_for_its_service_and_name(directory: Path) -> None:
    failpoints.arm(directory, "store.down", "achievements")
    failpoints.arm(directory, "store.slow", "analytics")
    assert not failpoints.failing("store.down")


def test_without_a_directory_nothing_is_looked_up() -> None:
    """Off (no LEARNSTREAM_FAILPOINT_DIR, as in production), asking costs no filesystem call."""
    failpoints.configure("", "analytics")
    consulted: list[str] = []

    def no_filesystem(name: str) -> object:
        def call(*_: object, **__: object) -> None:
            consulted.append(name)

        return call

    with pytest.MonkeyPatch.context() as patched:
        for name in ("exists", "stat", "unlink"):
            patched.setattr(Path, name, no_filesystem(name))
        holds = failpoints.failing("store.down")
        failpoints.reached("outbox.after-publish")  # and the one-off kind does not die either
    assert not holds
    assert consulted == []
