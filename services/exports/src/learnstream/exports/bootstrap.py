"""Wires the exports service: settings, runtime, analytics client, storage, service layer,
routes, subscribers and the cleanup of expired files."""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import timedelta

from fastapi import FastAPI
from pydantic import SecretStr

from learnstream.exports import __doc__ as _PACKAGE_DOC
from learnstream.exports.adapters import jobs
from learnstream.exports.adapters.analytics import AnalyticsClient
from learnstream.exports.adapters.mail import OutboxMailer
from learnstream.exports.adapters.people import Accounts
from learnstream.exports.adapters.storage import LocalStorage, S3Storage, Storage
from learnstream.exports.config import Settings
from learnstream.exports.entrypoints import http, subscribers
from learnstream.exports.service_layer.certificates import Certificates
from learnstream.exports.service_layer.digests import Digests, Schedule
from learnstream.exports.service_layer.services import ExportService
from learnstream.runtime.consumer import EventConsumer
from learnstream.runtime.service import Runtime, create_app

_DESCRIPTION = (_PACKAGE_DOC or "").strip()
log = logging.getLogger(__name__)


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def build(settings: Settings | None = None) -> FastAPI:
    """The exports service's ASGI app."""
    settings = settings or Settings()
    runtime = Runtime.build(settings, migration_packages=["learnstream.exports"], publishes=["exports"])
    runtime.store.add_projector(jobs.project)
    runtime.store.add_projector(jobs.project_certificate)
    token = settings.service_token.get_secret_value()
    analytics = AnalyticsClient(
        settings.analytics_url, service_token=token, timeout=settings.export_fetch_timeout_seconds
    )
    storage: Storage = LocalStorage(settings.export_storage_dir)
    if settings.export_s3_bucket:
        storage = S3Storage(
            settings.export_s3_bucket,
            prefix=settings.export_s3_prefix,
            endpoint_url=settings.export_s3_endpoint_url,
            region=settings.export_s3_region,
            access_key=_secret(settings.export_s3_access_key),
            secret_key=_secret(settings.export_s3_secret_key),
            scratch_dir=settings.export_storage_dir,
        )
    service = ExportService(
        runtime.sessions,
        runtime.store,
        analytics,
        storage,
        signing_key=settings.export_signing_key.get_secret_value().encode(),
        public_base_url=settings.public_base_url,
        link_ttl=timedelta(hours=settings.export_link_ttl_hours),
    )

    certificates = Certificates(runtime.sessions, runtime.store, settings.public_base_url)
    accounts = Accounts(settings.gateway_url, service_token=token)
    digests = Digests(
        runtime.sessions,
        runtime.store,
        analytics,
        accounts,
        OutboxMailer(settings.mail_outbox_dir, settings.mail_from),
        Schedule(settings.digest_weekday, settings.digest_hour),
    )

    async def clean_up() -> None:
        while True:
            deleted = await service.clean_up()
            if deleted:
                log.info("expired exports deleted", extra={"count": deleted})
            await asyncio.sleep(settings.export_cleanup_interval_seconds)

    runtime.checks["storage"] = storage.check
    runtime.on_shutdown += [analytics.close, accounts.close]
    runtime.background.append(clean_up)
    if settings.digest_enabled:
        runtime.background.append(functools.partial(digests.run, settings.digest_check_interval_seconds))
    # the job queue has a consumer group of its own: an export waits for the exports before
    # it, never behind a backlog of registrations or course changes on the other topics
    worker = EventConsumer(
        f"{settings.service_name}-worker",
        runtime.sessions,
        runtime.publisher,
        max_attempts=settings.consumer_max_attempts,
        backoff_seconds=settings.consumer_backoff_seconds,
        # a job works for seconds: each in a transaction of its own, never redone for another's failure
        max_batch=1,
    )
    subscribers.register(runtime.consumer, worker, service, certificates, runtime.store)
    worker.attach(runtime.router)
    app = create_app(
        runtime,
        title="Learnstream exports service",
        description=_DESCRIPTION,
        routers=[http.build_router(service, certificates, digests, token)],
    )
    http.install_error_handlers(app)
    app.state.exports = service
    app.state.digests = digests
    return app
