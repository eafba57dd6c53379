"""Report windows: ``7d``/``30d``/``90d``/``all`` or a custom range of local dates.

Every window starts at a local midnight of the report's time zone: ``30d`` is today and
the 29 days before it (up to now), its previous period the 30 days before those; ``all``
starts on the day of the course's first event. Midnights fall on whole quarter hours in
every time zone in use, which is what lets the read model answer from quarter-hour slots.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from learnstream.analytics.domain.errors import InvalidQuery

Period = Literal["7d", "30d", "90d", "all"]
PERIOD_DAYS: dict[str, int] = {"7d": 7, "30d": 30, "90d": 90}
MAX_RANGE_DAYS = 1096


EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2299, 12, 31, tzinfo=UTC)
"""The instants ClickHouse's DateTime64 can hold; reports are asked about times within them."""


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``, or a 422 that says it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # a directory or an over-long name
        raise InvalidQuery("timezone", f"{name!r} is not an IANA time zone such as Europe/Berlin") from exc


def within_range(field: str, moment: datetime) -> datetime:
    """``moment``, or a 422 when it lies outside the years ClickHouse stores (1900 to 2299)."""
    if not EARLIEST <= moment <= LATEST:
        raise InvalidQuery(field, f"{field} must lie between 1900 and 2299")
    return moment


@dataclass(frozen=True)
class Window:
    """``[start, end)`` in UTC, the previous window of the same length (if any), and the
    time zone its days are counted in."""

    start: datetime
    end: datetime
    previous_start: datetime | None
    tz: str

    @property
    def days(self) -> list[date]:
        """Every local day the window touches, in order."""
        tzinfo = ZoneInfo(self.tz)
        first = self.start.astimezone(tzinfo).date()
        last = (self.end - timedelta(milliseconds=1)).astimezone(tzinfo).date()
        count = max((last - first).days + 1, 0)
        return [first + timedelta(days=i) for i in range(min(count, MAX_RANGE_DAYS))]


def local_midnight(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(tz)).astimezone(UTC)


def window(
    *,
    now: datetime,
    tz: str,
    period: str | None,
    start_date: date | None,
    end_date: date | None,
    first_event: datetime | None,
) -> Window:
    """The window a report covers; ``first_event`` starts ``all`` (now when there is none)."""
    if start_date is not None or end_date is not None:
        if start_date is None or end_date is None:
            field = "startDate" if start_date is None else "endDate"
            raise InvalidQuery(field, "a custom range needs both startDate and endDate")
        if end_date < start_date:
            raise InvalidQuery("endDate", "endDate is before startDate")
        if (end_date - start_date).days + 1 > MAX_RANGE_DAYS:
            raise InvalidQuery("endDate", f"a custom range covers at most {MAX_RANGE_DAYS} days")
        for field, day in (("startDate", start_date), ("endDate", end_date)):
            within_range(field, datetime.combine(day, time(12), tzinfo=UTC))
        start = local_midnight(start_date, tz)
        end = local_midnight(end_date + timedelta(days=1), tz)
        return Window(start, end, start - (end - start), tz)
    period = period or "30d"
    tzinfo = ZoneInfo(tz)
    today = now.astimezone(tzinfo).date()
    if period == "all":
        first = min(first_event or now, now).astimezone(tzinfo).date()
        first = max(first, today - timedelta(days=MAX_RANGE_DAYS - 1))
        return Window(local_midnight(first, tz), now, None, tz)
    if period not in PERIOD_DAYS:
        raise InvalidQuery("period", f"period must be one of 7d, 30d, 90d, all; got {period!r}")
    days = PERIOD_DAYS[period]
    first = today - timedelta(days=days - 1)
    return Window(local_midnight(first, tz), now, local_midnight(first - timedelta(days=days), tz), tz)
