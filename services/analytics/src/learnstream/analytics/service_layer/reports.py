"""Every analytics answer, computed in ClickHouse from the projected events
(``docs/analytics.md`` defines them): one class built up from the report families."""

from __future__ import annotations

from learnstream.analytics.service_layer.base import Course, Thresholds
from learnstream.analytics.service_layer.rows import Reports

__all__ = ["Course", "Reports", "Thresholds"]
