"""The weekly digest: once a week (on a configurable weekday and UTC hour) every instructor
gets a short PDF summary of their courses by mail, and ``WeeklyDigestPublished`` says so.

Each instructor's digest of a week is claimed in the database before it is produced (one
row per instructor and ISO week), so replicas never send it twice; a digest that cannot
be produced (analytics or the gateway down) gives its claim back and is tried again at the
next check. The figures are read from analytics as the instructor, like every export.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from uuid import UUID, uuid4

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from learnstream.events.exports import WeeklyDigestPublished
from learnstream.exports.adapters import jobs
from learnstream.exports.adapters.analytics import AnalyticsClient, DataRefused, DataUnavailable
from learnstream.exports.adapters.mail import Attachment, Mail, Mailer
from learnstream.exports.adapters.pdf import render_pdf
from learnstream.exports.adapters.people import Accounts, AccountUnavailable
from learnstream.exports.domain.exports import Column, Report, Table
from learnstream.runtime.eventstore import EventStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Schedule:
    weekday: int
    """0 = Monday … 6 = Sunday."""
    hour: int
    """UTC hour of that day."""

    def due_week(self, now: datetime) -> str | None:
        """The ISO week whose digest is due at ``now`` (None before this week's send time)."""
        year, week, _ = now.astimezone(UTC).isocalendar()
        monday = date.fromisocalendar(year, week, 1)
        send_at = datetime.combine(monday + timedelta(days=self.weekday), time(self.hour), tzinfo=UTC)
        return f"{year}-W{week:02d}" if now >= send_at else None


class Digests:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        store: EventStore,
        analytics: AnalyticsClient,
        accounts: Accounts,
        mailer: Mailer,
        schedule: Schedule,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.analytics = analytics
        self.accounts = accounts
        self.mailer = mailer
        self.schedule = schedule

    async def run(self, interval: float) -> None:
        """The background job: send what is due, then look again after ``interval`` seconds."""
        while True:
            sent = await self.send_due(datetime.now(UTC))
            if sent:
                log.info("weekly digests sent", extra={"count": sent})
            await asyncio.sleep(interval)

    async def send_due(self, now: datetime) -> int:
        week = self.schedule.due_week(now)
        if week is None:
            return 0
        async with self.sessions() as session:
            instructors = await jobs.instructors(session)
        sent = 0
        for instructor in instructors:
            digest_id = uuid4()
            async with self.sessions.begin() as session:
                if not await jobs.claim_digest(session, instructor, week, digest_id, now):
                    continue
            try:
                await self._send(instructor, week, digest_id, now)
                sent += 1
            except (DataUnavailable, DataRefused, AccountUnavailable) as exc:
                log.warning(
                    "weekly digest postponed", extra={"instructor": str(instructor), "reason": str(exc)}
                )
                async with self.sessions.begin() as session:
                    await jobs.release_digest(session, digest_id)
        return sent

    async def _send(self, instructor: UUID, week: str, digest_id: UUID, now: datetime) -> None:
        actor = (instructor, "instructor")
        at = now.isoformat()
        dashboard, students, progress, courses = await asyncio.gather(
            self.analytics.get("/api/creator/dashboard", actor, period="7d", now=at),
            self.analytics.get("/internal/exports/students", actor, now=at),
            self.analytics.get("/internal/exports/progress", actor, now=at),
            self.analytics.get("/internal/exports/courses", actor),
        )
        account = await self.accounts.account(instructor)
        if not account.get("email"):
            raise AccountUnavailable(f"account {instructor} has no e-mail address")
        week_ago = now - timedelta(days=7)
        new = sum(
            1
            for s in students["students"]
            if datetime.fromisoformat(s["firstEnrolledAt"].replace("Z", "+00:00")) >= week_ago
        )
        at_risk = int(students["tiers"].get("at_risk", 0))
        active = int(dashboard["students"]["active"])
        questions = int(dashboard["support"]["questionsAsked"])
        per_course: dict[str, list[float]] = {}
        for row in progress["progress"]:
            per_course.setdefault(row["courseId"], []).append(row["progress"])
        rows = [
            {
                "title": course["title"],
                "status": course["status"],
                "students": len(per_course.get(course["id"], [])),
                "progress": round(sum(per_course[course["id"]]) / len(per_course[course["id"]]), 1)
                if per_course.get(course["id"])
                else 0.0,
            }
            for course in courses["courses"]
        ]
        figures = [
            ("Courses", f"{len(rows)}"),
            ("Students", f"{dashboard['students']['total']:,}"),
            ("Active in the last 7 days", f"{active:,} ({dashboard['students']['activePercentage']:g}%)"),
            ("New in the last 7 days", f"{new:,}"),
            ("At risk now", f"{at_risk:,}"),
            ("Questions asked of the assistant", f"{questions:,}"),
            ("Helpful replies (rated)", f"{dashboard['support']['satisfactionRate']:g}%"),
        ]
        report = Report(
            title=f"Your week on Learnstream ({week})",
            subtitle=f"For {account.get('fullName') or 'you'}: the seven days to {now:%Y-%m-%d %H:%M} UTC",
            generated_at=now,
            period=(week_ago, now),
            tables=[
                Table(
                    "courses",
                    "Your courses",
                    (
                        Column("title", "Course"),
                        Column("status", "Status"),
                        Column("students", "Students", "int"),
                        Column("progress", "Average progress", "percent"),
                    ),
                    rows,
                )
            ],
            figures=figures,
        )
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "digest.pdf"
            await asyncio.to_thread(render_pdf, report, path)
            pdf = path.read_bytes()
        text = "\n".join(
            [f"Hello {account.get('fullName') or ''},".replace(" ,", ","), "", f"Your week {week}:"]
            + [f"- {label}: {value}" for label, value in figures]
            + ["", "The attached PDF has the figures per course.", "", "Learnstream"]
        )
        await self.mailer.send(
            Mail(
                message_id=digest_id,
                to=str(account["email"]),
                subject=f"Your Learnstream week {week}: {active} active, {new} new, {at_risk} at risk",
                text=text,
                attachments=(Attachment(f"learnstream-digest-{week}.pdf", pdf),),
            )
        )
        event = WeeklyDigestPublished(
            requester_id=instructor,
            digest_id=digest_id,
            week=week,
            courses=len(rows),
            active_students=active,
            new_students=new,
            at_risk_students=at_risk,
            questions=questions,
            delivered_via=self.mailer.name,
        )
        async with self.sessions.begin() as session:
            await self.store.append(session, f"digest-{digest_id}", 0, [event])
            await jobs.digest_sent(session, digest_id, datetime.now(UTC))
