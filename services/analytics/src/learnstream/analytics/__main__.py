"""``python -m learnstream.analytics`` runs the analytics service."""

from learnstream.analytics.bootstrap import build
from learnstream.analytics.config import Settings
from learnstream.runtime.service import serve

settings = Settings()
serve(build(settings), settings)
