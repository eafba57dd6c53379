"""HTTP routes of the exports service."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["exports"])
