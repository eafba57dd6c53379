"""HTTP routes of the progress service."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["progress"])
