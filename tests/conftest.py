"""Shared test setup: a deterministic hypothesis profile."""

from __future__ import annotations

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
