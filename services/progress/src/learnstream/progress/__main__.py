"""``python -m learnstream.progress`` runs the progress service."""

from learnstream.progress.bootstrap import build
from learnstream.progress.config import Settings
from learnstream.runtime.service import serve

settings = Settings()
serve(build(settings), settings)
