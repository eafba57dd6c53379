"""The catalog of every event type, keyed by its CloudEvents type.

Consumers find the model for an incoming message here. An old version that was
replaced by a new one (``.v2``) stays readable through an upcaster registered
here, which turns the old data into the current model's data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from learnstream.events import achievements, catalog, chat, exports, identity, progress
from learnstream.events.base import DomainEvent

Upcaster = Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]
"""Turns the data of an old event type into ``(current ce_type, current data)``."""

_MODULES = (identity, catalog, progress, chat, achievements, exports)


EVENT_TYPES: dict[str, type[DomainEvent]] = {
    model.ce_type(): model for module in _MODULES for model in module.EVENTS
}
"""Every current event type, by ``ce_type``."""

UPCASTERS: dict[str, Upcaster] = {}
"""Old ``ce_type`` → upcaster to the current version. Empty while everything is v1."""


def model_for(ce_type: str) -> type[DomainEvent] | None:
    """The model of a current ``ce_type``, or None when it is unknown."""
    return EVENT_TYPES.get(ce_type)


def resolve(ce_type: str, data: dict[str, Any]) -> tuple[str, type[DomainEvent], dict[str, Any]] | None:
    """The current type, model and data for an event of ``ce_type`` (upcast if it is old)."""
    model = model_for(ce_type)
    if model is None and ce_type in UPCASTERS:
        ce_type, data = UPCASTERS[ce_type](data)
        model = model_for(ce_type)
    return None if model is None else (ce_type, model, data)


def rehydrate(ce_type: str, data: dict[str, Any]) -> DomainEvent:
    """A stored event as its current model; raises LookupError for a type nobody knows."""
    resolved = resolve(ce_type, data)
    if resolved is None:
        raise LookupError(f"unknown event type {ce_type!r}")
    _, model, current = resolved
    return model.model_validate(current)


def topics() -> list[str]:
    """Every topic some event is published to, in catalog order."""
    seen: dict[str, None] = {}
    for model in EVENT_TYPES.values():
        seen[model.topic()] = None
    return list(seen)


def events_of_topic(topic: str) -> list[type[DomainEvent]]:
    """The event types published to ``topic``."""
    return [model for model in EVENT_TYPES.values() if model.topic() == topic]
