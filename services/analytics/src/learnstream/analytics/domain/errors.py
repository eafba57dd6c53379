"""What can go wrong in a report request, in terms the HTTP layer turns into problems."""

from __future__ import annotations


class InvalidQuery(Exception):
    """A query parameter is unusable (422, naming the parameter)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class NotFound(Exception):
    """The course or learner does not exist for this caller (404, the same for foreign ones)."""
