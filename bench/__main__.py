"""``python -m bench [--quick]``: measure the platform end to end against its targets.

The benchmark starts the embedded stack (``python -m learnstream.devstack``) in a data
directory of its own with shifted ports, so it never touches a stack started by
``make run``; seeds it through the public API; measures; prints a table and writes
``bench/results/latest.json``. The load comes from another process (aiohttp, whose client
costs about a tenth of httpx's CPU per request), because the stack and the load share
this machine's cores. See ``bench/README.md`` for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import chat, dashboard, exports, ingest, instructor, replay
from bench.stack import EmbeddedStack

RESULTS = Path(__file__).parent / "results"
SCENARIOS = ("memory", "dashboard", "chat", "exports", "instructor", "replay", "ingest")
IDLE_RSS_TARGET_MB = 1_500.0
STACK_ENV = {
    # one benchmark user asks far more than a person would: the per-user limits would refuse it
    "LEARNSTREAM_RATE_LIMIT_READS_PER_MINUTE": "1000000",
    "LEARNSTREAM_CHAT_MESSAGES_PER_MINUTE": "1000000",
}


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="a smaller workload (make bench-quick)")
    parser.add_argument("--port-offset", type=int, default=300, help="shift every port of the stack by this")
    parser.add_argument(
        "--only", choices=SCENARIOS, action="append", help="measure only this (repeatable); default: all"
    )
    args = parser.parse_args()
    # a benchmark stopped with SIGTERM stops its stack too (the with-block below)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    data_dir = Path(tempfile.mkdtemp(prefix="learnstream-bench-"))
    started = time.monotonic()
    results: dict[str, dict[str, object]] = {}
    try:
        with EmbeddedStack(data_dir, args.port_offset, STACK_ENV) as stack:
            wanted = args.only or SCENARIOS
            measures: dict[str, Callable[[], dict[str, dict[str, object]]]] = {
                "memory": lambda: {"idle_stack_rss_mb": idle_memory(stack)},
                "dashboard": lambda: {"learner_dashboard_p95_ms": dashboard.measure(stack, quick=args.quick)},
                "chat": lambda: chat.measure(stack, quick=args.quick),
                "exports": lambda: exports.measure(stack, quick=args.quick),
                "instructor": lambda: instructor.measure(stack, quick=args.quick),
                "ingest": lambda: ingest.measure(stack, quick=args.quick),
                "replay": lambda: {"replay_events_per_s": replay.measure(stack, quick=args.quick)},
            }
            for scenario in SCENARIOS:
                if scenario in wanted:
                    began = time.monotonic()
                    measured = measures[scenario]()
                    took = round(time.monotonic() - began, 1)
                    for result in measured.values():
                        result["scenario_seconds"] = took
                    results.update(measured)
                    print(f"[{scenario}: {took:.0f} s]", flush=True)
            if "memory" in wanted:
                results["idle_stack_rss_mb"]["after_the_benchmark"] = stack.memory_mb()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    report = {
        "mode": "quick" if args.quick else "full",
        "machine": {
            "cpus": _cpus(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "seconds": round(time.monotonic() - started, 1),
        "results": results,
        **{name: result["value"] for name, result in results.items()},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    _print_table(results)
    print(f"\nwritten to {RESULTS / 'latest.json'} in {report['seconds']} s")
    return 0


def idle_memory(stack: EmbeddedStack) -> dict[str, object]:
    """The whole stack's memory once it has started and settled, nothing asked of it: the sum
    of its processes' proportional set sizes (each shared page counted once)."""
    time.sleep(20)  # the services' first consumer polls and the brokers' housekeeping
    stack.wait_quiet(stack.idle_percent)
    memory = stack.memory_mb()
    print(f"idle stack: {memory['pss_mb']} MB (PSS; resident sets summed: {memory['rss_mb']} MB)")
    print(f"  by process (PSS): {memory['pss_by_process_mb']}")
    value = float(memory["pss_mb"])
    return {
        "value": value,
        "target": f"<= {IDLE_RSS_TARGET_MB:g} MB",
        "met": value <= IDLE_RSS_TARGET_MB,
        "workload": "the embedded stack just started, empty, at rest (PSS of every process summed)",
        **memory,
    }


def _cpus() -> int:
    try:
        return int(subprocess.check_output(["nproc"], text=True).strip())
    except (OSError, ValueError, subprocess.CalledProcessError):
        return 0


def _print_table(results: dict[str, dict[str, object]]) -> None:
    rows = [("figure", "value", "target", "met", "workload")]
    for name, result in results.items():
        rows.append(
            (
                name,
                f"{result['value']}",
                str(result["target"]),
                "yes" if result["met"] else "NO",
                str(result["workload"]),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if index == 0:
            print("  ".join("-" * width for width in widths))


if __name__ == "__main__":
    sys.exit(main())
