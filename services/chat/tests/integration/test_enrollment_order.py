"""Who may ask about a course when a learner's enrollment events arrive out of order.

Progress keys a learner's events by learner, so in production they arrive in order; a replay,
a re-drive from the dead-letter topic or a producer bug can bring an older one after a newer
one. Chat keeps what the newest of them says: a learner who left stays out even if their
enrollment arrives after the cancellation, and one who came back stays in."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from learnstream.events import DomainEvent
from learnstream.events.base import utc_now
from learnstream.events.identity import UserRegistered
from learnstream.events.progress import EnrollmentCancelled, EnrollmentCreated

from .conftest import ChatApi, Course

pytestmark = pytest.mark.integration


def enrollment(learner: UUID, course: Course, enrollment_id: UUID, minutes: int) -> EnrollmentCreated:
    at = utc_now() - timedelta(hours=1) + timedelta(minutes=minutes)
    return EnrollmentCreated(
        learner_id=learner,
        enrollment_id=enrollment_id,
        course_id=course.id,
        enrolled_at=at,
        occurred_at=at,
        instructor_id=course.instructor,
    )


def cancellation(learner: UUID, course: Course, enrollment_id: UUID, minutes: int) -> EnrollmentCancelled:
    at = utc_now() - timedelta(hours=1) + timedelta(minutes=minutes)
    return EnrollmentCancelled(
        learner_id=learner, enrollment_id=enrollment_id, course_id=course.id, occurred_at=at
    )


async def delivered(chat: ChatApi, learner: UUID, *events: DomainEvent) -> None:
    """Publish the learner's ``events`` in this order and wait until chat has applied them all:
    an enrollment in a course of its own, published last on the same partition (the learner's
    key), is applied after them."""
    marker = await chat.course("Marker")
    await chat.publish(*events, enrollment(learner, marker, uuid4(), minutes=59))
    await chat.wait_until_enrolled((learner, "student"), marker)


async def may_ask(chat: ChatApi, learner: UUID, course: Course) -> bool:
    started = await chat.call(
        "POST", "/api/chat/sessions", (learner, "student"), json={"courseId": str(course.id)}
    )
    assert started.status_code in (201, 404), started.text
    return started.status_code == 201


async def registered(chat: ChatApi) -> UUID:
    learner = uuid4()
    await chat.publish(UserRegistered(user_id=learner, role="student", display_name="Ada", timezone="UTC"))
    return learner


async def test_a_cancellation_that_arrives_before_its_enrollment_still_wins(chat: ChatApi) -> None:
    course = await chat.course()
    learner = await registered(chat)
    enrolled_id = uuid4()
    await delivered(
        chat,
        learner,
        cancellation(learner, course, enrolled_id, minutes=10),
        enrollment(learner, course, enrolled_id, minutes=0),
    )
    assert not await may_ask(chat, learner, course)


async def test_a_late_enrollment_does_not_undo_a_newer_cancellation(chat: ChatApi) -> None:
    """In order first (enrolled, left), then the enrollment again (a re-drive): still out."""
    course = await chat.course()
    learner = await registered(chat)
    enrolled_id = uuid4()
    first = enrollment(learner, course, enrolled_id, minutes=0)
    await delivered(chat, learner, first, cancellation(learner, course, enrolled_id, minutes=10))
    assert not await may_ask(chat, learner, course)
    await delivered(chat, learner, first.model_copy(update={"event_id": uuid4()}))
    assert not await may_ask(chat, learner, course)


async def test_a_learner_who_came_back_stays_enrolled_whatever_the_order(chat: ChatApi) -> None:
    """Enrolled, left, enrolled again; delivered newest first: enrolled."""
    course = await chat.course()
    learner = await registered(chat)
    enrolled_id = uuid4()
    await delivered(
        chat,
        learner,
        enrollment(learner, course, enrolled_id, minutes=20),
        enrollment(learner, course, enrolled_id, minutes=0),
        cancellation(learner, course, enrolled_id, minutes=10),
    )
    assert await may_ask(chat, learner, course)


async def test_in_order_a_learner_leaves_and_comes_back(chat: ChatApi) -> None:
    course = await chat.course()
    learner = await registered(chat)
    enrolled_id = uuid4()
    await delivered(chat, learner, enrollment(learner, course, enrolled_id, minutes=0))
    assert await may_ask(chat, learner, course)
    await delivered(chat, learner, cancellation(learner, course, enrolled_id, minutes=10))
    assert not await may_ask(chat, learner, course)
    await delivered(chat, learner, enrollment(learner, course, enrolled_id, minutes=20))
    assert await may_ask(chat, learner, course)
