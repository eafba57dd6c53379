"""What every service's HTTP bodies share: camelCase JSON (the clients are TypeScript and
mobile) over snake_case Python, and unknown fields refused."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class CamelModel(BaseModel):
    """A request or response body: ``lessonId`` on the wire, ``lesson_id`` in Python (both
    accepted); a field the body does not define is a 422, not silently dropped."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")
