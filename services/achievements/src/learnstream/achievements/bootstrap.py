"""Wires the achievements service: settings, runtime, routes and subscribers."""

from __future__ import annotations

from fastapi import FastAPI

from learnstream.achievements.config import Settings
from learnstream.achievements.entrypoints import http, subscribers
from learnstream.runtime.service import Runtime, create_app


def build(settings: Settings | None = None) -> FastAPI:
    """The achievements service's ASGI app."""
    settings = settings or Settings()
    runtime = Runtime.build(
        settings, migration_packages=["learnstream.achievements"], publishes=["achievements"]
    )
    subscribers.register(runtime.consumer)
    return create_app(
        runtime,
        title="Learnstream achievements service",
        description="XP, levels, streaks, achievements and leaderboards, awarded exactly once from events.",
        routers=[http.router],
    )
