"""JSON Schema of every event: ``python -m learnstream.events.schemas DIR`` (``make schemas``).

One file per event type, named after its ``ce_type``. The committed files are the
published contract: ``tests/contract`` compares the models with them, so a breaking
change is caught before it reaches a consumer.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from learnstream.events.registry import EVENT_TYPES

DEFAULT_DIR = Path(__file__).resolve().parents[3] / "schemas"


def schema_of(ce_type: str) -> dict[str, Any]:
    """The JSON Schema of one event type, with its CloudEvents identity attached."""
    model = EVENT_TYPES[ce_type]
    schema = model.model_json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:learnstream:event:{ce_type}",
        "x-ce-type": ce_type,
        "x-topic": model.topic(),
        "x-key": model.key_field,
        **schema,
    }


def render(ce_type: str) -> str:
    return json.dumps(schema_of(ce_type), indent=2, sort_keys=True) + "\n"


def write_all(directory: Path) -> list[Path]:
    """Write every schema into ``directory``, removing files of types that no longer exist."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for ce_type in sorted(EVENT_TYPES):
        path = directory / f"{ce_type}.json"
        path.write_text(render(ce_type))
        written.append(path)
    for stale in set(directory.glob("*.json")) - set(written):
        stale.unlink()
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DIR
    paths = write_all(target)
    print(f"wrote {len(paths)} event schemas to {target}")
