"""Differential tests: every analytics answer equals an independent pure-Python computation.

A seeded workload (several weeks, several time zones, every persona) is published on
the topics out of order; once the projection has caught up, each report is compared
with :class:`.reference.Reference` computed from the same events. Publishing every
event a second time must change nothing.

The workload ends at a fixed instant in the past and every report is asked ``now=``
that instant, so events other tests publish on the shared broker (at the real time)
fall outside every window.

Every test runs twice: with the course reports answering from the read model where it
covers the question (``course_learners``), and with the read model switched off, so each
answer comes from the events. Both must equal the reference.
"""

from __future__ import annotations

import csv
import io
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest

from learnstream.analytics.service_layer import course as course_reports
from learnstream.devstack.workload import Workload, generate
from learnstream.events import encode, structured
from learnstream.events.exports import ExportRequested
from learnstream.runtime.settings import DEV_SERVICE_TOKEN

from .conftest import AnalyticsApi
from .reference import Reference

pytestmark = pytest.mark.integration

ADMIN = (UUID(int=1), "admin")
PERIODS = ("7d", "30d", "90d", "all")


@pytest.fixture(params=["read model", "events"], autouse=True)
def answered_from(request: pytest.FixtureRequest, analytics: AnalyticsApi) -> Iterator[list[bool]]:
    """Where the reports answer from in this run; the list says, call by call, whether a
    course report was answered from the read model."""
    reports = analytics.app.state.reports
    decided = reports._modelled
    seen: list[bool] = []

    async def spy(*args: Any, **kwargs: Any) -> bool:
        covered: bool = await decided(*args, **kwargs)
        seen.append(covered)
        return covered

    reports.read_model = request.param == "read model"
    reports._modelled = spy
    analytics.app.state.answers.clear()  # an answer kept from the other run would hide this one
    yield seen
    reports._modelled = decided
    reports.read_model = True
    analytics.app.state.answers.clear()


def modelled_when_on(seen: list[bool], request: pytest.FixtureRequest) -> None:
    """In the read-model run, the reports asked did answer from it (at least once)."""
    if "read model" in request.node.callspec.id:
        assert any(seen), "no report was answered from the read model"
    else:
        assert not any(seen)


@dataclass
class Projected:
    workload: Workload
    reference: Reference
    catch_up_seconds: float


@pytest.fixture(scope="module")
async def projected(analytics: AnalyticsApi) -> Projected:
    workload = generate(seed=11, learners=160)
    shuffled = list(workload.events)
    random.Random(3).shuffle(shuffled)  # one learner's events arrive in any order
    started = time.perf_counter()
    await analytics.publish(shuffled)
    await analytics.caught_up()
    elapsed = time.perf_counter() - started
    print(f"{len(shuffled)} events projected and visible in {elapsed:.2f}s")
    return Projected(workload, Reference(workload.events), elapsed)


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return value


