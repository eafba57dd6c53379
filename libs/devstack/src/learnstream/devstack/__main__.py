"""``python -m learnstream.devstack [--data-dir DIR]``: run the embedded stack (``make run``)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from learnstream.devstack.supervisor import AlreadyRunning, console, run, stack_lock


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="learnstream.devstack", description="Run the whole Learnstream platform locally."
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".learnstream"),
        help="where PostgreSQL, Redis, ClickHouse and the logs keep their files (default: .learnstream)",
    )
    parser.add_argument(
        "--port-offset",
        type=int,
        default=0,
        help="add this to every port, to run a second stack beside the first (tests do)",
    )
    parser.add_argument(
        "--demo-learners",
        type=int,
        default=0,
        help="seed a new data directory with this many simulated learners (make run: 300; 0: none)",
    )
    args = parser.parse_args()
    try:
        with stack_lock(args.data_dir):
            return asyncio.run(run(args.data_dir, args.port_offset, args.demo_learners))
    except AlreadyRunning as exc:
        console.print(
            f"[yellow]A Learnstream stack is already running from {args.data_dir.absolute()} "
            f"(supervisor pid {exc}). Use it, or stop it with Ctrl-C "
            "in its terminal first.[/]"
        )
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
