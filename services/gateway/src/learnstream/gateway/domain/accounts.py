"""Accounts: who may register, with which email, password, role and time zone.

Pure rules, no I/O; the service layer stores accounts and publishes their events.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Role = Literal["student", "instructor", "admin"]
SELF_SERVICE_ROLES: tuple[Role, ...] = ("student", "instructor")
"""Roles a person may choose when registering; admins are made by admins (or the dev token)."""

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request, named by the field it is about."""

    field: str
    message: str


class AccountRejected(Exception):
    """The registration or profile change breaks a rule; ``problems`` says which."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


def normalize_email(email: str) -> str:
    """The form an email is stored and compared in: trimmed, NFC, lower-cased."""
    return unicodedata.normalize("NFC", email.strip()).lower()


def email_problems(email: str) -> list[Problem]:
    if len(email) > 254 or not _EMAIL.match(email):
        return [Problem("email", "must be an email address such as ada@example.com")]
    return []


def password_problems(password: str, *, email: str = "") -> list[Problem]:
    """What makes ``password`` unacceptable, in words a person can act on."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(Problem("password", f"must be at least {MIN_PASSWORD_LENGTH} characters long"))
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(Problem("password", f"must be at most {MAX_PASSWORD_LENGTH} characters long"))
    if password and len(set(password)) < 4:
        problems.append(Problem("password", "must use at least 4 different characters"))
    local = email.split("@", 1)[0].lower()
    if local and len(local) >= 4 and local in password.lower():
        problems.append(Problem("password", "must not contain your email address"))
    return problems


def timezone_problems(name: str) -> list[Problem]:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return [Problem("timezone", f"{name!r} is not an IANA time zone such as Europe/Berlin")]
    return []


def display_name_problems(name: str) -> list[Problem]:
    cleaned = " ".join(name.split())
    if not 1 <= len(cleaned) <= 100:
        return [Problem("fullName", "must be 1 to 100 characters")]
    return []


def registration_problems(
    *, email: str, password: str, full_name: str, role: str, timezone: str
) -> list[Problem]:
    """Every rule a registration breaks (all of them, so the form can show them at once)."""
    problems = email_problems(email)
    problems += password_problems(password, email=email)
    problems += display_name_problems(full_name)
    if role not in SELF_SERVICE_ROLES:
        problems.append(Problem("role", f"must be one of {', '.join(SELF_SERVICE_ROLES)}"))
    problems += timezone_problems(timezone)
    return problems
