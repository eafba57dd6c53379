"""``python -m learnstream.chat`` runs the chat service."""

from learnstream.chat.bootstrap import build
from learnstream.chat.config import Settings
from learnstream.runtime.service import serve

settings = Settings()
serve(build(settings), settings)
