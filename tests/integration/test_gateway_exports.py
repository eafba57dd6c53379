"""Exports through the gateway over real HTTP: an instructor exports a course as CSV, JSON,
XLSX and PDF, downloads each file by its signed link and opens it with a real reader
(the csv module, openpyxl, pypdf); the rows are the course's students. Someone else's
course is 404, a tampered link 403, a bad request 422 naming what is allowed, and every
export is in the audit log.
"""

from __future__ import annotations

import asyncio
import csv
import email
import email.policy
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from uuid import UUID, uuid4

import httpx
import openpyxl
import pytest
from pypdf import PdfReader

from learnstream.devstack.servers import free_port
from learnstream.devstack.testing import Infra, events_on
from learnstream.events import encode
from learnstream.events.exports import WeeklyDigestPublished
from learnstream.events.identity import UserRegistered
from learnstream.events.progress import EnrollmentCreated
from learnstream.exports.adapters.analytics import AnalyticsClient
from learnstream.exports.service_layer.reports import ReportBuilder
from learnstream.runtime.bus import KafkaPublisher

pytestmark = pytest.mark.integration

STUDENTS = 8
COURSE = {
    "title": "Exported Python",
    "description": "A course to export",
    "category": "programming",
    "difficulty": "beginner",
    "sections": [
        {
            "title": "Basics",
            "lessons": [
                {"title": "Welcome video", "contentType": "video", "durationSeconds": 120},
                {"title": "Variables", "contentType": "article", "durationSeconds": 300},
            ],
        },
        {
            "title": "Practice",
            "lessons": [
                {
                    "title": "Check yourself",
                    "contentType": "quiz",
                    "durationSeconds": 60,
                    "quiz": {
                        "passingScore": 50,
                        "questions": [
                            {"text": "1 + 1?", "options": ["1", "2"], "correctIndex": 1},
                            {"text": "2 * 3?", "options": ["6", "5"], "correctIndex": 0},
                        ],
                    },
                }
            ],
        },
    ],
}


@dataclass
class World:
    teacher: dict[str, str]
    course: dict[str, Any]
    names: list[str]

    @property
    def course_id(self) -> str:
        return str(self.course["id"])


async def eventually(probe: Any, *, timeout: float = 45.0, every: float = 0.2) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await probe()
        if result:
            return result
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(every)


@pytest.fixture(scope="module")
async def world(stack: Any) -> World:
    """A published course with eight students at different points, as analytics sees it."""
    teacher = await stack.token("instructor", name="Grace Teacher")
    created = await stack.http.post("/api/instructor/courses", json=COURSE, headers=teacher)
    assert created.status_code == 201, created.text
    course = created.json()
    assert (
        await stack.http.post(f"/api/instructor/courses/{course['id']}/publish", headers=teacher)
    ).status_code == 200
    lessons = [lesson for section in course["sections"] for lesson in section["lessons"]]
    names = [f"Student {chr(65 + i)} {uuid4().hex[:4]}" for i in range(STUDENTS - 1)]
    for index, name in enumerate(names):
        learner = await stack.token("student", name=name)
        enrolled = await stack.http.post(f"/api/courses/{course['id']}/enroll", headers=learner)
        assert enrolled.status_code == 201, enrolled.text
        for lesson in lessons[: index % 3]:
            body = {
                "courseId": course["id"],
                "lessonId": lesson["id"],
                "viewId": str(uuid4()),
                "timeSpentSeconds": 30 + index,
                "completed": lesson["contentType"] != "quiz",
            }
            tracked = await stack.http.post("/api/learner/track-lesson", json=body, headers=learner)
            assert tracked.status_code == 200, tracked.text

    # and one who enrolled a month ago and never came back (at risk: inactive and stuck), as
    # identity and progress would have announced them then
    quiet, since = uuid4(), datetime.now(UTC) - timedelta(days=30)
    names.append(f"Student Quiet {uuid4().hex[:4]}")
    publisher = KafkaPublisher(
        stack.gateway_settings.kafka_bootstrap_servers, idempotent=False, client_id="test-exports"
    )
    await publisher.start()
    try:
        await publisher.publish(
            [
                encode(event, source="/learnstream/test")
                for event in (
                    UserRegistered(
                        user_id=quiet,
                        occurred_at=since,
                        role="student",
                        display_name=names[-1],
                        timezone="UTC",
                    ),
                    EnrollmentCreated(
                        learner_id=quiet,
                        occurred_at=since,
                        enrollment_id=uuid4(),
                        course_id=UUID(course["id"]),
                        enrolled_at=since,
                        instructor_id=UUID(course["instructorId"]),
                    ),
                )
            ]
        )
    finally:
        await publisher.stop()

    async def projected() -> bool:
        answer = await stack.http.get(
            f"/api/instructor/courses/{course['id']}/students", headers=teacher, params={"limit": 100}
        )
        return answer.status_code == 200 and answer.json()["pagination"]["total"] == STUDENTS

    await eventually(projected)
    return World(teacher, course, names)


