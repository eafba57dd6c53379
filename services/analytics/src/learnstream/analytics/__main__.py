"""``python -m learnstream.analytics`` runs the analytics service;
``python -m learnstream.analytics rebuild [--from events|topics]`` rebuilds its projections.

The rebuild asks the running service to do it (in the embedded stack only the service
may open the chDB directory): ``events`` re-derives every table from the stored raw
events, ``topics`` empties every table and reads the topics again from the start.
"""

from __future__ import annotations

import argparse
import sys

import httpx

from learnstream.analytics.config import Settings


def rebuild(argv: list[str], settings: Settings) -> int:
    parser = argparse.ArgumentParser(prog="python -m learnstream.analytics rebuild")
    parser.add_argument("--from", dest="source", choices=("events", "topics"), default="events")
    parser.add_argument(
        "--url", default=f"http://127.0.0.1:{settings.http_port}", help="the analytics service"
    )
    args = parser.parse_args(argv)
    response = httpx.post(
        f"{args.url}/api/analytics/rebuild",
        params={"from": args.source},
        headers={"X-Service-Token": settings.service_token.get_secret_value()},
        timeout=600,
    )
    print(response.text)
    return 0 if response.is_success else 1


def main() -> int:
    settings = Settings()
    if sys.argv[1:2] == ["rebuild"]:
        return rebuild(sys.argv[2:], settings)
    from learnstream.analytics.bootstrap import build
    from learnstream.runtime.service import serve

    serve(build(settings), settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
