"""``python -m learnstream.achievements`` runs the achievements service."""

from learnstream.achievements.bootstrap import build
from learnstream.achievements.config import Settings
from learnstream.runtime.service import serve

settings = Settings()
serve(build(settings), settings)
