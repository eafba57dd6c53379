"""The event contract, one case per event type.

Every type round-trips as JSON and through the Kafka envelope; what a producer
emits validates against the committed JSON Schema; the current model does not
break readers of the committed schema; and every event a service consumes is one
some producer emits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from learnstream.events import EVENT_TYPES, decode, encode
from learnstream.events.compat import breaking_changes
from learnstream.events.examples import example_events
from learnstream.events.schemas import render, schema_of

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "libs" / "events" / "schemas"
EXAMPLES = example_events()
ALL_TYPES = sorted(EVENT_TYPES)


def committed(ce_type: str) -> dict[str, Any]:
    path = SCHEMA_DIR / f"{ce_type}.json"
    assert path.exists(), f"{path.name} is not committed: run `make schemas` and commit it"
    return json.loads(path.read_text())


def test_every_event_type_has_an_example() -> None:
    assert set(EXAMPLES) == set(EVENT_TYPES)


def test_every_committed_schema_still_has_its_event() -> None:
    """Removing an event type strands its consumers and stored history."""
    published = {path.name.removesuffix(".json") for path in SCHEMA_DIR.glob("*.json")}
    assert published - set(EVENT_TYPES) == set()


@pytest.mark.parametrize("ce_type", ALL_TYPES)
def test_json_round_trip(ce_type: str) -> None:
    event = EXAMPLES[ce_type]
    assert type(event).model_validate_json(event.model_dump_json()) == event


@pytest.mark.parametrize("ce_type", ALL_TYPES)
def test_kafka_envelope_round_trip(ce_type: str) -> None:
    event = EXAMPLES[ce_type]
    record = encode(event, source="/learnstream/contract")
    envelope = decode(record.headers, record.value)
    assert envelope.event == event
    assert envelope.ce_type == ce_type
    assert record.topic == event.topic()
    assert record.key == event.key().encode()


@pytest.mark.parametrize("ce_type", ALL_TYPES)
def test_what_producers_emit_matches_the_committed_schema(ce_type: str) -> None:
    record = encode(EXAMPLES[ce_type], source="/learnstream/contract")
    jsonschema.Draft202012Validator(committed(ce_type)).validate(json.loads(record.value))


@pytest.mark.parametrize("ce_type", ALL_TYPES)
def test_the_model_does_not_break_the_committed_schema(ce_type: str) -> None:
    problems = breaking_changes(committed(ce_type), schema_of(ce_type))
    assert problems == [], f"breaking change to {ce_type}: make a .v2 with an upcaster instead"


@pytest.mark.parametrize("ce_type", ALL_TYPES)
def test_the_committed_schema_is_up_to_date(ce_type: str) -> None:
    """Compatible changes still need `make schemas`, so the published contract is current."""
    assert (SCHEMA_DIR / f"{ce_type}.json").read_text() == render(ce_type)


BASE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "learner_id": {"type": "string", "format": "uuid"},
        "seconds": {"type": "integer", "exclusiveMinimum": 0},
        "kind": {"enum": ["video", "article"], "type": "string"},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
    "required": ["learner_id", "seconds", "kind"],
}


def changed(**edits: Any) -> dict[str, Any]:
    schema = json.loads(json.dumps(BASE))
    for path, value in edits.items():
        *parents, leaf = path.split("__")
        target = schema
        for part in parents:
            target = target[part]
        if value is None:
            target.pop(leaf)
        else:
            target[leaf] = value
    return schema


@pytest.mark.parametrize(
    ("current", "breaking"),
    [
        (changed(properties__note=None), True),  # a field removed
        (changed(properties__seconds={"type": "number", "exclusiveMinimum": 0}), True),  # retyped
        (changed(required=["learner_id", "seconds", "kind", "note"]), True),  # made required
        (changed(properties__kind={"enum": ["video"], "type": "string"}), True),  # value dropped
        (
            changed(properties__seconds={"type": "integer", "exclusiveMinimum": 10}),
            True,
        ),  # tightened
        (changed(properties__extra={"type": "string"}), False),  # optional field added
        (changed(properties__kind={"enum": ["video", "article", "quiz"], "type": "string"}), False),
        (
            changed(
                properties__learner_id={
                    "type": "string",
                    "format": "uuid",
                    "description": "new words",
                }
            ),
            False,
        ),
        (changed(properties__note={"anyOf": [{"type": "string", "format": "uuid"}, {"type": "null"}]}), True),
        (changed(properties__note={"anyOf": [{"type": "string", "pattern": "^a"}, {"type": "null"}]}), True),
        (changed(properties__note={"anyOf": [{"enum": ["a"], "type": "string"}, {"type": "null"}]}), True),
        (
            changed(
                properties__kind={
                    "anyOf": [{"enum": ["video", "article"], "type": "string"}, {"type": "null"}]
                }
            ),
            False,
        ),
    ],
    ids=[
        "removed",
        "retyped",
        "required",
        "enum-narrowed",
        "bound-tightened",
        "optional-added",
        "enum-widened",
        "docs-only",
        "format-added",
        "pattern-added",
        "enum-added",
        "made-nullable",
    ],
)
def test_the_compatibility_check_tells_breaking_from_compatible(
    current: dict[str, Any], breaking: bool
) -> None:
    assert bool(breaking_changes(BASE, current)) is breaking


SERVICES = ("progress", "chat", "achievements", "analytics", "exports", "gateway")


@pytest.mark.parametrize("service", SERVICES)
def test_every_event_a_service_consumes_is_one_a_producer_emits(service: str) -> None:
    import importlib

    # the service as its bootstrap wires it; building connects to nothing
    settings = importlib.import_module(f"learnstream.{service}.config").Settings(env="test")
    app = importlib.import_module(f"learnstream.{service}.bootstrap").build(settings)
    consumer = app.state.runtime.consumer
    for ce_type in consumer.handled_types:
        assert ce_type in EVENT_TYPES, f"{service} handles {ce_type}, which nobody emits"
        record = encode(EXAMPLES[ce_type], source="/learnstream/contract")
        assert decode(record.headers, record.value).ce_type == ce_type
