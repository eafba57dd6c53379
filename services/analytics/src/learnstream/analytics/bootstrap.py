"""Wires the analytics service: settings, runtime, ClickHouse, routes and subscribers."""

from __future__ import annotations

from fastapi import FastAPI

from learnstream.analytics import __doc__ as _PACKAGE_DOC
from learnstream.analytics.adapters.clickhouse import ClickHouse
from learnstream.analytics.config import Settings
from learnstream.analytics.entrypoints import http, subscribers
from learnstream.runtime.service import Runtime, create_app

_DESCRIPTION = (_PACKAGE_DOC or "").strip()


def build(settings: Settings | None = None) -> FastAPI:
    """The analytics service's ASGI app."""
    settings = settings or Settings()
    runtime = Runtime.build(settings, migration_packages=["learnstream.analytics"])
    clickhouse = ClickHouse(
        settings.clickhouse_url, settings.clickhouse_database, settings.clickhouse_cluster
    )
    runtime.on_startup.append(clickhouse.connect)
    runtime.on_shutdown.append(clickhouse.close)
    runtime.checks["clickhouse"] = clickhouse.ping
    subscribers.register(runtime.consumer)
    return create_app(
        runtime,
        title="Learnstream analytics service",
        description=_DESCRIPTION,
        routers=[http.router],
    )