async def export(
    stack: Any, who: dict[str, str], path: str, body: dict[str, Any], *, expect: str = "completed"
) -> dict[str, Any]:
    """Ask for an export and wait until it is completed (or failed, when ``expect`` says so)."""
    asked = await stack.http.post(path, json=body, headers=who)
    assert asked.status_code == 202, asked.text
    export_id = asked.json()["exportId"]
    assert asked.json()["status"] == "queued"

    async def finished() -> dict[str, Any] | None:
        status = await stack.http.get(f"/api/exports/{export_id}", headers=who)
        assert status.status_code == 200, status.text
        body: dict[str, Any] = status.json()
        return body if body["status"] in ("completed", "failed") else None

    done: dict[str, Any] = await eventually(finished)
    assert done["status"] == expect, done
    return done


async def download(stack: Any, status: dict[str, Any]) -> httpx.Response:
    """Follow the signed link with no token, as a browser would."""
    async with httpx.AsyncClient(timeout=30) as browser:
        answer = await browser.get(status["downloadUrl"])
    assert answer.status_code == 200, answer.text
    assert len(answer.content) == status["fileSize"]
    return answer


def mails_in(outbox: Path) -> set[Path]:
    return set(outbox.glob("*.eml"))


def course_path(world: World) -> str:
    return f"/api/instructor/courses/{world.course_id}/export"


