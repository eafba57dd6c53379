"""Wires the analytics service: settings, runtime, ClickHouse, the projection and routes."""

from __future__ import annotations

import functools

from fastapi import FastAPI

from learnstream.analytics import __doc__ as _PACKAGE_DOC
from learnstream.analytics.adapters.clickhouse import ClickHouse
from learnstream.analytics.adapters.warehouse import Warehouse
from learnstream.analytics.config import Settings
from learnstream.analytics.entrypoints import analyst, http
from learnstream.analytics.service_layer.answers import Answers
from learnstream.analytics.service_layer.reports import Reports, Thresholds
from learnstream.events import CONTEXTS, topic_name
from learnstream.runtime.projection import BatchProjection
from learnstream.runtime.service import Runtime, create_app

_DESCRIPTION = (_PACKAGE_DOC or "").strip()


def build(settings: Settings | None = None) -> FastAPI:
    """The analytics service's ASGI app."""
    settings = settings or Settings()
    runtime = Runtime.build(settings, migration_packages=["learnstream.analytics"])
    clickhouse = ClickHouse(
        settings.clickhouse_url, settings.clickhouse_database, settings.clickhouse_cluster
    )
    warehouse = Warehouse(clickhouse)
    projection = BatchProjection(
        settings.service_name,
        [topic_name(context) for context in CONTEXTS],
        warehouse.write,
        runtime.publisher,
        reachable=warehouse.reachable,
        max_records=settings.projection_max_records,
        max_wait_ms=settings.projection_max_wait_ms,
        max_attempts=settings.consumer_max_attempts,
        backoff_seconds=settings.consumer_backoff_seconds,
        vault=runtime.vault,
    )
    runtime.projections.append(projection)
    runtime.on_startup += [clickhouse.connect, warehouse.create]
    runtime.on_shutdown.append(clickhouse.close)
    runtime.checks["clickhouse"] = clickhouse.ping
    reports = Reports(
        clickhouse,
        projection,
        Thresholds(
            inactive_days=settings.inactive_days,
            stuck_days=settings.stuck_days,
            quiz_failures=settings.struggling_quiz_failures,
            questions=settings.struggling_questions,
            window_days=settings.struggling_window_days,
        ),
    )
    answers = Answers(max_age=settings.answer_max_age_seconds)
    if settings.analyst_http_port:
        # a handle of its own, so an analyst's long query does not hold up the projection
        analysts = ClickHouse(settings.clickhouse_url, settings.clickhouse_database)
        runtime.on_startup.append(analysts.connect)
        runtime.on_shutdown.append(analysts.close)
        endpoint = analyst.build_analyst_app(
            analysts, max_execution_seconds=settings.analyst_max_execution_seconds
        )
        runtime.background.append(
            functools.partial(
                analyst.serve_analyst, endpoint, settings.analyst_http_host, settings.analyst_http_port
            )
        )
    app = create_app(
        runtime,
        title="Learnstream analytics service",
        description=_DESCRIPTION,
        routers=[
            http.build_router(
                reports,
                warehouse,
                projection,
                settings.service_token.get_secret_value(),
                answers,
            )
        ],
        streamed_bodies=[http.IMPORT_PATH],
        # a report whose caller gave up (the gateway's page timeout) stops at its next query
        cancel_abandoned_reads=True,
    )
    http.install_error_handlers(app)
    app.state.reports = reports
    app.state.answers = answers
    app.state.warehouse = warehouse
    app.state.projection = projection
    return app
