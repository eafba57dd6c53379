"""The gateway's OpenAPI document takes the passed-on routes' contracts from their owners
(the contexts' documents are served by fakes at the HTTP edge, ``conftest``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, FastAPI
from pydantic import BaseModel

from learnstream.gateway.entrypoints import docs
from learnstream.gateway.entrypoints.routes import build_forwarding_router

from .conftest import answering, fake_contexts


def progress_document() -> dict[str, Any]:
    header = {"in": "header", "schema": {"type": "string"}}
    return {
        "openapi": "3.1.0",
        "paths": {
            "/api/learner/track-lesson": {
                "post": {
                    "description": "Record a lesson view.",
                    "parameters": [
                        {**header, "name": "x-actor-id"},
                        {**header, "name": "x-service-token"},
                        {"in": "query", "name": "dryRun", "schema": {"type": "boolean"}},
                    ],
                    "requestBody": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/TrackLessonIn"}}
                        }
                    },
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/TrackOut"}}
                            },
                        }
                    },
                }
            },
            "/api/courses/{courseId}": {
                "get": {
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Actor"}}
                            },
                        }
                    }
                }
            },
        },
        "components": {
            "schemas": {
                "TrackLessonIn": {"type": "object", "properties": {"viewId": {"type": "string"}}},
                "TrackOut": {
                    "type": "object",
                    "properties": {"progress": {"$ref": "#/components/schemas/TrackProgressOut"}},
                },
                "TrackProgressOut": {"type": "object", "properties": {"completionPercentage": {}}},
                "Actor": {"type": "object", "title": "progress's own Actor"},
                "Unused": {"type": "object"},
            }
        },
    }


class Actor(BaseModel):
    name: str


@contextlib.asynccontextmanager
async def gateway_app(documents: dict[str, dict[str, Any]]) -> AsyncIterator[tuple[FastAPI, docs.ApiDocs]]:
    """The passed-on routes with the contexts in ``documents`` serving those OpenAPI documents;
    the other contexts answer 503."""
    names = ("progress", "chat", "achievements", "analytics", "exports")
    handlers = {
        name: answering(200, documents[name]) if name in documents else answering(503) for name in names
    }
    async with fake_contexts(handlers) as services:
        app = FastAPI()

        async def anyone() -> None:
            return None

        limited = {"reads": Depends(anyone), "tracking": Depends(anyone), "public": Depends(anyone)}
        app.include_router(build_forwarding_router(services, limited))

        @app.get("/own")
        async def own() -> Actor:  # a schema of the gateway's own named like one of progress's
            return Actor(name="x")

        api_docs = docs.ApiDocs(services)
        docs.install(app, api_docs)
        yield app, api_docs


async def test_passed_on_routes_are_documented_by_the_context_that_serves_them() -> None:
    async with gateway_app({"progress": progress_document()}) as (app, api_docs):
        before = app.openapi()["paths"]["/api/learner/track-lesson"]["post"]
        assert "requestBody" not in before
        await api_docs.refresh()
        document = app.openapi()
    track = document["paths"]["/api/learner/track-lesson"]["post"]
    assert track["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TrackLessonIn"
    }
    assert track["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/TrackOut")
    assert track["description"].startswith("Record a lesson view.")
    names = {p["name"] for p in track["parameters"]}
    assert "dryRun" in names and not names & {"x-actor-id", "x-service-token"}
    schemas = document["components"]["schemas"]
    # what the adopted schemas refer to comes along; what nothing refers to does not
    assert {"TrackLessonIn", "TrackOut", "TrackProgressOut"} <= set(schemas)
    assert "Unused" not in schemas


def achievements_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "paths": {
            "/api/learner/achievements/announce": {
                "post": {
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/AnnouncedOut"}}
                            },
                        }
                    }
                }
            }
        },
        "components": {
            "schemas": {
                "AnnouncedOut": {
                    "type": "object",
                    "properties": {
                        "newAchievements": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/EarnedOut"},
                        }
                    },
                },
                "EarnedOut": {"type": "object", "properties": {"id": {"type": "string"}}},
            }
        },
    }


async def test_a_tracking_answer_is_documented_with_the_achievements_it_tells() -> None:
    async with gateway_app({"progress": progress_document(), "achievements": achievements_document()}) as (
        app,
        api_docs,
    ):
        await api_docs.refresh()
        document = app.openapi()
    track = document["paths"]["/api/learner/track-lesson"]["post"]
    schema = track["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {
        "allOf": [{"$ref": "#/components/schemas/TrackOut"}, {"$ref": "#/components/schemas/AnnouncedOut"}]
    }
    assert {"TrackOut", "AnnouncedOut", "EarnedOut"} <= set(document["components"]["schemas"])
    # without the achievements document the owner's schema stands alone
    async with gateway_app({"progress": progress_document()}) as (app, api_docs):
        await api_docs.refresh()
        alone = app.openapi()["paths"]["/api/learner/track-lesson"]["post"]
    assert alone["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TrackOut"
    }


async def test_a_name_taken_by_another_schema_is_prefixed_and_unanswered_contexts_change_nothing() -> None:
    async with gateway_app({"progress": progress_document()}) as (app, api_docs):
        await api_docs.refresh()
        document = app.openapi()
    course = document["paths"]["/api/courses/{course_id}"]["get"]
    assert course["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ProgressActor"
    }
    assert document["components"]["schemas"]["ProgressActor"]["title"] == "progress's own Actor"
    # chat did not answer: its routes keep the gateway's own documentation
    sessions = document["paths"]["/api/chat/sessions"]["post"]
    assert "requestBody" not in sessions and sessions["description"].startswith("Passed on to the chat")
    assert set(api_docs.upstream) == {"progress"}
