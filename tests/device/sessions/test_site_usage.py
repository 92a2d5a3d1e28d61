"""Per-site usage kept in this process's memory (the UI without a journal, and the fallback
when the journal fails): every device on a site adds up, other sites do not, and the
stricter of memory and journal counts."""

from __future__ import annotations

import asyncio

import pytest

from device.safety import EndReason, Tally, Usage
from device.sessions import SessionResult, UsageLedger
from device.sessions.usage import strictest
from protocols import Mode


def result(mode: Mode, started_s: float, running_s: float, cem43_min: float = 0.0):
    tally = Tally(running_s=running_s, cem43_min=cem43_min)
    return SessionResult(
        "s", None, mode, running_s / 60, running_s / 60, EndReason.COMPLETED, "", tally,
        started_s=started_s, ended_s=started_s + running_s,
    )  # fmt: skip


def test_memory_adds_up_devices_on_one_site_and_keeps_sites_apart() -> None:
    """A belt and a pad on lower-back count together there; neck sees none of it; a
    session recorded without a site counts on no site."""
    ledger = UsageLedger()
    asyncio.run(ledger.recorded("belt", "b", result(Mode.LIGHT, 0, 600), "lower-back"))
    ledger.record("pad", result(Mode.HEAT, 700, 1200, cem43_min=12.5), "lower-back")
    ledger.record("pad2", result(Mode.HEAT, 2000, 600, cem43_min=3.0), "lower-back")
    ledger.record("pad", result(Mode.COLD, 3000, 600), "lower-back")
    ledger.record("pad", result(Mode.HEAT, 4000, 600, cem43_min=1.0))
    back = asyncio.run(ledger.usage_for("other-device", 5000, "lower-back"))
    assert back.site == "lower-back"
    assert (back.site_heat_sessions_24h, back.site_light_s_24h) == (2, 600)
    assert back.site_heat_cem43_24h_min == pytest.approx(15.5)
    assert back.s_since_site_cold_start == 2000
    neck = ledger.usage("pad", 5000, "neck")
    assert (neck.site_heat_sessions_24h, neck.site_light_s_24h) == (0, 0)
    assert neck.s_since_site_cold_start is None
    later = ledger.usage("pad", 25 * 3600.0, "lower-back")
    assert (later.site_heat_sessions_24h, later.site_light_s_24h) == (0, 0)


def test_the_stricter_of_memory_and_journal_counts_per_site_too() -> None:
    """strictest takes the larger site counts and the shorter time since a cold start."""
    a = Usage(
        site="neck", site_heat_sessions_24h=1, site_light_s_24h=900, s_since_site_cold_start=50
    )
    b = Usage(site="neck", site_heat_sessions_24h=3, site_heat_cem43_24h_min=9.0,
              s_since_site_cold_start=10)  # fmt: skip
    both = strictest(a, b)
    assert (both.site_heat_sessions_24h, both.site_heat_cem43_24h_min) == (3, 9.0)
    assert (both.site_light_s_24h, both.s_since_site_cold_start) == (900, 10)
    assert strictest(Usage(), b).site == "neck"
