"""Certificates of completion: issued once per learner and course when the course is
completed, drawn as a PDF on request (with the names as they are now), and verifiable by
anyone who has the code printed on it.

A verification id is 12 random characters from a 32-letter alphabet without look-alikes
(0/O, 1/I/L), grouped like ``LS-7KQ2-M9XD-4TZA``: 60 bits, so codes cannot be guessed.
"""

from __future__ import annotations

import io
import secrets
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from learnstream.events.exports import CertificateIssued
from learnstream.events.progress import CourseCompleted
from learnstream.exports.adapters import jobs
from learnstream.exports.adapters.pdf import render_certificate
from learnstream.exports.domain.exports import fallback_name
from learnstream.runtime.actors import Actor
from learnstream.runtime.eventstore import EventStore

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def verification_code() -> str:
    groups = ["".join(secrets.choice(ALPHABET) for _ in range(4)) for _ in range(3)]
    return "LS-" + "-".join(groups)


class CertificateNotFound(Exception):
    """No such certificate (or not the caller's)."""


class Certificates:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], store: EventStore, public_base_url: str
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.public_base_url = public_base_url.rstrip("/")

    async def issue(self, session: AsyncSession, event: CourseCompleted) -> bool:
        """Issue the certificate of a completed course, unless the learner has it already."""
        if await jobs.certificate_of(session, event.learner_id, event.course_id) is not None:
            return False
        issued = CertificateIssued(
            requester_id=event.learner_id,
            actor_id=event.learner_id,
            certificate_id=uuid4(),
            verification_id=verification_code(),
            course_id=event.course_id,
            completed_at=event.occurred_at,
        )
        await self.store.append(
            session, jobs.certificate_stream(event.learner_id, event.course_id), 0, [issued]
        )
        return True

    def verify_url(self, code: str) -> str:
        return f"{self.public_base_url}/api/certificates/{code}"

    def _out(self, row: dict[str, Any]) -> dict[str, Any]:
        return {
            "verificationId": row["verification_id"],
            "courseId": str(row["course_id"]),
            "courseTitle": row["course_title"] or "",
            "learnerName": row["learner_name"] or fallback_name(row["learner_id"]),
            "instructorName": row["instructor_name"] or "",
            "completedAt": _iso(row["completed_at"]),
            "issuedAt": _iso(row["issued_at"]),
            "verifyUrl": self.verify_url(row["verification_id"]),
        }

    async def mine(self, actor: Actor) -> dict[str, Any]:
        async with self.sessions() as session:
            rows = await jobs.certificates_of(session, actor.user_id)
        return {"certificates": [self._out(row) for row in rows]}

    async def pdf(self, actor: Actor, course_id: UUID) -> tuple[bytes, str]:
        """The caller's certificate of ``course_id`` as a PDF, and its file name."""
        async with self.sessions() as session:
            row = await jobs.certificate_of(session, actor.user_id, course_id)
        if row is None:
            raise CertificateNotFound(f"no certificate of course {course_id}: the course is not completed")
        out = self._out(row)
        buffer = io.BytesIO()
        render_certificate(
            buffer,
            learner=out["learnerName"],
            course=out["courseTitle"],
            instructor=out["instructorName"],
            completed_at=row["completed_at"].astimezone(UTC),
            verification_id=out["verificationId"],
            verify_url=out["verifyUrl"],
        )
        return buffer.getvalue(), f"certificate-{out['verificationId']}.pdf"

    async def verify(self, code: str) -> dict[str, Any]:
        """What a certificate certifies, for anyone holding its code."""
        async with self.sessions() as session:
            row = await jobs.certificate_by_code(session, code.strip().upper())
        if row is None:
            raise CertificateNotFound(f"no certificate has the verification id {code!r}")
        return {"valid": True, **self._out(row)}


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if value else None
