"""HTTP routes of the achievements service, on the gateway's paths (``spec/API.md``).

The gateway forwards them with the caller in ``X-Actor-Id`` / ``X-Actor-Role`` next to its
service credential; every answer is about the caller only (a leaderboard shows others'
display names, levels and XP in the period, nothing else).
"""

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query

from learnstream.achievements.entrypoints.schemas import (
    AnnouncedOut,
    ExportOut,
    LeaderboardOut,
    LedgerOut,
    OverviewOut,
    RebuildOut,
)
from learnstream.achievements.service_layer.services import AchievementsService
from learnstream.runtime.actors import Actor, actor_dependency, require_service_token


def build_router(service: AchievementsService, service_token: str) -> APIRouter:
    router = APIRouter(tags=["achievements"])
    CurrentActor = Annotated[Actor, actor_dependency(service_token)]

    @router.get("/api/learner/achievements", response_model=OverviewOut)
    async def overview(actor: CurrentActor) -> dict[str, Any]:
        """Earned achievements with dates, locked ones with progress toward them, XP, level and
        streaks (in the learner's time zone)."""
        return await service.overview(actor)

    @router.post("/api/learner/achievements/announce", response_model=AnnouncedOut)
    async def announce(actor: CurrentActor) -> dict[str, Any]:
        """The caller's achievements earned since they were last told (each is told once): the
        gateway adds them to a tracking answer as ``newAchievements``."""
        return {"new_achievements": await service.announce(actor)}

    @router.get("/api/learner/xp", response_model=LedgerOut)
    async def ledger(
        actor: CurrentActor,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    ) -> dict[str, Any]:
        """The caller's XP awards, newest first, each naming the event that earned it."""
        return await service.ledger(actor, limit, offset)

    @router.get("/api/leaderboard", response_model=LeaderboardOut)
    async def leaderboard(
        actor: CurrentActor,
        period: Annotated[
            Literal["weekly", "monthly", "all-time"],
            Query(description="This week (from Monday 00:00 UTC), this month (UTC) or all time."),
        ] = "weekly",
        course_id: Annotated[
            UUID | None, Query(alias="courseId", description="Only XP earned in this course.")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=100, description="Learners to list from the top.")] = 10,
    ) -> dict[str, Any]:
        """The learners with the most XP in the period, and the caller's own place."""
        return await service.leaderboard(actor, period, course_id, limit)

    @router.get("/api/me/data-export", response_model=ExportOut)
    async def data_export(actor: CurrentActor) -> dict[str, Any]:
        """Everything kept about the caller: XP ledger, days of learning, achievements (the
        gateway's data export)."""
        return await service.export(actor)

    @router.post(
        "/internal/leaderboards/rebuild",
        response_model=RebuildOut,
        dependencies=[require_service_token(service_token)],
        tags=["operations"],
    )
    async def rebuild() -> dict[str, Any]:
        """Rebuild every leaderboard from the XP ledger (after Redis lost data, or to check it)."""
        return {"boards": await service.rebuild_leaderboards()}

    return router
