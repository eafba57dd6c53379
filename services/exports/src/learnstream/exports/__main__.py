"""``python -m learnstream.exports`` runs the exports service."""

from learnstream.exports.bootstrap import build
from learnstream.exports.config import Settings
from learnstream.runtime.service import serve

settings = Settings()
serve(build(settings), settings)
