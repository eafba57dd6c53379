"""What can go wrong in the progress domain, in terms a client can act on.

The HTTP entrypoint maps each class to a status: :class:`NotFound` 404,
:class:`Forbidden` 403, :class:`Conflict` 409, :class:`InvalidInput` and
:class:`Rejected` 422. A tracking item of a batch that raises :class:`Rejected`
is reported with its ``reason`` code while the other items go on.
"""

from __future__ import annotations

from dataclasses import dataclass


class DomainError(Exception):
    """Base of the errors below; ``str(error)`` is the message for people."""


class NotFound(DomainError):
    """The course, lesson, quiz or enrollment does not exist (or is not visible to the caller)."""


class Forbidden(DomainError):
    """The caller may not do this to this object (e.g. another instructor's course)."""


class Conflict(DomainError):
    """The request is valid but the object's state forbids it now (e.g. no quiz attempts left)."""


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field, named by its JSON path (``sections[0].lessons``)."""

    field: str
    message: str


class InvalidInput(DomainError):
    """The input breaks a rule that needs more than its shape to check, field by field."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors[:5]))
        self.errors = errors


class Rejected(DomainError):
    """A tracking report that cannot be accepted; ``reason`` is a stable code for clients."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