async def test_an_instructor_exports_a_course_as_csv_json_xlsx_and_pdf_and_opens_each(
    stack: Any, world: World
) -> None:
    # CSV: several sections come as a zip of one file per section
    status = await export(stack, world.teacher, course_path(world), {"format": "csv"})
    answer = await download(stack, status)
    assert answer.headers["content-type"] == "application/zip"
    assert "attachment" in answer.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        assert {"summary.csv", "students.csv", "lessons.csv", "funnel.csv", "at_risk.csv"} <= set(
            archive.namelist()
        )
        students = list(csv.DictReader(io.StringIO(archive.read("students.csv").decode("utf-8-sig"))))
        lessons = list(csv.DictReader(io.StringIO(archive.read("lessons.csv").decode("utf-8-sig"))))
        zipped_at_risk = list(csv.DictReader(io.StringIO(archive.read("at_risk.csv").decode("utf-8-sig"))))
    assert len(students) == STUDENTS
    assert sorted(row["Student"] for row in students) == sorted(world.names)
    assert [row["Lesson"] for row in lessons] == ["Welcome video", "Variables", "Check yourself"]

    # one section is one plain CSV file
    status = await export(
        stack, world.teacher, course_path(world), {"format": "csv", "sections": ["students"]}
    )
    answer = await download(stack, status)
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert len(rows) == STUDENTS == status["rowCount"]

    # JSON
    status = await export(stack, world.teacher, course_path(world), {"format": "json"})
    document = json.loads((await download(stack, status)).content)
    assert document["title"] == f"Course report: {COURSE['title']}"
    assert len(document["sections"]["students"]["rows"]) == STUDENTS
    assert {f["label"] for f in document["summary"]} >= {"Students", "Completion rate"}
    assert document["recommendations"]
    # the CSV's cells (written by ClickHouse in analytics) say what the JSON rows say
    same = {row["id"]: row for row in document["sections"]["students"]["rows"]}
    assert sorted(same) == sorted(row["Student id"] for row in rows)
    for row in rows:
        json_row = same[row["Student id"]]
        assert row["Student"] == json_row["name"] and float(row["Progress"]) == json_row["progress"]
        assert int(row["Time spent (s)"]) == json_row["timeSpent"]
        assert int(row["Lessons started"]) == json_row["lessonsStarted"]
        assert row["Status"] == json_row["status"]
        assert row["At risk"] == ("yes" if json_row["atRisk"] else "no")
        assert row["Risk reasons"] == "; ".join(json_row["reasons"])
        assert (row["Enrolled"], row["Last active"]) == (json_row["enrolledAt"], json_row["lastActive"])
        assert row["Completed"] == (json_row["completedAt"] or "")
    at_risk_rows = document["sections"]["at_risk"]["rows"]
    assert world.names[-1] in {row["name"] for row in at_risk_rows}
    assert [row["name"] for row in at_risk_rows] == [row["Student"] for row in zipped_at_risk]
    assert {row["name"] for row in at_risk_rows} == {r["name"] for r in same.values() if r["atRisk"]}

    # XLSX: a sheet per section, readable headers, typed cells
    status = await export(stack, world.teacher, course_path(world), {"format": "xlsx"})
    book = openpyxl.load_workbook(io.BytesIO((await download(stack, status)).content))
    assert book.sheetnames[:4] == ["Summary", "Students", "Lesson performance", "Completion funnel"]
    assert "Summary 2" not in book.sheetnames
    sheet = book["Students"]
    header = [cell.value for cell in sheet[1]]
    assert header[:3] == ["Student", "Student id", "Progress"]
    data = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(data) == STUDENTS
    progress = header.index("Progress")
    enrolled = header.index("Enrolled (UTC)")
    assert all(isinstance(row[progress], int | float) for row in data)
    assert all(row[enrolled] is not None and hasattr(row[enrolled], "year") for row in data)

    # PDF: title, summary, charts, tables
    status = await export(stack, world.teacher, course_path(world), {"format": "pdf"})
    pdf = PdfReader(io.BytesIO((await download(stack, status)).content))
    text = "\n".join(page.extract_text() for page in pdf.pages)
    assert f"Course report: {COURSE['title']}" in text
    assert "Executive summary" in text and "Recommendations" in text
    assert all(name in text for name in world.names)
    images = sum(len(page.images) for page in pdf.pages)
    assert images >= 4  # trends, funnel, distribution, heatmap


async def test_a_creator_export_holds_every_student_of_the_instructors_courses(
    stack: Any, world: World
) -> None:
    status = await export(
        stack,
        world.teacher,
        "/api/creator/export",
        {"type": "students", "format": "csv", "filters": {"status": "all"}},
    )
    rows = list(csv.DictReader(io.StringIO((await download(stack, status)).content.decode("utf-8-sig"))))
    assert sorted(row["Student"] for row in rows) == sorted(world.names)
    quiz = await export(stack, world.teacher, "/api/creator/export", {"type": "progress", "format": "xlsx"})
    book = openpyxl.load_workbook(io.BytesIO((await download(stack, quiz)).content))
    assert book["Progress per course"].max_row == STUDENTS + 1


async def test_another_instructors_course_and_exports_are_not_found(stack: Any, world: World) -> None:
    stranger = await stack.token("instructor")
    refused = await stack.http.post(course_path(world), json={"format": "csv"}, headers=stranger)
    assert refused.status_code == 404, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    mine = await export(stack, world.teacher, course_path(world), {"format": "json", "sections": ["funnel"]})
    assert (await stack.http.get(f"/api/exports/{mine['exportId']}", headers=stranger)).status_code == 404
    learner = await stack.token("student")
    assert (
        await stack.http.post(course_path(world), json={"format": "csv"}, headers=learner)
    ).status_code == 404
    history = (await stack.http.get("/api/exports", headers=stranger)).json()
    assert history["exports"] == [] and history["total"] == 0


