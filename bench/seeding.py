"""What several scenarios seed through the public API the same way: accounts from the dev
token and published courses of eight article lessons."""

from __future__ import annotations

from typing import Any

import aiohttp

from bench.stack import json_of


def article_course(title: str, *, lesson_seconds: int) -> dict[str, Any]:
    """A course body of two sections of four article lessons."""
    lessons = [
        {
            "title": f"Lesson {i + 1}",
            "contentType": "article",
            "durationSeconds": lesson_seconds,
            "body": "Text.",
        }
        for i in range(8)
    ]
    return {
        "title": title,
        "description": "Seeded by the benchmark",
        "category": "benchmark",
        "difficulty": "beginner",
        "sections": [
            {"title": "Part one", "lessons": lessons[:4]},
            {"title": "Part two", "lessons": lessons[4:]},
        ],
    }


async def dev_token(http: aiohttp.ClientSession, email: str, role: str) -> str:
    """An access token for the user with ``email`` (created on first use, dev mode)."""
    async with http.post("/api/auth/dev-token", json={"email": email, "role": role}) as answer:
        return str((await json_of(answer))["accessToken"])


async def published_course(http: aiohttp.ClientSession, token: str, body: dict[str, Any]) -> dict[str, Any]:
    """The course made from ``body`` by the instructor behind ``token``, published."""
    headers = {"Authorization": f"Bearer {token}"}
    async with http.post("/api/instructor/courses", json=body, headers=headers) as answer:
        course: dict[str, Any] = await json_of(answer)
    async with http.post(f"/api/instructor/courses/{course['id']}/publish", headers=headers) as answer:
        await json_of(answer)
    return course