def assert_matches(actual: Any, expected: Any, where: str = "") -> None:
    """``actual`` (the API's JSON) holds everything ``expected`` (the reference) says."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: {actual!r} is not an object"
        for key, value in expected.items():
            assert key in actual, f"{where}.{key} is missing"
            assert_matches(actual[key], value, f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{where}: {actual!r} is not a list"
        assert len(actual) == len(expected), f"{where}: {len(actual)} items, expected {len(expected)}"
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_matches(a, e, f"{where}[{index}]")
    elif isinstance(expected, float) and isinstance(actual, int | float):
        assert actual == pytest.approx(expected, abs=0.051), f"{where}: {actual} != {expected}"
    elif isinstance(expected, UUID):
        assert actual == str(expected), f"{where}: {actual} != {expected}"
    else:
        assert actual == _iso(expected), f"{where}: {actual!r} != {expected!r}"


def by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(item["id"]): item for item in items}


def owner(workload: Workload, course_id: UUID) -> tuple[UUID, str]:
    course = next(c for c in workload.courses if c.course_id == course_id)
    return course.instructor_id, "instructor"


async def test_course_analytics_match_for_every_period(
    analytics: AnalyticsApi, projected: Projected, answered_from: list[bool], request: pytest.FixtureRequest
) -> None:
    workload, reference, now = projected.workload, projected.reference, projected.workload.now
    for course in workload.courses:
        base = f"/api/instructor/courses/{course.course_id}"
        actor = owner(workload, course.course_id)
        for period in PERIODS:
            actual = await analytics.get(f"{base}/analytics", actor, period=period, now=now.isoformat())
            expected = reference.course_analytics(course.course_id, now=now, period=period)
            assert_matches(actual, expected, f"{course.title} {period}")
            assert actual["freshness"]["asOf"] is not None
            if period != "all":  # whole local days ending today, the previous as many before
                zone = ZoneInfo(actual["period"]["timezone"])
                first = now.astimezone(zone).date() - timedelta(days=int(period[:-1]) - 1)
                before = first - timedelta(days=int(period[:-1]))
                assert actual["period"]["start"] == _iso(
                    datetime.combine(first, dtime(0), zone).astimezone(UTC)
                )
                assert actual["period"]["previousStart"] == _iso(
                    datetime.combine(before, dtime(0), zone).astimezone(UTC)
                )
        start, end = (now - timedelta(days=20)).date(), (now - timedelta(days=6)).date()
        actual = await analytics.get(
            f"{base}/analytics",
            actor,
            startDate=start.isoformat(),
            endDate=end.isoformat(),
            now=now.isoformat(),
        )
        expected = reference.course_analytics(course.course_id, now=now, start_date=start, end_date=end)
        assert_matches(actual, expected, f"{course.title} {start}..{end}")
    modelled_when_on(answered_from, request)


async def test_lessons_videos_and_quizzes_match(
    analytics: AnalyticsApi, projected: Projected, answered_from: list[bool], request: pytest.FixtureRequest
) -> None:
    workload, reference, now = projected.workload, projected.reference, projected.workload.now
    for course in workload.courses:
        base = f"/api/instructor/courses/{course.course_id}"
        actor = owner(workload, course.course_id)
        lessons = await analytics.get(f"{base}/lessons/analytics", actor, now=now.isoformat())
        assert_matches(lessons["lessons"], reference.lessons(course.course_id, now=now), "lessons")
        videos = await analytics.get(f"{base}/videos/analytics", actor, now=now.isoformat())
        assert_matches(videos["videos"], reference.videos(course.course_id, now=now), "videos")
        quizzes = await analytics.get(f"{base}/quizzes/analytics", actor, now=now.isoformat())
        assert_matches(quizzes, reference.quizzes(course.course_id, now=now), "quizzes")
    modelled_when_on(answered_from, request)


async def test_an_outline_too_long_for_bit_sets_is_counted_lesson_by_lesson(
    analytics: AnalyticsApi, projected: Projected, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(course_reports, "MASKED_LESSONS", 1)
    workload, reference, now = projected.workload, projected.reference, projected.workload.now
    for course in workload.courses:
        base = f"/api/instructor/courses/{course.course_id}"
        lessons = await analytics.get(
            f"{base}/lessons/analytics", owner(workload, course.course_id), now=now.isoformat()
        )
        assert_matches(lessons["lessons"], reference.lessons(course.course_id, now=now), "lessons")


async def test_students_and_at_risk_match(
    analytics: AnalyticsApi, projected: Projected, answered_from: list[bool], request: pytest.FixtureRequest
) -> None:
    workload, reference, now = projected.workload, projected.reference, projected.workload.now
    reasons_seen: set[str] = set()
    for course in workload.courses:
        base = f"/api/instructor/courses/{course.course_id}"
        actor = owner(workload, course.course_id)
        listed = await analytics.get(f"{base}/students", actor, limit=100, now=now.isoformat())
        expected = reference.students(course.course_id, now=now)
        assert listed["pagination"]["total"] == len(expected)
        pages = listed["students"]
        page = 2
        while len(pages) < len(expected):
            more = await analytics.get(f"{base}/students", actor, limit=100, page=page, now=now.isoformat())
            pages += more["students"]
            page += 1
        actual_by_id = by_id(pages)
        assert set(actual_by_id) == {str(s["id"]) for s in expected}
        for student in expected:
            assert_matches(actual_by_id[str(student["id"])], student, f"student {student['id']}")
        risky = await analytics.get(f"{base}/students/at-risk", actor, now=now.isoformat())
        expected_risk = by_id(reference.at_risk(course.course_id, now=now))
        assert set(by_id(risky["students"])) == set(expected_risk)
        for learner_id, student in by_id(risky["students"]).items():
            assert_matches(student, expected_risk[learner_id], f"at-risk {learner_id}")
            assert student["details"]
            reasons_seen.update(student["reasons"])
        assert risky["total"] == len(risky["students"])
        first = await analytics.get(f"{base}/students/at-risk", actor, limit=3, now=now.isoformat())
        assert (first["students"], first["total"]) == (risky["students"][:3], risky["total"])
    assert reasons_seen == {"inactive", "stuck", "struggling"}
    modelled_when_on(answered_from, request)


def _busiest(projected: Projected) -> tuple[UUID, list[dict[str, Any]]]:
    now = projected.workload.now
    course = max(
        projected.workload.courses, key=lambda c: len(projected.reference.students(c.course_id, now=now))
    )
    return course.course_id, projected.reference.students(course.course_id, now=now)


STUDENT_ORDERS: dict[str, Any] = {
    "progress": lambda s: (-round(s["progress"], 1), s["id"]),
    "recent": lambda s: (-s["lastActive"].timestamp(), s["id"]),
    "name": lambda s: (s["name"].casefold(), s["id"]),
    "timeSpent": lambda s: (-s["timeSpent"], s["id"]),
    "fastest": lambda s: (
        s["completedAt"] is None,
        (s["completedAt"] - s["enrolledAt"]).total_seconds() if s["completedAt"] else 0,
        s["id"],
    ),
}


async def test_students_are_sorted_filtered_searched_and_paged_as_the_reference_says(
    analytics: AnalyticsApi, projected: Projected
) -> None:
    course_id, expected = _busiest(projected)
    now = projected.workload.now.isoformat()
    base = f"/api/instructor/courses/{course_id}/students"
    actor = owner(projected.workload, course_id)

    async def every_page(**params: Any) -> tuple[list[str], int]:
        ids: list[str] = []
        page = 1
        while True:
            answer = await analytics.get(base, actor, limit=7, page=page, now=now, **params)
            ids += [s["id"] for s in answer["students"]]
            if page >= answer["pagination"]["pages"]:
                return ids, answer["pagination"]["total"]
            page += 1

    assert len(expected) > 20
    for sort, key in STUDENT_ORDERS.items():
        ids, total = await every_page(sort=sort)
        assert total == len(expected)
        assert ids == [s["id"] for s in sorted(expected, key=key)], sort
    risky = {str(row["id"]) for row in projected.reference.at_risk(course_id, now=projected.workload.now)}
    for name, keep in {
        "active": lambda s: s["status"] == "active",
        "completed": lambda s: s["status"] == "completed",
        "atRisk": lambda s: s["id"] in risky,
    }.items():
        ids, total = await every_page(filter=name, sort="name")
        wanted = [s["id"] for s in sorted(expected, key=STUDENT_ORDERS["name"]) if keep(s)]
        assert wanted, name
        assert (ids, total) == (wanted, len(wanted)), name
    needle = expected[0]["name"][2:6].swapcase()
    ids, total = await every_page(search=needle, sort="name")
    wanted = [
        s["id"]
        for s in sorted(expected, key=STUDENT_ORDERS["name"])
        if needle.casefold() in s["name"].casefold()
    ]
    assert (ids, total) == (wanted, len(wanted)) and expected[0]["id"] in ids
    beyond = await analytics.get(base, actor, limit=7, page=999, now=now)
    assert beyond["students"] == [] and beyond["pagination"]["total"] == len(expected)


async def test_a_courses_export_rows_as_json_and_csv_match_the_reference(
    analytics: AnalyticsApi, projected: Projected
) -> None:
    course_id, expected = _busiest(projected)
    now = projected.workload.now
    actor = owner(projected.workload, course_id)
    risky = by_id(projected.reference.at_risk(course_id, now=now))
    by_name = sorted(expected, key=STUDENT_ORDERS["name"])
    path = "/internal/exports/students"
    answer = await analytics.get(path, actor, courseId=str(course_id), now=now.isoformat())
    assert answer["course"]["id"] == str(course_id) and "total" not in answer
    assert [s["id"] for s in answer["students"]] == [s["id"] for s in by_name]
    for row, student in zip(answer["students"], by_name, strict=True):
        assert_matches(row, student, f"export row {student['id']}")
        risk = risky.get(student["id"])
        assert row["reasons"] == (risk["reasons"] if risk else [])
        assert row["details"] == (risk["details"] if risk else "")
        assert isinstance(row["lessonsStarted"], int)
    first = await analytics.get(path, actor, courseId=str(course_id), now=now.isoformat(), limit=5)
    assert first["total"] == len(expected) and first["students"] == answer["students"][:5]
    at_risk = await analytics.get(
        path, actor, courseId=str(course_id), now=now.isoformat(), atRisk="true", fields="id,lastActive"
    )
    assert [row["id"] for row in at_risk["students"]] == [
        row["id"] for row in sorted(risky.values(), key=lambda r: (r["lastActive"], r["id"]))
    ]
    assert set(at_risk["students"][0]) == {"id", "lastActive"}

    headers = {"X-Service-Token": DEV_SERVICE_TOKEN, "X-Actor-Id": str(actor[0]), "X-Actor-Role": actor[1]}
    fields = "name,id,progress,atRisk,reasons,completedAt,lessonsStarted"
    response = await analytics.http.get(
        path,
        headers=headers,
        params={"courseId": str(course_id), "now": now.isoformat(), "format": "csv", "fields": fields},
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(response.text, newline="")))
    assert response.content.count(b"\r\n") == len(lines)
    assert lines[0] == fields.split(",")
    for line, row in zip(lines[1:], answer["students"], strict=True):
        assert line == [
            row["name"],
            row["id"],
            f"{row['progress']:g}",
            "yes" if row["atRisk"] else "no",
            "; ".join(row["reasons"]),
            row["completedAt"] or "",
            str(row["lessonsStarted"]),
        ]
    assert len(lines) == len(expected) + 1
    refused = await analytics.http.get(
        path, headers=headers, params={"courseId": str(course_id), "fields": "name,password"}
    )
    assert refused.status_code == 422 and refused.headers["content-type"].startswith("application/problem")
    assert "password" in refused.text


async def test_assistant_analytics_match(
    analytics: AnalyticsApi, projected: Projected, answered_from: list[bool], request: pytest.FixtureRequest
) -> None:
    workload, reference, now = projected.workload, projected.reference, projected.workload.now
    for course in workload.courses:
        actor = owner(workload, course.course_id)
        for period in ("30d", "all"):
            actual = await analytics.get(
                f"/api/instructor/courses/{course.course_id}/ai-analytics",
                actor,
                period=period,
                now=now.isoformat(),
            )
            assert_matches(actual, reference.ai(course.course_id, now=now, period=period), f"ai {period}")
    modelled_when_on(answered_from, request)


async def test_creator_and_admin_analytics_match(analytics: AnalyticsApi, projected: Projected) -> None:
    workload, reference, now = projected.workload, projected.reference, projected.workload.now
    tiers_seen: set[str] = set()
    for instructor in workload.instructors:
        actor = (instructor.user_id, "instructor")
        for period in ("7d", "30d", "90d"):
            actual = await analytics.get("/api/creator/dashboard", actor, period=period, now=now.isoformat())
            expected = reference.creator_dashboard(instructor.user_id, now=now, period=period)
            assert_matches(actual, expected, f"creator {period}")
        listed = await analytics.get("/api/creator/students", actor, limit=200, now=now.isoformat())
        expected_students = by_id(reference.creator_students(instructor.user_id, now=now))
        assert listed["total"] == len(expected_students)
        for learner_id, student in by_id(listed["students"]).items():
            assert_matches(student, expected_students[learner_id], f"creator student {learner_id}")
            tiers_seen.add(student["tier"])
    assert tiers_seen == {"highly_engaged", "engaged", "moderate", "low_engagement", "at_risk", "inactive"}
    for period in ("7d", "30d", "90d"):
        actual = await analytics.get(
            "/api/admin/analytics/overview", ADMIN, period=period, now=now.isoformat()
        )
        assert_matches(actual, reference.admin_overview(now=now, period=period), f"admin {period}")


async def test_learner_activity_matches(analytics: AnalyticsApi, projected: Projected) -> None:
    workload, reference, now = projected.workload, projected.reference, projected.workload.now
    for learner in workload.learners[:40]:
        for days in (30, 90):
            actual = await analytics.get(
                "/api/learner/activity", (learner.user_id, "student"), days=days, now=now.isoformat()
            )
            expected = reference.learner_activity(learner.user_id, now=now, days=days)
            assert_matches(actual["activityData"], expected, f"activity {learner.user_id} {days}")


async def test_delivering_every_event_again_changes_nothing(
    analytics: AnalyticsApi, projected: Projected
) -> None:
    workload, now = projected.workload, projected.workload.now
    course = workload.courses[0]
    actor = owner(workload, course.course_id)
    paths = [
        f"/api/instructor/courses/{course.course_id}/analytics",
        f"/api/instructor/courses/{course.course_id}/lessons/analytics",
        f"/api/instructor/courses/{course.course_id}/students/at-risk",
        f"/api/instructor/courses/{course.course_id}/ai-analytics",
    ]

    async def snapshot() -> list[Any]:
        answers = []
        for path in paths:
            answer = await analytics.get(path, actor, period="all", now=now.isoformat())
            answer.pop("freshness", None)
            answers.append(answer)
        return answers

    before = await snapshot()
    await analytics.publish(workload.events)
    await analytics.caught_up()
    assert await snapshot() == before


async def test_an_erased_learner_leaves_no_trace(analytics: AnalyticsApi, projected: Projected) -> None:
    workload = projected.workload
    erased = workload.erased_learner_id
    assert erased is not None
    rows = await analytics.app.state.warehouse.clickhouse.query_rows(
        "SELECT (SELECT count() FROM analytics_it.activity WHERE learner_id = {u:UUID})"
        " + (SELECT count() FROM analytics_it.users WHERE user_id = {u:UUID})"
        " + (SELECT count() FROM analytics_it.course_learners WHERE learner_id = {u:UUID})"
        " + (SELECT count() FROM analytics_it.events WHERE subject = toString({u:UUID})"
        "    AND name != 'LearnerErasureRequested')",
        {"u": erased},
    )
    assert rows[0][0] == 0


async def all_time_analytics(analytics: AnalyticsApi, projected: Projected) -> Any:
    """The second course's all-time analytics as of the workload's end, without the freshness
    (which moves with every write)."""
    workload = projected.workload
    course = workload.courses[1]
    path = f"/api/instructor/courses/{course.course_id}/analytics"
    answer = await analytics.get(
        path, owner(workload, course.course_id), period="all", now=workload.now.isoformat()
    )
    answer.pop("freshness")
    return answer


@pytest.mark.parametrize("source", ["events", "topics"])
async def test_a_rebuild_gives_the_same_numbers(
    analytics: AnalyticsApi, projected: Projected, source: str
) -> None:
    before = await all_time_analytics(analytics, projected)
    response = await analytics.http.post(
        "/api/analytics/rebuild", params={"from": source}, headers={"X-Service-Token": DEV_SERVICE_TOKEN}
    )
    assert response.status_code == 200, response.text
    await analytics.caught_up()
    assert await all_time_analytics(analytics, projected) == before


async def test_an_archive_is_imported_once_and_its_bad_lines_are_refused(
    analytics: AnalyticsApi, projected: Projected
) -> None:
    before = await all_time_analytics(analytics, projected)
    # the history the projection already took off the bus, then two bad lines, then a new event
    archived = [
        structured(encode(event, source="/services/archive")) for event in projected.workload.events[:3000]
    ]
    new = ExportRequested(export_id=uuid4(), export_type="students", requester_id=uuid4(), format="csv")
    lines = [json.dumps(document) for document in archived]
    lines += [
        "not json",
        json.dumps(
            {
                "specversion": "1.0",
                "id": str(uuid4()),
                "type": "learnstream.progress.Nope.v1",
                "source": "/x",
                "data": {},
            }
        ),
        "",
        json.dumps(structured(encode(new, source="/services/exports"))),
    ]
    headers = {"X-Service-Token": DEV_SERVICE_TOKEN, "Content-Type": "application/x-ndjson"}
    response = await analytics.http.post("/api/analytics/import", content="\n".join(lines), headers=headers)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["imported"], answer["refused"]) == (3001, 2)
    assert [error["line"] for error in answer["errors"]] == [3001, 3002]
    assert "unknown event type" in answer["errors"][1]["reason"]
    # what was already projected counts once
    assert await all_time_analytics(analytics, projected) == before
    # the new event is stored, once, even when imported again
    again = await analytics.http.post(
        "/api/analytics/import", content=json.dumps(structured(encode(new, source="/x"))), headers=headers
    )
    assert again.json()["imported"] == 1
    rows = await analytics.app.state.warehouse.clickhouse.query_rows(
        "SELECT count(), any(topic) FROM analytics_it.events FINAL WHERE event_id = {e:UUID}",
        {"e": new.event_id},
    )
    assert rows[0] == (1, "import")
    # only services may import
    refused = await analytics.http.post("/api/analytics/import", content=lines[-1])
    assert refused.status_code == 401


async def test_the_documented_example_queries_run(analytics: AnalyticsApi, projected: Projected) -> None:
    import re
    from pathlib import Path

    doc = (Path(__file__).parents[4] / "docs" / "analytics.md").read_text()
    blocks = re.findall(r"```sql\n(.*?)```", doc, flags=re.DOTALL)
    queries = [q.strip() for block in blocks for q in block.split(";") if q.strip()]
    assert len(queries) == 4
    course = str(projected.workload.courses[0].course_id)
    clickhouse = analytics.app.state.warehouse.clickhouse
    answers = []
    for query in queries:
        sql = query.replace("00000000-0000-0000-0000-000000000000", course).replace(
            "learnstream.", "analytics_it."
        )
        rows = await clickhouse.query_rows(sql)
        assert rows, query
        answers.append(rows)
    assert answers[0] == answers[1]  # the funnel from the events and from the read model


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"timezone": "America"}, "timezone"),  # a directory of the zone database
        ({"timezone": "right/UTC"}, "timezone"),  # Python knows it, ClickHouse does not
        ({"timezone": "x" * 300}, "timezone"),
        ({"startDate": "9999-12-31", "endDate": "9999-12-31"}, "startDate"),
        ({"startDate": "0001-01-01", "endDate": "0001-01-02", "timezone": "Asia/Tokyo"}, "startDate"),
        ({"now": "0001-01-01T00:00:00Z"}, "now"),
        ({"now": "2026-04-15T12:00:00"}, "now"),
        ({"startDate": "2026-04-10", "endDate": "2026-04-01"}, "endDate"),
    ],
)
async def test_unusable_parameters_are_a_422_naming_them(
    analytics: AnalyticsApi, projected: Projected, params: dict[str, str], field: str
) -> None:
    course = projected.workload.courses[0]
    user, role = owner(projected.workload, course.course_id)
    response = await analytics.http.get(
        f"/api/instructor/courses/{course.course_id}/analytics",
        params=params,
        headers={"X-Service-Token": DEV_SERVICE_TOKEN, "X-Actor-Id": str(user), "X-Actor-Role": role},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [error["field"] for error in response.json()["errors"]] == [field]


async def test_only_the_courses_instructor_sees_its_analytics(
    analytics: AnalyticsApi, projected: Projected
) -> None:
    course = projected.workload.courses[0]
    user, _ = owner(projected.workload, course.course_id)
    path = f"/api/instructor/courses/{course.course_id}/students"
    for actor, status in [
        ((user, "instructor"), 200),
        ((user, "student"), 404),  # demoted: no longer an instructor
        ((UUID(int=7), "instructor"), 404),  # someone else's course answers as an unknown one
        ((UUID(int=1), "admin"), 200),
    ]:
        response = await analytics.http.get(
            path,
            headers={
                "X-Service-Token": DEV_SERVICE_TOKEN,
                "X-Actor-Id": str(actor[0]),
                "X-Actor-Role": actor[1],
            },
        )
        assert response.status_code == status, (actor, response.text)
    learner = (projected.workload.learners[0].user_id, "student")
    overview = await analytics.http.get(
        "/api/admin/analytics/overview",
        headers={
            "X-Service-Token": DEV_SERVICE_TOKEN,
            "X-Actor-Id": str(learner[0]),
            "X-Actor-Role": "student",
        },
    )
    assert overview.status_code == 403