async def test_an_export_fails_in_words_when_analytics_cannot_be_reached_and_the_next_one_works(
    stack: Any, world: World
) -> None:
    service = stack.servers["exports"][0].config.app.state.exports
    builder, delay = service.builder, service.retry_delay
    # nothing listens on this port: every data request is refused at connect time
    unreachable = AnalyticsClient(f"http://127.0.0.1:{free_port()}", service_token="x", timeout=2.0)
    service.builder, service.retry_delay = ReportBuilder(unreachable), 0.05
    try:
        failed = await export(
            stack,
            world.teacher,
            course_path(world),
            {"format": "csv", "sections": ["students"]},
            expect="failed",
        )
    finally:
        service.builder, service.retry_delay = builder, delay
        await unreachable.close()
    assert "analytics service was unavailable" in failed["error"] and "ask again" in failed["error"]
    assert failed["downloadUrl"] is None
    audit = await stack.http.get("/api/exports", headers=world.teacher, params={"limit": 5})
    row = next(r for r in audit.json()["exports"] if r["exportId"] == failed["exportId"])
    assert row["status"] == "failed"
    again = await export(
        stack, world.teacher, course_path(world), {"format": "csv", "sections": ["students"]}
    )
    assert again["rowCount"] == STUDENTS


async def test_a_tampered_or_expired_link_is_refused(stack: Any, world: World) -> None:
    status = await export(
        stack, world.teacher, course_path(world), {"format": "csv", "sections": ["lessons"]}
    )
    link = urlsplit(status["downloadUrl"])
    query = {key: values[0] for key, values in parse_qs(link.query).items()}
    base = f"{link.scheme}://{link.netloc}{link.path}"
    async with httpx.AsyncClient(timeout=10) as browser:
        forged = {
            **query,
            "signature": query["signature"][:-2] + ("AA" if query["signature"][-2:] != "AA" else "BB"),
        }
        assert (await browser.get(f"{base}?{urlencode(forged)}")).status_code == 403
        later = {**query, "expires": str(int(query["expires"]) + 3600)}
        assert (await browser.get(f"{base}?{urlencode(later)}")).status_code == 403
        past = {**query, "expires": "1000000000"}
        answer = await browser.get(f"{base}?{urlencode(past)}")
        assert answer.status_code == 403 and answer.headers["content-type"].startswith(
            "application/problem+json"
        )
        other = base.replace(status["exportId"], str(uuid4()))
        assert (await browser.get(f"{other}?{urlencode(query)}")).status_code == 403
        assert (await browser.get(f"{base}?{urlencode(query)}")).status_code == 200


async def test_bad_requests_say_what_is_allowed(stack: Any, world: World) -> None:
    cases = [
        (course_path(world), {"format": "docx"}, "format", ["csv", "json", "xlsx", "pdf"]),
        (course_path(world), {"format": "csv", "sections": ["students", "gossip"]}, "sections", None),
        ("/api/creator/export", {"type": "secrets", "format": "csv"}, "type", None),
        (
            "/api/creator/export",
            {"type": "students", "format": "csv", "filters": {"colour": "red"}},
            "filters.colour",
            None,
        ),
        (
            "/api/creator/export",
            {"type": "students", "format": "csv", "filters": {"status": "sleepy"}},
            "filters.status",
            None,
        ),
        (
            course_path(world),
            {"format": "csv", "dateRange": {"start": "2026-12-01", "end": "2026-11-01"}},
            "dateRange",
            None,
        ),
    ]
    for path, body, field, allowed in cases:
        answer = await stack.http.post(path, json=body, headers=world.teacher)
        assert answer.status_code == 422, (body, answer.text)
        problem = answer.json()
        assert answer.headers["content-type"].startswith("application/problem+json")
        [error] = problem["errors"]
        assert error["field"] == field, problem
        if allowed is not None:
            assert error["allowed"] == allowed
        if field in ("sections", "type", "filters.colour", "filters.status"):
            assert error["allowed"], problem


