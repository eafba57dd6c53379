"""``python -m bench.load``: HTTP load from a process of its own.

``--clients`` clients each send a request, wait for its answer, and send the next (at
once, or with ``--rate`` after a random pause that makes all clients together send that
many requests a second), for ``--seconds`` after a warm-up that is not counted; each
request goes to one of the URLs given (picked at random) as one of the users whose tokens
are listed in ``--tokens`` (one per line), picked at random. Prints one JSON object:
requests, errors by status, throughput and latency percentiles in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import aiohttp


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


async def run(
    urls: list[str],
    tokens: list[str],
    clients: int,
    seconds: float,
    warm_up: float,
    rate: float | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, object]:
    latencies: list[float] = []
    by_url: dict[str, list[float]] = {url: [] for url in urls}
    statuses: Counter[int] = Counter()
    rng = random.Random(7)
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:
        start = time.perf_counter()
        counting_from = start + warm_up
        stop = counting_from + seconds

        async def client() -> None:
            if rate:  # the clients' first requests spread over the warm-up
                await asyncio.sleep(rng.uniform(0, warm_up))
            while (now := time.perf_counter()) < stop:
                token, url = rng.choice(tokens), rng.choice(urls)
                sent = {**(headers or {}), "Authorization": f"Bearer {token}"}
                async with http.get(url, headers=sent) as answer:
                    await answer.read()
                    status = answer.status
                done = time.perf_counter()
                if now >= counting_from:
                    latencies.append((done - now) * 1000)
                    by_url[url].append((done - now) * 1000)
                    statuses[status] += 1
                if rate:  # a paced client: its next request is due one interval after this one began
                    due = min(stop, now + rng.expovariate(rate / clients))
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))

        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - counting_from
    latencies.sort()
    each = {
        url.split("/api/", 1)[-1]: {
            "requests": len(values),
            "p50_ms": round(percentile(sorted(values), 0.50), 1),
            "p95_ms": round(percentile(sorted(values), 0.95), 1),
        }
        for url, values in by_url.items()
    }
    return {
        "requests": len(latencies),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "throughput_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50), 1),
        "p95_ms": round(percentile(latencies, 0.95), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "max_ms": round(latencies[-1], 1) if latencies else None,
        **({"by_url": each} if len(urls) > 1 else {}),
    }


def in_another_process(
    urls: str | list[str],
    tokens_file: str,
    clients: int,
    seconds: float,
    rate: float | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run this module in a process of its own against ``urls``; its result."""
    command = [sys.executable, "-m", "bench.load", *([urls] if isinstance(urls, str) else urls)]
    command += ["--tokens", tokens_file, "--clients", str(clients), "--seconds", str(seconds)]
    if rate:
        command += ["--rate", str(rate)]
    for name, value in (headers or {}).items():
        command += ["--header", f"{name}: {value}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.load")
    parser.add_argument("url", nargs="+", help="one or more URLs, each request to one picked at random")
    parser.add_argument("--tokens", required=True, help="a file with one access token per line")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warm-up", type=float, default=3.0)
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="requests per second of all clients together (paced, exponential gaps); default: closed loop",
    )
    parser.add_argument(
        "--header", action="append", default=[], help="'Name: value' sent with every request (repeatable)"
    )
    args = parser.parse_args()
    with open(args.tokens) as listing:
        tokens = [line.strip() for line in listing if line.strip()]
    headers = dict(tuple(part.strip() for part in header.split(":", 1)) for header in args.header)
    result = asyncio.run(run(args.url, tokens, args.clients, args.seconds, args.warm_up, args.rate, headers))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
