"""The gateway's OpenAPI document, with the passed-on routes documented by their owners.

The gateway does not restate the request and response models of the routes it passes on
(:data:`..routes.ROUTES`): the context that serves a route owns its contract. A background
job reads each context's ``/openapi.json`` (as the gateway, with the service credential)
and the gateway's document takes from it, per passed-on operation, the description, the
query parameters, the request body and the responses, with the schemas they refer to.
The internal headers (``X-Actor-*``, ``X-Service-Token``) are dropped: the gateway sets
them. A context that has not answered yet leaves its routes documented by the gateway
alone; the job asks again every 10 s until every context answered, then every 5 minutes
(a redeployed context may have grown its contract). A route that adds ``newAchievements``
to its answer (``Route.announces``) documents its 200 answer as the owner's schema and
achievements' ``AnnouncedOut`` together (``allOf``).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from learnstream.gateway.adapters.services import ContextServices, Unavailable
from learnstream.gateway.entrypoints.routes import ANNOUNCE, ROUTES

log = logging.getLogger(__name__)

_PARAM = re.compile(r"\{[^}]+\}")
_INTERNAL_HEADERS = {"x-actor-id", "x-actor-role", "x-service-token"}
_REF = "#/components/schemas/"


def _shape(path: str) -> str:
    """``/api/courses/{course_id}`` and ``/api/courses/{courseId}`` are the same route."""
    return _PARAM.sub("{}", path)


def _refs(node: Any) -> set[str]:
    """Names of the component schemas ``node`` refers to, directly."""
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF):
            found.add(ref.removeprefix(_REF))
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def _renamed(node: Any, names: dict[str, str]) -> Any:
    """``node`` with its schema references renamed by ``names``."""
    if isinstance(node, dict):
        out = {k: _renamed(v, names) for k, v in node.items()}
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF) and ref.removeprefix(_REF) in names:
            out["$ref"] = _REF + names[ref.removeprefix(_REF)]
        return out
    if isinstance(node, list):
        return [_renamed(v, names) for v in node]
    return node


class ApiDocs:
    """The contexts' OpenAPI documents, and the gateway's document built with them."""

    def __init__(self, services: ContextServices, *, retry_seconds: float = 10.0) -> None:
        self.services = services
        self.retry_seconds = retry_seconds
        self.upstream: dict[str, dict[str, Any]] = {}
        self._on_change: list[Callable[[], None]] = []

    def on_change(self, callback: Callable[[], None]) -> None:
        self._on_change.append(callback)

    async def refresh(self) -> None:
        """Read every context's document once; the ones that answer replace what was kept."""
        names = sorted({route.service for route in ROUTES})
        results = await asyncio.gather(
            *(self.services.openapi(name) for name in names), return_exceptions=True
        )
        changed = False
        for name, result in zip(names, results, strict=True):
            if isinstance(result, Unavailable):
                continue
            if isinstance(result, BaseException):
                raise result
            if self.upstream.get(name) != result:
                self.upstream[name] = result
                changed = True
        if changed:
            for callback in self._on_change:
                callback()

    async def collect(self) -> None:
        """Background job: keep the contexts' documents current."""
        while True:
            await self.refresh()
            complete = {route.service for route in ROUTES} <= set(self.upstream)
            await asyncio.sleep(300.0 if complete else self.retry_seconds)

    def merge(self, document: dict[str, Any]) -> dict[str, Any]:
        """``document`` (the gateway's own) with its passed-on operations documented by their owners."""
        merged = copy.deepcopy(document)
        schemas: dict[str, Any] = merged.setdefault("components", {}).setdefault("schemas", {})
        for route in ROUTES:
            upstream = self.upstream.get(route.service)
            operation = merged.get("paths", {}).get(route.path, {}).get(route.method.lower())
            if upstream is None or operation is None:
                continue
            theirs = self._operation(upstream, route.path, route.method)
            if theirs is None:
                continue
            names = self._adopt_schemas(upstream, route.service, _refs(theirs), schemas)
            theirs = _renamed(theirs, names)
            if theirs.get("description"):
                operation["description"] = f"{theirs['description']}\n\n{operation.get('description', '')}"
            own = [p for p in operation.get("parameters", []) if p.get("in") != "query"]
            passed = [
                p
                for p in theirs.get("parameters", [])
                if p.get("in") == "query"
                or (p.get("in") == "header" and p.get("name", "").lower() not in _INTERNAL_HEADERS)
            ]
            operation["parameters"] = own + passed
            if "requestBody" in theirs:
                operation["requestBody"] = theirs["requestBody"]
            operation["responses"] = {**operation.get("responses", {}), **theirs.get("responses", {})}
            if route.announces:
                self._add_announced(operation, schemas)
        return merged

    def _add_announced(self, operation: dict[str, Any], schemas: dict[str, Any]) -> None:
        """The 200 answer's schema becomes the owner's and achievements' announcement together."""
        service, method, path = ANNOUNCE
        upstream = self.upstream.get(service)
        announce = self._operation(upstream, path, method) if upstream is not None else None
        ok = operation.get("responses", {}).get("200", {}).get("content", {}).get("application/json")
        if announce is None or ok is None or "schema" not in ok:
            return
        told = announce.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {})
        if "schema" not in told:
            return
        names = self._adopt_schemas(upstream or {}, service, _refs(told["schema"]), schemas)
        ok["schema"] = {"allOf": [ok["schema"], _renamed(told["schema"], names)]}

    @staticmethod
    def _operation(document: dict[str, Any], path: str, method: str) -> dict[str, Any] | None:
        for their_path, item in document.get("paths", {}).items():
            operation = item.get(method.lower())
            if _shape(their_path) == _shape(path) and isinstance(operation, dict):
                return copy.deepcopy(operation)
        return None

    @staticmethod
    def _adopt_schemas(
        document: dict[str, Any], service: str, wanted: set[str], schemas: dict[str, Any]
    ) -> dict[str, str]:
        """Copy the schemas ``wanted`` (and those they refer to) from ``document`` into
        ``schemas``; a name already taken by a different schema gets the service's prefix.
        Returns the renames."""
        theirs: dict[str, Any] = document.get("components", {}).get("schemas", {})
        needed: set[str] = set()
        todo = [name for name in wanted if name in theirs]
        while todo:
            name = todo.pop()
            if name in needed:
                continue
            needed.add(name)
            todo += [ref for ref in _refs(theirs[name]) if ref in theirs and ref not in needed]
        names = {
            name: name if schemas.get(name, theirs[name]) == theirs[name] else f"{service.title()}{name}"
            for name in needed
        }
        for name in needed:
            schemas[names[name]] = _renamed(theirs[name], names)
        return {old: new for old, new in names.items() if old != new}


def install(app: FastAPI, docs: ApiDocs) -> None:
    """Serve the merged document at ``/openapi.json`` (rebuilt when a context's document changes)."""
    own = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = docs.merge(own())
        return app.openapi_schema

    def forget() -> None:
        app.openapi_schema = None

    app.openapi = openapi  # type: ignore[method-assign]
    docs.on_change(forget)
