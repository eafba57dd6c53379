"""Events the progress service reacts to, registered on the runtime's idempotent consumer."""

from __future__ import annotations

from learnstream.runtime.consumer import EventConsumer


def register(consumer: EventConsumer) -> None:
    """Register this service's event handlers (each states its failure policy)."""
