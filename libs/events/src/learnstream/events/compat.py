"""Tells whether a new event schema breaks readers of the published one.

Consumers read with tolerant models and the event stores replay old events, so a
change is compatible only if every event valid under the old schema is still valid
under the new one and means the same: adding an optional field or a new enum value
is fine; removing or retyping a field, making a field required, or dropping an enum
value is breaking and needs a new version with an upcaster instead.
"""

from __future__ import annotations

import json
from typing import Any

_IGNORED = {"description", "examples", "title", "default", "$schema", "$id", "$defs"}


def _resolve(schema: Any, defs: dict[str, Any]) -> Any:
    if isinstance(schema, dict):
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            return _resolve(defs[name], defs)
        return {
            key: _resolve(value, defs)
            for key, value in schema.items()
            if key not in _IGNORED and not key.startswith("x-")
        }
    if isinstance(schema, list):
        return [_resolve(item, defs) for item in schema]
    return schema


def normalise(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with references inlined and documentation-only keys removed."""
    resolved = _resolve(schema, schema.get("$defs", {}))
    assert isinstance(resolved, dict)
    return resolved


def _key(schema: Any) -> str:
    return json.dumps(schema, sort_keys=True)


def _variants(schema: dict[str, Any]) -> list[Any]:
    return list(schema["anyOf"]) if "anyOf" in schema else [schema]


def _compare(old: Any, new: Any, path: str, problems: list[str]) -> None:
    if not isinstance(old, dict) or not isinstance(new, dict):
        if old != new:
            problems.append(f"{path}: changed from {old!r} to {new!r}")
        return
    if "anyOf" in old or "anyOf" in new:
        # every shape the old schema accepted must still be accepted by some new shape
        new_variants = _variants(new)
        for variant in _variants(old):
            if not any(not _breaks(variant, candidate, path) for candidate in new_variants):
                problems.append(f"{path}: no longer accepts {_key(variant)}")
        return
    if old.get("type") != new.get("type"):
        problems.append(f"{path}: type changed from {old.get('type')} to {new.get('type')}")
        return
    old_values = _allowed_values(old)
    new_values = _allowed_values(new)
    if new_values is not None and (old_values is None or old_values - new_values):
        lost = "values" if old_values is None else sorted(old_values - new_values)
        problems.append(f"{path}: values no longer allowed: {lost}")
    for keyword in ("format", "pattern"):
        if keyword in new and new[keyword] != old.get(keyword):
            problems.append(f"{path}: {keyword} tightened to {new[keyword]!r}")
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name, old_prop in old_props.items():
        if name not in new_props:
            problems.append(f"{path}.{name}: removed")
        else:
            _compare(old_prop, new_props[name], f"{path}.{name}", problems)
    newly_required = set(new.get("required", [])) - set(old.get("required", []))
    for name in sorted(newly_required):
        problems.append(f"{path}.{name}: became required")
    if "items" in old:
        _compare(old["items"], new.get("items"), f"{path}[]", problems)
    for bound in ("minimum", "exclusiveMinimum", "minLength", "minItems"):
        if bound in new and (bound not in old or new[bound] > old[bound]):
            problems.append(f"{path}: {bound} tightened to {new[bound]}")
    for bound in ("maximum", "exclusiveMaximum", "maxLength", "maxItems"):
        if bound in new and (bound not in old or new[bound] < old[bound]):
            problems.append(f"{path}: {bound} tightened to {new[bound]}")


def _allowed_values(schema: dict[str, Any]) -> set[str] | None:
    if "enum" in schema:
        return {_key(value) for value in schema["enum"]}
    if "const" in schema:
        return {_key(schema["const"])}
    return None


def _breaks(old: Any, new: Any, path: str) -> bool:
    found: list[str] = []
    _compare(old, new, path, found)
    return bool(found)


def breaking_changes(published: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Why ``current`` would reject or misread events valid under ``published`` (empty if none)."""
    problems: list[str] = []
    _compare(normalise(published), normalise(current), "$", problems)
    return problems
