"""Wires the progress service: settings, runtime, service layer, routes and subscribers."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from learnstream.progress import __doc__ as _PACKAGE_DOC
from learnstream.progress.config import Settings
from learnstream.progress.entrypoints import http, subscribers
from learnstream.progress.service_layer.services import Limits, ProgressService
from learnstream.runtime.service import Runtime, create_app

_DESCRIPTION = (_PACKAGE_DOC or "").strip()


def build(settings: Settings | None = None) -> FastAPI:
    """The progress service's ASGI app."""
    settings = settings or Settings()
    runtime = Runtime.build(
        settings, migration_packages=["learnstream.progress"], publishes=["catalog", "progress"]
    )
    service = ProgressService(
        runtime.sessions,
        runtime.store,
        limits=Limits(
            max_view_seconds=settings.max_view_seconds,
            offline_max_age=timedelta(days=settings.offline_max_age_days),
        ),
    )
    subscribers.register(runtime.consumer, service)
    app = create_app(
        runtime,
        title="Learnstream progress service",
        description=_DESCRIPTION,
        routers=[
            http.build_router(service, settings.service_token.get_secret_value(), backdating=settings.is_dev)
        ],
    )
    http.install_error_handlers(app)
    app.state.progress = service
    return app
