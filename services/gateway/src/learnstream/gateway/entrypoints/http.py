"""HTTP routes of the gateway service."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["gateway"])
