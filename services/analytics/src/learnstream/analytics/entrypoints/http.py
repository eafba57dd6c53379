"""HTTP routes of the analytics service."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["analytics"])
