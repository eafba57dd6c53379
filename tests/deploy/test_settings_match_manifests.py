"""Every variable the production manifests set is one the service actually reads.

A misspelt or forgotten variable is silently ignored by pydantic-settings, so the
compose file and each service's ``Settings`` are compared here.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("gateway", "progress", "chat", "achievements", "analytics", "exports")


def compose_environment(service: str) -> dict[str, str]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    environment = compose["services"][service]["environment"]
    if isinstance(environment, list):
        return dict(item.split("=", 1) for item in environment)
    return environment


def settings_variables(service: str) -> set[str]:
    settings = importlib.import_module(f"learnstream.{service}.config").Settings
    return {f"LEARNSTREAM_{name.upper()}" for name in settings.model_fields}


@pytest.mark.parametrize("service", SERVICES)
def test_compose_sets_only_variables_the_service_reads(service: str) -> None:
    set_in_compose = {name for name in compose_environment(service) if name.startswith("LEARNSTREAM_")}
    assert set_in_compose - settings_variables(service) == set()


@pytest.mark.parametrize("service", SERVICES)
def test_compose_gives_each_service_its_own_database(service: str) -> None:
    assert compose_environment(service)["LEARNSTREAM_DATABASE_URL"].endswith(f"/learnstream_{service}")
