"""``python -m learnstream.gateway`` runs the gateway service."""

from learnstream.gateway.bootstrap import build
from learnstream.gateway.config import Settings
from learnstream.runtime.service import serve

settings = Settings()
serve(build(settings), settings)
