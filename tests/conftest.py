"""Shared test setup: a deterministic hypothesis profile."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

# Derandomized: the same examples every run, so the suite is deterministic.
settings.register_profile(
    "therapyctl",
    derandomize=True,
    deadline=None,
    max_examples=300,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("therapyctl")


@pytest.fixture(autouse=True)
def private_journal(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test (and every therapyctl it starts) gets a journal of its own: no test sees
    another's sessions (daily light time, heat rest) through the default journal."""
    path = tmp_path_factory.mktemp("journal") / "journal.sqlite3"
    monkeypatch.setenv("THERAPYCTL_DB", str(path))
    return path


@pytest.fixture(autouse=True)
def private_bonds(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test (and every therapyctl it starts) keeps its bonds in a directory of its own:
    nothing is written to the user's data directory, and no test is paired by another."""
    path = tmp_path_factory.mktemp("bonds")
    monkeypatch.setenv("THERAPYCTL_KEYS", str(path))
    return path
