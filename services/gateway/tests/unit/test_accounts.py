"""Registration rules and password hashing."""

from __future__ import annotations

import pytest

from learnstream.gateway.adapters.passwords import hash_password, needs_rehash, verify_password
from learnstream.gateway.domain.accounts import normalize_email, registration_problems


def problems(**changes: str) -> list[tuple[str, str]]:
    fields = {
        "email": "ada@example.com",
        "password": "correct horse battery",
        "full_name": "Ada Lovelace",
        "role": "student",
        "timezone": "Europe/London",
    }
    fields.update(changes)
    return [(p.field, p.message) for p in registration_problems(**fields)]


def test_a_good_registration_has_no_problems() -> None:
    assert problems() == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@b"}, "email"),
        ({"password": "short"}, "password"),
        ({"password": "aaaaaaaaaaaa"}, "password"),
        ({"password": "ada-lovelace-99", "email": "ada-lovelace@example.com"}, "password"),
        ({"full_name": "   "}, "fullName"),
        ({"role": "admin"}, "role"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "America"}, "timezone"),
    ],
)
def test_each_broken_rule_names_its_field(changes: dict[str, str], field: str) -> None:
    found = problems(**changes)
    assert [f for f, _ in found] == [field], found


def test_all_problems_are_reported_at_once() -> None:
    assert {f for f, _ in problems(email="x", password="1", role="root")} == {"email", "password", "role"}


def test_emails_compare_case_insensitively() -> None:
    assert normalize_email("  Ada@Example.COM ") == "ada@example.com"


def test_passwords_are_hashed_with_argon2id_and_verified() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "correct horse battery!")
    assert not verify_password(None, "correct horse battery")  # unknown account, same work
    assert not verify_password("not a hash", "correct horse battery")
    assert not needs_rehash(stored)
