"""Kept course answers over the real service: an answer is reused while nothing of the course
changed, and the first request after a write, an erasure or ``Cache-Control: no-cache``
computes afresh, so nothing projected is hidden by a kept answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from learnstream.events.identity import LearnerErasureRequested
from learnstream.runtime.settings import DEV_SERVICE_TOKEN

from .conftest import AnalyticsApi
from .test_reference import Story

pytestmark = pytest.mark.integration


async def test_a_kept_answer_holds_until_the_course_changes(analytics: AnalyticsApi) -> None:
    answers = analytics.app.state.answers
    recent = datetime.now(UTC) - timedelta(days=2)
    story = Story("article", "video")
    ann, bob = story.learner("Ann"), story.learner("Bob")
    story.enroll(ann, recent)
    story.track(ann, story.lessons[0], 120, recent + timedelta(minutes=5))
    await analytics.publish(story.events)
    await analytics.caught_up()
    me = (story.instructor, "instructor")
    path = f"/api/instructor/courses/{story.course}/analytics"
    pages = [path, f"/api/instructor/courses/{story.course}/lessons/analytics"]

    async def ask(**params: Any) -> tuple[dict[str, Any], int]:
        before = answers.computed
        answer = await analytics.get(path, me, period="30d", **params)
        return answer, answers.computed - before

    first, computed = await ask()
    assert (first["stats"]["totalStudents"], computed) == (1, 1)
    assert await ask() == (first, 0)  # kept
    for page in pages[1:]:  # each report is kept on its own
        assert await analytics.get(page, me) == await analytics.get(page, me)

    # an enrollment projected: the very next answer has it
    story.events.clear()
    story.enroll(bob, datetime.now(UTC) - timedelta(hours=1))
    await analytics.publish(story.events)
    await analytics.caught_up()
    second, computed = await ask()
    assert (second["stats"]["totalStudents"], computed) == (2, 1)
    assert (await ask())[1] == 0

    # asked not to use a kept answer
    headers = {
        "X-Service-Token": DEV_SERVICE_TOKEN,
        "X-Actor-Id": str(story.instructor),
        "X-Actor-Role": "instructor",
        "Cache-Control": "no-cache",
    }
    before = answers.computed
    response = await analytics.http.get(path, headers=headers, params={"period": "30d"})
    assert response.status_code == 200 and answers.computed == before + 1

    # somebody else's course is still not found, kept answer or not
    other = await analytics.http.get(
        path,
        headers={**headers, "X-Actor-Id": str(uuid4()), "Cache-Control": ""},
        params={"period": "30d"},
    )
    assert other.status_code == 404

    # an erasure: the learner is gone from the next answer
    story.events.clear()
    story.add(LearnerErasureRequested(occurred_at=datetime.now(UTC), user_id=ann, request_id=uuid4()))
    await analytics.publish(story.events)
    await analytics.caught_up()
    third, computed = await ask()
    assert (third["stats"]["totalStudents"], third["stats"]["totalTimeSpent"], computed) == (1, 0, 1)
