"""HTTP routes of the achievements service."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["achievements"])