async def test_the_audit_log_records_every_export_for_the_requester_and_admins(
    stack: Any, world: World
) -> None:
    done = await export(stack, world.teacher, course_path(world), {"format": "csv", "sections": ["funnel"]})
    history = (await stack.http.get("/api/exports", headers=world.teacher, params={"limit": 100})).json()
    mine = {row["exportId"]: row for row in history["exports"]}
    row = mine[done["exportId"]]
    assert row["status"] == "completed" and row["format"] == "csv" and row["type"] == "course_report"
    assert row["fileSize"] == done["fileSize"] and row["request"]["sections"] == ["funnel"]
    assert row["requestedAt"] and row["finishedAt"] and row["startedAt"]
    teacher_id = row["requesterId"]
    assert all(r["requesterId"] == teacher_id for r in history["exports"])
    admin = await stack.token("admin")
    theirs = await stack.http.get(
        "/api/exports", headers=admin, params={"requesterId": teacher_id, "limit": 100}
    )
    assert done["exportId"] in {r["exportId"] for r in theirs.json()["exports"]}
    refused = await stack.http.get("/api/exports", headers=world.teacher, params={"all": "true"})
    assert refused.status_code == 403


async def test_a_learner_who_completes_the_course_gets_a_certificate_anyone_can_verify(
    stack: Any, world: World
) -> None:
    learner = await stack.token("student", name="Ada Finisher")
    course_id = world.course_id
    assert (await stack.http.post(f"/api/courses/{course_id}/enroll", headers=learner)).status_code == 201
    lessons = [lesson for section in world.course["sections"] for lesson in section["lessons"]]
    certificate_path = f"/api/learner/courses/{course_id}/certificate"
    assert (await stack.http.get(certificate_path, headers=learner)).status_code == 404
    for lesson in lessons[:2]:
        body = {
            "courseId": course_id,
            "lessonId": lesson["id"],
            "viewId": str(uuid4()),
            "timeSpentSeconds": 130,
            "completed": True,
        }
        if lesson["contentType"] == "video":  # a video completes once watched
            body |= {"videoPositionSeconds": 120, "videoDurationSeconds": 120, "watchedRanges": [[0, 120]]}
        tracked = await stack.http.post("/api/learner/track-lesson", json=body, headers=learner)
        assert tracked.status_code == 200, tracked.text
    quiz_id = lessons[2]["quiz"]["id"]
    graded = await stack.http.post(
        f"/api/learner/quizzes/{quiz_id}/attempts", json={"answers": [1, 0]}, headers=learner
    )
    assert graded.status_code in (200, 201), graded.text

    async def issued() -> dict[str, Any] | None:
        answer = await stack.http.get("/api/learner/certificates", headers=learner)
        assert answer.status_code == 200, answer.text
        found = answer.json()["certificates"]
        return found[0] if found else None

    certificate = await eventually(issued)
    assert certificate["courseTitle"] == COURSE["title"] and certificate["learnerName"] == "Ada Finisher"
    assert certificate["instructorName"] == "Grace Teacher"
    pdf = await stack.http.get(certificate_path, headers=learner)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert "Ada Finisher" in text and COURSE["title"] in text and certificate["verificationId"] in text
    async with httpx.AsyncClient(timeout=10) as anyone:  # no token: an employer checking it
        verified = await anyone.get(certificate["verifyUrl"])
        assert verified.status_code == 200, verified.text
        assert verified.json()["valid"] is True and verified.json()["learnerName"] == "Ada Finisher"
        unknown = await anyone.get(f"{stack.base_url}/api/certificates/LS-AAAA-BBBB-CCCC")
        assert unknown.status_code == 404
    # another learner has none for this course
    other = await stack.token("student")
    assert (await stack.http.get(certificate_path, headers=other)).status_code == 404


