"""The platform's health as ``GET /health`` reports it (see spec/API.md).

The gateway asks every context service for its own health in parallel and adds
its own database, broker connection and Redis; one slow or dead service shows as a
reason in its slot instead of failing the whole answer.
"""

from __future__ import annotations

import asyncio
from typing import Any

from learnstream.gateway.adapters.services import ContextServices
from learnstream.runtime.service import HealthCheck, run_checks

SERVICES = ("progress", "chat", "achievements", "analytics", "exports", "gateway")


async def platform_health(
    services: ContextServices, own_checks: dict[str, HealthCheck]
) -> tuple[int, dict[str, Any]]:
    upstream, own = await asyncio.gather(services.health_of_all(), run_checks(own_checks))

    gateway_failures = {k: v for k, v in own.items() if v != "ok"}
    service_status = {name: reason for name, (reason, _) in upstream.items()}
    service_status["gateway"] = "ok" if not gateway_failures else f"degraded: {gateway_failures}"

    stores: dict[str, str] = {"gateway": own["database"], "redis": own["redis"]}
    for name, (reason, body) in upstream.items():
        checks = body.get("checks", {})
        stores[name] = checks.get("database", reason)
        if "clickhouse" in checks or name == "analytics":
            stores["clickhouse"] = checks.get("clickhouse", reason)

    healthy = all(v == "ok" for v in (*service_status.values(), *stores.values(), own["broker"]))
    body = {
        "status": "ok" if healthy else "degraded",
        "services": {name: service_status[name] for name in SERVICES},
        "broker": own["broker"],
        "stores": stores,
    }
    return (200 if healthy else 503), body
