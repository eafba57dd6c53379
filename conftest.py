"""Test-wide fixtures: the real servers come from the devstack's pytest plugin."""

pytest_plugins = ["learnstream.devstack.testing"]
