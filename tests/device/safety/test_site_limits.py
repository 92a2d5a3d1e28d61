"""The per-body-site limits as pure rules: heat sessions and CEM43 per site in 24 h, light
minutes per site in 24 h, cold every 2 h per site; clamped or refused in plain words,
tighten-only, and site names validated."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device.safety import (
    DEFAULT_LIMITS,
    KNOWN_SITES,
    EndReason,
    LimitsError,
    SessionRequest,
    SiteError,
    StopOutput,
    Supervisor,
    Usage,
    normalise_site,
    plan_session,
)
from protocols import Mode
from tests.device.helpers import BELT_800, HEAT_PAD, THERMAL_PAD, running, status

HEAT_10 = SessionRequest(Mode.HEAT, 600, setpoint_c=40.0)
COLD_10 = SessionRequest(Mode.COLD, 600, setpoint_c=15.0)
LIGHT_30 = SessionRequest(Mode.LIGHT, 1800, level=2)


def test_site_limit_defaults_are_the_guidance_and_only_tighten() -> None:
    """4 heat sessions and 60 CEM43 min, 30 min light per site per 24 h, cold every 2 h per
    site; a file may lower the caps and lengthen the wait, never the other way."""
    d = DEFAULT_LIMITS
    assert (d.site_heat_sessions_24h, d.site_heat_cem43_24h_min) == (4, 60)
    assert (d.site_light_daily_s, d.site_cold_rest_s) == (1800, 7200)
    tighter = d.tightened(
        site_heat_sessions_24h=2,
        site_heat_cem43_24h_min=30,
        site_light_daily_s=600,
        site_cold_rest_s=3 * 3600,
    )
    assert tighter.site_heat_sessions_24h == 2 and tighter.site_cold_rest_s == 10800
    with pytest.raises(LimitsError, match="5 is looser than the 4 in force"):
        d.tightened(site_heat_sessions_24h=5)
    with pytest.raises(LimitsError, match="3600 is looser than the 7200 in force"):
        d.tightened(site_cold_rest_s=3600)
    with pytest.raises(LimitsError, match="must be positive"):
        d.tightened(site_light_daily_s=0)
    with pytest.raises(LimitsError, match="plain finite number"):
        d.tightened(site_heat_cem43_24h_min=float("inf"))


@given(sessions=st.integers(0, 10))
def test_heat_is_refused_on_the_fifth_session_of_a_site(sessions: int) -> None:
    """Heat on a site with 4 or more heat sessions in 24 h is refused as daily_limit, naming
    the site; fewer: planned."""
    usage = Usage(site="lower-back", site_heat_sessions_24h=sessions)
    plan = plan_session(DEFAULT_LIMITS, HEAT_PAD, usage, HEAT_10)
    if sessions >= 4:
        assert plan.start is None and plan.refused == EndReason.DAILY_LIMIT
        assert "heat on lower-back is limited to 4 sessions in any 24 hours" in plan.message
    else:
        assert plan.start is not None


@given(dose=st.floats(0, 500, allow_nan=False))
def test_heat_is_refused_once_the_site_dose_reaches_60_cem43(dose: float) -> None:
    """A site whose CEM43 in 24 h reached 60 min takes no more heat."""
    usage = Usage(site="neck", site_heat_cem43_24h_min=dose)
    plan = plan_session(DEFAULT_LIMITS, HEAT_PAD, usage, HEAT_10)
    assert (plan.start is None) == (dose >= 60)
    if plan.start is None:
        assert "thermal dose on neck" in plan.message and "60 CEM43 min limit" in plan.message


def test_a_heat_session_stops_when_the_site_dose_is_used_up() -> None:
    """55 CEM43 min already on the site: a hot session stops as thermal_dose once 5 more
    accrue, long before its own 20 CEM43 min cap."""
    usage = Usage(site="lower-back", site_heat_cem43_24h_min=55.0)
    sup = running(SessionRequest(Mode.HEAT, 1200, setpoint_c=42.0), usage=usage)
    reasons: list[EndReason] = []
    for t in range(1, 1200):
        actions = sup.on_status(status(temperature_c=42.2 + (t % 2) / 100, elapsed_s=t), t)
        reasons += [a.reason for a in actions if isinstance(a, StopOutput)]
        if reasons:
            break
    assert reasons == [EndReason.THERMAL_DOSE]
    assert sup.tally.cem43_min == pytest.approx(5.0, abs=0.1)


@given(used_s=st.floats(0, 3600, allow_nan=False))
def test_light_on_a_site_is_clamped_to_what_is_left_of_30_min(used_s: float) -> None:
    """Light already on the site: a 30-min request runs what is left of the site's 30 min
    (clamped, in words), or is refused under a minute."""
    usage = Usage(site="abdomen", site_light_s_24h=used_s)
    plan = plan_session(DEFAULT_LIMITS, BELT_800, usage, LIGHT_30)
    left_s = 1800 - used_s
    if left_s < 60:
        assert plan.start is None and plan.refused == EndReason.DAILY_LIMIT
        assert "light treatment of abdomen" in plan.message
    else:
        assert plan.start is not None and plan.start.duration_s <= max(1, int(left_s))
        if left_s < 1800:
            [clamp] = [c for c in plan.clamps if c.limit == "site_light_daily"]
            assert "light on abdomen is limited to 30 min in any 24 hours" in clamp.message


def test_light_running_past_the_site_limit_stops_as_daily_limit() -> None:
    """A belt whose own timer runs on past what the site had left stops as daily_limit."""
    usage = Usage(site="abdomen", site_light_s_24h=1700)
    sup = Supervisor(DEFAULT_LIMITS, BELT_800, usage)
    assert sup.plan(SessionRequest(Mode.LIGHT, 1800, level=4), 90).start is not None
    sup.started(0)
    reasons: list[EndReason] = []
    for t in range(1, 300):
        reading = status(mode=Mode.LIGHT, temperature_c=33 + (t % 2) / 100, power_mw=800)
        reasons += [a.reason for a in sup.on_status(reading, t) if isinstance(a, StopOutput)]
        if reasons:
            break
    assert reasons == [EndReason.DAILY_LIMIT]
    assert sup.tally.running_s < 120


@given(since_s=st.floats(0, 4 * 3600, allow_nan=False))
def test_cold_on_a_site_waits_2_hours_start_to_start(since_s: float) -> None:
    """Cold started on the site less than 2 h ago (by any device): refused as
    rest_required with the minutes to go; 2 h or more: planned."""
    usage = Usage(site="knee-left", s_since_site_cold_start=since_s)
    plan = plan_session(DEFAULT_LIMITS, THERMAL_PAD, usage, COLD_10)
    if since_s < 7200:
        assert plan.refused == EndReason.REST_REQUIRED
        assert "cold on knee-left may be repeated every 2 h" in plan.message
    else:
        assert plan.start is not None


def test_no_site_means_no_site_limits_and_other_modes_are_not_limited_by_them() -> None:
    """Without a site only the per-device limits hold; a site's heat count does not limit
    its cold, nor its cold wait its heat."""
    used = Usage(site_heat_sessions_24h=9, site_light_s_24h=9999, s_since_site_cold_start=1)
    assert plan_session(DEFAULT_LIMITS, HEAT_PAD, used, HEAT_10).start is not None
    assert plan_session(DEFAULT_LIMITS, BELT_800, used, LIGHT_30).start is not None
    on_site = Usage(site="lower-back", site_heat_sessions_24h=4, s_since_site_cold_start=1)
    assert plan_session(DEFAULT_LIMITS, THERMAL_PAD, on_site, COLD_10).refused == (
        EndReason.REST_REQUIRED
    )
    heat_only = Usage(site="lower-back", site_heat_sessions_24h=4)
    assert plan_session(DEFAULT_LIMITS, THERMAL_PAD, heat_only, COLD_10).start is not None


def test_a_resumed_session_is_not_counted_again() -> None:
    """Resuming a heat session the link interrupted is the same session, not a fifth."""
    usage = Usage(site="lower-back", site_heat_sessions_24h=4, continuing_s=120)
    assert plan_session(DEFAULT_LIMITS, HEAT_PAD, usage, HEAT_10).start is not None


@pytest.mark.parametrize(
    ("given_text", "site"),
    [
        ("lower-back", "lower-back"),
        (" Lower Back ", "lower-back"),
        ("Knee_Left", "knee-left"),
        ("left  calf", "left-calf"),
        ("Schulter links", "schulter-links"),
    ],
)
def test_site_names_are_normalised(given_text: str, site: str) -> None:
    """Lower case, blanks and underscores as one dash, trimmed."""
    assert normalise_site(given_text) == site


@pytest.mark.parametrize(
    ("given_text", "reason"),
    [
        ("", "give a site name"),
        ("   ", "give a site name"),
        ("---", "give a site name"),
        ("x" * 41, "at most 40 characters"),
        ("neck\x00", "printable"),
        ("neck\nback", "printable"),
    ],
)
def test_bad_site_names_are_refused_in_words(given_text: str, reason: str) -> None:
    """Empty, over 40 characters, or with control characters: a SiteError saying which."""
    with pytest.raises(SiteError, match=reason):
        normalise_site(given_text)


@given(st.text(max_size=60))
def test_any_text_is_a_valid_site_or_a_site_error(text: str) -> None:
    """Whatever is typed: a normalised, printable, lower-case name of at most 40 characters,
    or SiteError - nothing else."""
    try:
        site = normalise_site(text)
    except SiteError:
        return
    assert 0 < len(site) <= 40 and site.isprintable() and site == site.lower()
    assert " " not in site and normalise_site(site) == site


def test_the_known_sites_are_already_normal() -> None:
    """The fixed list needs no normalising."""
    assert all(normalise_site(site) == site for site in KNOWN_SITES)
    assert {"lower-back", "upper-back", "neck", "abdomen"} <= set(KNOWN_SITES)