async def test_the_weekly_digest_is_mailed_to_the_outbox_and_published(
    stack: Any, world: World, infra: Infra
) -> None:
    outbox: Path = stack.exports_settings.mail_outbox_dir
    before = mails_in(outbox)
    async with httpx.AsyncClient(timeout=60) as internal:
        answer = await internal.post(
            f"http://127.0.0.1:{stack.exports_settings.http_port}/internal/digests/send-due",
            headers={"X-Service-Token": stack.exports_settings.service_token.get_secret_value()},
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["sent"] >= 1
    mails = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in mails_in(outbox) - before
    ]
    teacher = (await stack.http.get("/api/me", headers=world.teacher)).json()
    [mine] = [m for m in mails if m["To"] == teacher["email"]]
    assert "Your Learnstream week" in mine["Subject"]
    body = mine.get_body(preferencelist=("plain",)).get_content()
    assert "Students: " in body and "At risk now" in body
    [attachment] = list(mine.iter_attachments())
    pdf = PdfReader(io.BytesIO(attachment.get_content()))
    assert COURSE["title"] in "\n".join(page.extract_text() for page in pdf.pages)
    await events_on(
        infra,
        "learnstream.exports",
        teacher["id"],
        until=lambda events: any(isinstance(e, WeeklyDigestPublished) for e in events),
    )
    # asked again, the week's digest is not sent twice
    async with httpx.AsyncClient(timeout=60) as internal:
        again = await internal.post(
            f"http://127.0.0.1:{stack.exports_settings.http_port}/internal/digests/send-due",
            headers={"X-Service-Token": stack.exports_settings.service_token.get_secret_value()},
        )
    assert again.json()["sent"] == 0


async def test_expired_files_are_deleted_and_their_links_stop_working(stack: Any, world: World) -> None:
    done = await export(stack, world.teacher, course_path(world), {"format": "json", "sections": ["lessons"]})
    exports = stack.servers["exports"][0].config.app.state.exports
    later = datetime.fromisoformat(done["expiresAt"].replace("Z", "+00:00")) + timedelta(seconds=1)
    assert await exports.clean_up(now=later) >= 1
    status = (await stack.http.get(f"/api/exports/{done['exportId']}", headers=world.teacher)).json()
    assert status["status"] == "expired" and status["downloadUrl"] is None
    async with httpx.AsyncClient(timeout=10) as browser:
        assert (await browser.get(done["downloadUrl"])).status_code == 410
    [row] = [
        r
        for r in (await stack.http.get("/api/exports", headers=world.teacher, params={"limit": 100})).json()[
            "exports"
        ]
        if r["exportId"] == done["exportId"]
    ]
    assert row["deletedAt"] is not None


async def test_a_learners_erasure_withdraws_kept_files_that_name_them(stack: Any, world: World) -> None:
    learner = await stack.token("student", name="Erase Me Later")
    assert (
        await stack.http.post(f"/api/courses/{world.course_id}/enroll", headers=learner)
    ).status_code == 201

    async def listed() -> bool:
        answer = await stack.http.get(
            f"/api/instructor/courses/{world.course_id}/students",
            headers=world.teacher,
            params={"search": "Erase Me Later"},
        )
        return answer.status_code == 200 and answer.json()["pagination"]["total"] == 1

    await eventually(listed)
    done = await export(stack, world.teacher, course_path(world), {"format": "csv", "sections": ["students"]})
    assert "Erase Me Later" in (await download(stack, done)).content.decode("utf-8-sig")
    erased = (await stack.http.delete("/api/me", headers=learner)).json()

    async def confirmed() -> bool:
        status = (await stack.http.get(erased["statusUrl"])).json()
        return status["contexts"]["exports"]["status"] == "confirmed"

    await eventually(confirmed)
    status = (await stack.http.get(f"/api/exports/{done['exportId']}", headers=world.teacher)).json()
    assert status["status"] == "expired" and "erasure" in status["error"]
    async with httpx.AsyncClient(timeout=10) as browser:
        assert (await browser.get(done["downloadUrl"])).status_code == 410
