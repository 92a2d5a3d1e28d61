"""The regimen (pure): cold every 2 h while awake in the first 48-72 h of a spasm, then heat a
few times a day; due times in waking hours only; slots on a grid anchored at each day's
waking start, so following `next` exactly is full adherence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device.safety import (
    Awake,
    Done,
    EpisodeInfo,
    RegimenError,
    acute_heat_warning,
    adherence,
    check_acute_hours,
    due_slots,
    next_due,
)

H = 3600.0
ALWAYS = Awake(0, 24 * 60)
# 2026-11-25 12:00 UTC: a fixed instant, so day and night are known.
NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC).timestamp()


def test_ten_hours_into_a_spasm_cold_is_due_now_then_two_hours_after_each_cold_start() -> None:
    episode = EpisodeInfo("lower-back", NOON - 10 * H)
    due = next_due(episode, [], NOON, ALWAYS, UTC)
    assert due is not None
    assert (due.modality, due.site, due.phase, due.minutes) == ("cold", "lower-back", "acute", 15)
    assert due.is_due(NOON) and due.last_at is None

    cold_at = NOON + 5 * 60
    done = [Done("cold", "lower-back", cold_at)]
    after = next_due(episode, done, cold_at + 20 * 60, ALWAYS, UTC)
    assert after is not None and after.modality == "cold"
    assert after.at == cold_at + 2 * H  # guidance: every 2 h, start to start
    assert not after.is_due(cold_at + 20 * 60) and after.is_due(cold_at + 2 * H)
    assert after.last_at == cold_at

    # A second cold session: the next one is 2 h after it, not after the first.
    second = cold_at + 2 * H + 10 * 60
    done.append(Done("cold", "lower-back", second))
    later = next_due(episode, done, second + 60, ALWAYS, UTC)
    assert later is not None and later.at == second + 2 * H


def test_cold_on_another_site_or_heat_does_not_count_for_the_episode() -> None:
    episode = EpisodeInfo("lower-back", NOON - 10 * H)
    done = [Done("cold", "neck", NOON - 30 * 60), Done("heat", "lower-back", NOON - 30 * 60)]
    due = next_due(episode, done, NOON, ALWAYS, UTC)
    assert due is not None and due.modality == "cold" and due.is_due(NOON)
    # Contrast (heat, rest, cold) gives cold too.
    contrast = [Done("contrast", "lower-back", NOON - 30 * 60)]
    due = next_due(episode, contrast, NOON, ALWAYS, UTC)
    assert due is not None and due.at == NOON - 30 * 60 + 2 * H


def test_eighty_hours_into_a_spasm_heat_is_proposed() -> None:
    episode = EpisodeInfo("lower-back", NOON - 80 * H)
    due = next_due(episode, [], NOON, ALWAYS, UTC)
    assert due is not None
    assert (due.modality, due.phase, due.minutes) == ("heat", "after", 20)
    assert due.at == episode.acute_until and due.is_due(NOON)  # overdue since hour 72
    heat_at = NOON - H
    due = next_due(episode, [Done("heat", "lower-back", heat_at)], NOON, ALWAYS, UTC)
    assert due is not None and due.at == heat_at + 4 * H  # "a few times per day"


def test_a_48_hour_acute_phase_switches_to_heat_at_48_hours() -> None:
    episode = EpisodeInfo("neck", NOON - 50 * H, acute_h=48)
    due = next_due(episode, [], NOON, ALWAYS, UTC)
    assert due is not None and due.modality == "heat"
    # A cold slot that would fall after the acute phase becomes heat.
    near_end = EpisodeInfo("neck", NOON - 47 * H, acute_h=48)
    due = next_due(near_end, [Done("cold", "neck", NOON - 30 * 60)], NOON, ALWAYS, UTC)
    assert due is not None and due.modality == "heat" and due.at == near_end.acute_until


def test_an_ended_episode_proposes_nothing() -> None:
    episode = EpisodeInfo("neck", NOON - 10 * H, ended_at=NOON - H)
    assert next_due(episode, [], NOON, ALWAYS, UTC) is None
    assert episode.phase(NOON) == "ended"


def test_a_due_time_at_night_moves_to_the_next_morning() -> None:
    awake = Awake.parse("07:00-22:00")
    evening = datetime(2026, 11, 25, 21, 30, tzinfo=UTC).timestamp()
    episode = EpisodeInfo("lower-back", evening - 10 * H)
    due = next_due(episode, [Done("cold", "lower-back", evening)], evening + 60, awake, UTC)
    assert due is not None
    assert due.at == datetime(2026, 11, 26, 7, 0, tzinfo=UTC).timestamp()
    # Early morning: the same day's start.
    early = datetime(2026, 11, 26, 3, 0, tzinfo=UTC).timestamp()
    assert awake.next_awake(early, UTC) == datetime(2026, 11, 26, 7, tzinfo=UTC).timestamp()
    # In another time zone the hours are local hours.
    tz = timezone(timedelta(hours=-5))
    local_night = datetime(2026, 11, 25, 23, 0, tzinfo=tz).timestamp()
    assert awake.next_awake(local_night, tz) == datetime(2026, 11, 26, 7, tzinfo=tz).timestamp()


@pytest.mark.parametrize(
    "text", ["", "7-22", "25:00-26:00", "07:60-22:00", "22:00-07:00", "07:00-08:00", "x", "24:30"]
)
def test_bad_waking_hours_are_refused_in_words(text: str) -> None:
    with pytest.raises(RegimenError, match="waking hours"):
        Awake.parse(text)


def test_waking_hours_parse_and_print() -> None:
    assert Awake.parse(" 06:30 - 23:00 ") == Awake(390, 1380)
    assert str(Awake(390, 1380)) == "06:30-23:00"
    assert Awake.parse("00:00-24:00") == ALWAYS


@pytest.mark.parametrize("hours", [47.9, 72.1, 0, -1, float("nan"), float("inf"), 1e308, True])
def test_the_acute_phase_is_48_to_72_hours(hours: float) -> None:
    with pytest.raises(RegimenError):
        check_acute_hours(hours)


def test_slots_on_the_waking_grid_and_adherence() -> None:
    """An episode from midnight: the slots start at the waking start (08:00 here)."""
    start = datetime(2026, 11, 25, 0, 0, tzinfo=UTC).timestamp()
    episode = EpisodeInfo("lower-back", start, acute_h=48)
    awake = Awake.parse("08:00-20:00")
    day1 = due_slots(episode, start, start + 24 * H, awake, UTC)
    # Cold every 2 h from the waking start: 08, 10, 12, 14, 16, 18 (20:00 excluded).
    assert [datetime.fromtimestamp(at, UTC).hour for at, _ in day1] == [8, 10, 12, 14, 16, 18]
    assert {modality for _, modality in day1} == {"cold"}
    day3 = due_slots(episode, start + 48 * H, start + 72 * H, awake, UTC)
    # Heat every 4 h from the waking start after hour 48: 08, 12, 16.
    assert [datetime.fromtimestamp(at, UTC).hour for at, _ in day3] == [8, 12, 16]
    assert {modality for _, modality in day3} == {"heat"}

    done = [
        Done("cold", "lower-back", start + 8 * H + 600),  # the 08:00 slot
        Done("cold", "lower-back", start + 9 * H),  # the same slot again: one slot
        Done("cold", "neck", start + 12 * H),  # another site
        Done("contrast", "lower-back", start + 14 * H + 60),  # gives cold
    ]
    counts = adherence(episode, done, start, start + 24 * H, awake, UTC)
    assert counts == {"cold_due": 6, "cold_done": 2, "heat_due": 0, "heat_done": 0}


def _follow_next(
    episode: EpisodeInfo, until: float, awake: Awake, tz: ZoneInfo | timezone
) -> list[Done]:
    """Do exactly what `next` says: each session at its due time (or now, if overdue),
    20 min long; the next asked for when it ends."""
    done: list[Done] = []
    now = episode.started_at
    while True:
        due = next_due(episode, done, now, awake, tz)
        assert due is not None
        at = max(due.at, now)
        if at >= until:
            return done
        assert awake.is_awake(at, tz)
        done.append(Done(due.modality, episode.site, at))
        now = at + 20 * 60


def _hm(at: float, tz: ZoneInfo | timezone = UTC) -> str:
    return datetime.fromtimestamp(at, tz).strftime("%d %H:%M")


def test_following_next_exactly_is_full_adherence() -> None:
    """A spasm at 09:47: cold at 09:47, 11:47, ... 21:47, then 07:00, 09:00, ... the next
    mornings; heat from the end of the acute phase. Every slot whose window has closed is
    done, whenever the report runs, and no slot is missed by following `next`."""
    awake = Awake.parse("07:00-22:00")
    began = datetime(2026, 11, 25, 9, 47, tzinfo=UTC).timestamp()
    episode = EpisodeInfo("lower-back", began, acute_h=48)
    until = began + 4 * 24 * H
    done = _follow_next(episode, until, awake, UTC)
    colds = [_hm(d.started_at) for d in done if d.modality == "cold"]
    assert colds[:8] == [f"25 {h:02d}:47" for h in range(9, 22, 2)] + ["26 07:00"]
    assert {d.modality for d in done if d.started_at >= episode.acute_until} == {"heat"}
    assert [_hm(d.started_at) for d in done if d.modality == "heat"][:5] == [
        "27 09:47",
        "27 13:47",
        "27 17:47",
        "27 21:47",
        "28 07:00",
    ]
    # Every 10 min over the four days: done == due for the closed slots.
    now = began
    while now <= until:
        counts = adherence(episode, done, began, now, awake, UTC)
        assert counts["cold_done"] == counts["cold_due"], (_hm(now), counts)
        assert counts["heat_done"] == counts["heat_due"], (_hm(now), counts)
        now += 600
    counts = adherence(episode, done, began, until, awake, UTC)
    # Cold: 25th 09-21 (7), 26th 07-21 (8), 27th 07 and 09 (the acute phase ends 09:47);
    # heat: 27th 07, 11, 15, 19 and 28th 07, 11, 15, 19 (the 29th 07:00 slot is open).
    assert counts == {"cold_due": 17, "cold_done": 17, "heat_due": 8, "heat_done": 8}
    # Skipping one session is one slot missed.
    skipped = [d for d in done if _hm(d.started_at) != "26 11:00"]
    assert adherence(episode, skipped, began, until, awake, UTC)["cold_done"] == 16


@pytest.mark.parametrize("began_hm", [(16, 20), (17, 20), (20, 30), (6, 5), (21, 59)])
def test_following_next_from_any_start_is_full_adherence(began_hm: tuple[int, int]) -> None:
    """A spasm at 16:20: cold at 16:20, 18:20, 20:20, then 22:20 is the night and the
    morning comes: the 21:00 slot could not be served within the 2 h between colds, so it is
    not counted as missed. The same for heat when the acute phase ends late in a slot."""
    awake = Awake.parse("07:00-22:00")
    began = datetime(2026, 11, 25, *began_hm, tzinfo=UTC).timestamp()
    episode = EpisodeInfo("lower-back", began, acute_h=50)
    until = began + 4 * 24 * H
    done = _follow_next(episode, until, awake, UTC)
    now = began
    while now <= until:
        counts = adherence(episode, done, began, now, awake, UTC)
        assert counts["cold_done"] == counts["cold_due"], (_hm(now), counts)
        assert counts["heat_done"] == counts["heat_due"], (_hm(now), counts)
        now += 1800
    counts = adherence(episode, done, began, until, awake, UTC)
    assert counts["cold_due"] > 10 and counts["heat_due"] > 4
    # and one skipped session is still one missed slot
    skipped = done[:3] + done[4:]
    missed = adherence(episode, skipped, began, until, awake, UTC)
    assert (
        missed["cold_done"] + missed["heat_done"] == counts["cold_done"] + counts["heat_done"] - 1
    )
    assert missed["cold_due"] + missed["heat_due"] >= counts["cold_due"] + counts["heat_due"] - 1


def test_following_next_is_full_adherence_across_a_dst_change() -> None:
    """Europe/Berlin, the clocks go back on 2026-10-25: the grid starts at 07:00 wall
    time each day, like the morning `next` snaps to."""
    berlin = ZoneInfo("Europe/Berlin")
    awake = Awake.parse("07:00-22:00")
    began = datetime(2026, 10, 24, 17, 20, tzinfo=berlin).timestamp()
    episode = EpisodeInfo("neck", began, acute_h=72)
    until = datetime(2026, 10, 28, 23, 0, tzinfo=berlin).timestamp()
    done = _follow_next(episode, until, awake, berlin)
    assert "25 07:00" in [_hm(d.started_at, berlin) for d in done]
    # The 25th is 25 h long: its 07:00 is 25 h after the 24th's, its slots on the hour.
    wake_24 = datetime(2026, 10, 24, 7, 0, tzinfo=berlin).timestamp()
    assert (wake_24, "cold") not in due_slots(episode, began, until, awake, berlin)
    assert (wake_24 + 25 * H, "cold") in due_slots(episode, began, until, awake, berlin)
    slots = due_slots(episode, began, until, awake, berlin)
    assert {datetime.fromtimestamp(at, berlin).minute for at, _ in slots} == {0}
    assert {datetime.fromtimestamp(at, berlin).hour for at, _ in slots} <= set(range(7, 22))
    counts = adherence(episode, done, began, until, awake, berlin)
    assert counts["cold_done"] == counts["cold_due"] > 0
    assert counts["heat_done"] == counts["heat_due"] > 0


def test_a_slot_counts_only_once_its_window_has_closed() -> None:
    """The 19:00 slot (a session is due in it at 19:47) is not missed at 19:51; at 21:00 it
    is; a session done in an open slot counts nowhere yet."""
    awake = Awake.parse("07:00-22:00")
    began = datetime(2026, 11, 25, 17, 47, tzinfo=UTC).timestamp()
    episode = EpisodeInfo("lower-back", began, acute_h=48)
    done = [Done("cold", "lower-back", began)]  # the 17:00 slot
    at_1951 = datetime(2026, 11, 25, 19, 51, tzinfo=UTC).timestamp()
    assert [_hm(at) for at, _ in due_slots(episode, began, at_1951, awake, UTC)] == [
        "25 17:00",
        "25 19:00",
    ]
    assert adherence(episode, done, began, at_1951, awake, UTC)["cold_due"] == 1
    assert adherence(episode, done, began, at_1951, awake, UTC)["cold_done"] == 1
    at_2100 = at_1951 + 69 * 60
    assert adherence(episode, done, began, at_2100, awake, UTC)["cold_due"] == 2
    assert adherence(episode, done, began, at_2100, awake, UTC)["cold_done"] == 1
    in_open = [*done, Done("cold", "lower-back", at_1951 - 60)]
    counts = adherence(episode, in_open, began, at_1951, awake, UTC)
    assert (counts["cold_due"], counts["cold_done"]) == (1, 1)
    assert adherence(episode, in_open, began, at_2100, awake, UTC)["cold_done"] == 2


def test_an_episode_or_phase_that_begins_at_night_has_no_slot_that_evening() -> None:
    """Begun at 22:30 (after the waking hours): `next` says 07:00, so the 21:00 slot (its
    waking part ends at 22:00) is not due; an acute phase that ends at 22:30 has no heat
    slot that evening either. An ended episode has no slot after its end."""
    awake = Awake.parse("07:00-22:00")
    began = datetime(2026, 11, 25, 22, 30, tzinfo=UTC).timestamp()
    episode = EpisodeInfo("lower-back", began, acute_h=48)
    morning = datetime(2026, 11, 26, 7, 0, tzinfo=UTC).timestamp()
    assert due_slots(episode, began, morning + 60, awake, UTC) == [(morning, "cold")]
    heat = [
        _hm(at)
        for at, modality in due_slots(episode, began, began + 60 * H, awake, UTC)
        if modality == "heat"
    ]
    assert heat == ["28 07:00"]
    ended = EpisodeInfo("lower-back", began, acute_h=48, ended_at=morning + 3 * H)
    assert [_hm(at) for at, _ in due_slots(ended, began, began + 60 * H, awake, UTC)] == [
        "26 07:00",
        "26 09:00",
    ]


@given(
    offset_h=st.floats(min_value=0, max_value=200, allow_nan=False),
    last_h=st.one_of(st.none(), st.floats(min_value=0, max_value=10)),
)
def test_next_due_is_never_before_the_episode_and_always_in_waking_hours(
    offset_h: float, last_h: float | None
) -> None:
    awake = Awake.parse("07:00-22:00")
    episode = EpisodeInfo("lower-back", NOON)
    now = NOON + offset_h * H
    done = [] if last_h is None else [Done("cold", "lower-back", max(NOON, now - last_h * H))]
    due = next_due(episode, done, now, awake, UTC)
    assert due is not None
    assert due.at >= episode.started_at
    assert awake.is_awake(due.at, UTC)
    assert due.modality == ("cold" if due.at < episode.acute_until else "heat")


def test_heat_in_the_acute_phase_has_words_and_after_it_none() -> None:
    episode = EpisodeInfo("lower-back", NOON - 10 * H)
    words = acute_heat_warning(episode, NOON)
    assert words is not None and "48-72 h" in words and "10 h" in words and "once" in words
    assert acute_heat_warning(EpisodeInfo("lower-back", NOON - 80 * H), NOON) is None


def test_a_cold_overdue_at_night_is_due_in_the_morning_not_due_now_all_night() -> None:
    awake = Awake.parse("07:00-22:00")
    evening = datetime(2026, 11, 25, 19, 0, tzinfo=UTC).timestamp()
    episode = EpisodeInfo("lower-back", evening - 10 * H)
    late = datetime(2026, 11, 25, 23, 30, tzinfo=UTC).timestamp()
    due = next_due(episode, [Done("cold", "lower-back", evening)], late, awake, UTC)
    morning = datetime(2026, 11, 26, 7, 0, tzinfo=UTC).timestamp()
    assert due is not None and due.at == morning and not due.is_due(late)
    # Awake again and still not done: due now, since the morning.
    assert due.is_due(morning + 60)
    again = next_due(episode, [Done("cold", "lower-back", evening)], morning + 60, awake, UTC)
    assert again is not None and again.at == evening + 2 * H and again.is_due(morning + 60)
