"""Wires the chat service: settings, runtime, the assistant, service layer, routes and subscribers."""

from __future__ import annotations

from fastapi import FastAPI

from learnstream.chat import __doc__ as _PACKAGE_DOC
from learnstream.chat.adapters import conversations
from learnstream.chat.adapters.assistants import CourseNotes, OpenAICompatible
from learnstream.chat.config import Settings
from learnstream.chat.entrypoints import http, subscribers
from learnstream.chat.service_layer.services import ChatService, Limits
from learnstream.runtime.service import Runtime, create_app

_DESCRIPTION = (_PACKAGE_DOC or "").strip()


def build_assistant(settings: Settings) -> OpenAICompatible | CourseNotes:
    """The configured OpenAI-compatible endpoint, or the offline course-notes responder."""
    if not settings.openai_base_url:
        return CourseNotes()
    return OpenAICompatible(
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key.get_secret_value() if settings.openai_api_key else "unused",
        model=settings.openai_model,
        timeout_seconds=settings.openai_timeout_seconds,
        max_retries=settings.openai_max_retries,
    )


def build(settings: Settings | None = None) -> FastAPI:
    """The chat service's ASGI app."""
    settings = settings or Settings()
    # searches are planned per word: the GIN index for a rare one, newest-first for a common one
    runtime = Runtime.build(
        settings, migration_packages=["learnstream.chat"], publishes=["chat"], custom_plans=True
    )
    runtime.store.add_projector(conversations.project)
    assistant = build_assistant(settings)
    service = ChatService(
        runtime.sessions,
        runtime.store,
        assistant,
        limits=Limits(
            messages_per_minute=settings.chat_messages_per_minute,
            prompt_token_budget=settings.assistant_prompt_token_budget,
        ),
        reads=runtime.reads,
    )
    runtime.on_shutdown += [service.close, assistant.close]
    subscribers.register(runtime.consumer, service)
    app = create_app(
        runtime,
        title="Learnstream chat service",
        description=_DESCRIPTION,
        routers=[
            http.build_router(service, settings.service_token.get_secret_value(), backdating=settings.is_dev)
        ],
    )
    http.install_error_handlers(app)
    app.state.chat = service
    return app
