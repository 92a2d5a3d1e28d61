"""Light dose as J/cm² (the belt's emitting area from its Feature, on the session and each
use) and the dose per calendar day, beside the rolling 24 hours the limits count."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from device.journal import JournalReader, JournalWriter
from device.link import Clock, DeviceDriver, Radio
from device.safety import DEFAULT_LIMITS, SessionRequest, cem43_minutes
from device.sessions import PlanRunner, Step, TherapyPlan
from protocols import Mode
from simulator import DeviceSpec, SimulatorWorld
from tests.device.helpers import status
from tests.device.journal.test_sites import BELT, PAD, begin

# The simulated belts' documented emitting areas (docs/protocol.md, simulator/belt.py):
# 20 x 10 cm for the 800 mW model, 15 x 10 cm for the 420 mW one.
AREA_800_CM2 = 20 * 10
AREA_420_CM2 = 15 * 10
OTHER_BELT = "C0:AA:BB:CC:DD:EE"


def light_use(
    writer: JournalWriter,
    session_id: str,
    address: str,
    site: str,
    area_cm2: float | None,
    power_mw: int,
    seconds: int,
) -> None:
    """A light session whose samples give ``power_mw`` for ``seconds`` s."""
    begin(writer, session_id, address, "light", site, area_cm2)
    writer.use_begins(session_id, Mode.LIGHT)
    for second in range(seconds + 1):
        writer.sample(
            session_id,
            float(second),
            status(mode=Mode.LIGHT, seq=second + 1, power_mw=power_mw, temperature_c=33.0),
        )
    writer.use_ends(session_id, float(seconds))
    writer.end(session_id, end_reason="completed", actual_minutes=seconds / 60)


def close(writer: JournalWriter) -> None:
    writer.close()


# --------------------------------------------------------------------------- J/cm²


async def test_a_simulated_belt_sessions_uses_get_j_per_cm2_of_its_models_area(
    tmp_path: Path,
) -> None:
    """An 800 mW and a 420 mW simulated belt on lower-back and a heat pad: each belt's
    light use has J/cm² = its J / its model's documented area (200 and 150 cm²); the pad's
    session has no area; the site's 24 h J/cm² is the sum of the two."""
    path = tmp_path / "j.db"
    writer = JournalWriter(path)
    specs = [DeviceSpec("light-belt-800", "b800"), DeviceSpec("light-belt-420", "b420")]
    specs.append(DeviceSpec("heat-pad", "pad"))
    world = SimulatorWorld(specs, time_scale=300.0)
    ids: dict[str, str] = {}
    async with world, await Radio.attach(world.controller()) as radio:
        clock = Clock(300.0)
        for name, request in (
            ("b800", SessionRequest(Mode.LIGHT, 600, power_mw=800)),
            ("b420", SessionRequest(Mode.LIGHT, 300, power_mw=420)),
            ("pad", SessionRequest(Mode.HEAT, 120, setpoint_c=40.0)),
        ):
            driver = DeviceDriver(radio, name, clock)
            await driver.connect()
            try:
                runner = PlanRunner(
                    driver,
                    TherapyPlan(name, (Step(request),)),
                    DEFAULT_LIMITS,
                    attended_auto=True,
                    single_session=True,
                    journal=writer,
                    site="lower-back",
                )
                summary = await runner.run()
                ids[name] = runner.session_id
            finally:
                await driver.close()
            assert summary.end_reason.value == "completed", summary.end_detail
    await asyncio.to_thread(close, writer)
    with JournalReader(path) as reader:
        [b800] = reader.light_uses(ids["b800"])
        [b420] = reader.light_uses(ids["b420"])
        assert reader.light_uses(ids["pad"]) == []
        rolling = reader.site_usage("lower-back", datetime.now().timestamp(), 1.0)
    # about 800 mW x 600 s and 420 mW x 300 s of device time
    assert b800.energy_j == pytest.approx(480, rel=0.05)
    assert b420.energy_j == pytest.approx(126, rel=0.05)
    assert b800.emitting_area_cm2 == AREA_800_CM2
    assert b420.emitting_area_cm2 == AREA_420_CM2
    assert b800.j_cm2 == pytest.approx(b800.energy_j / 200)
    assert b420.j_cm2 == pytest.approx(b420.energy_j / 150)
    assert rolling["light_j_cm2"] == pytest.approx(b800.energy_j / 200 + b420.energy_j / 150)
    with sqlite3.connect(path) as conn:
        areas = dict(conn.execute("SELECT id, emitting_area_cm2 FROM sessions").fetchall())
    assert areas == {ids["b800"]: 200.0, ids["b420"]: 150.0, ids["pad"]: None}


def test_an_unknown_area_gives_unknown_j_per_cm2_never_a_guess(tmp_path: Path) -> None:
    """A belt without an area (an older device, or hostile values the writer refuses: 0,
    negative, NaN, inf) records NULL; its use's J/cm² is None and so is the site's total
    while that use counts; a site with only known areas still has its sum."""
    path = tmp_path / "j.db"
    writer = JournalWriter(path)
    light_use(writer, "known", BELT, "lower-back", 200.0, 800, 100)
    light_use(writer, "unknown", OTHER_BELT, "lower-back", None, 400, 50)
    for index, hostile in enumerate((0.0, -5.0, float("nan"), float("inf"))):
        light_use(writer, f"hostile{index}", OTHER_BELT, "neck", hostile, 400, 10)
    light_use(writer, "abdomen", BELT, "abdomen", 200.0, 800, 100)
    writer.close()
    now = datetime.now().timestamp() + 10
    with JournalReader(path) as reader:
        uses = {use.session_id: use for use in reader.light_uses()}
        dose = {row["site"]: row for row in reader.dose(now)}
    assert uses["known"].j_cm2 == pytest.approx(0.8 * 100 / 200)
    assert uses["unknown"].energy_j == pytest.approx(0.4 * 50)
    assert uses["unknown"].emitting_area_cm2 is None and uses["unknown"].j_cm2 is None
    assert all(uses[f"hostile{i}"].emitting_area_cm2 is None for i in range(4))
    assert dose["lower-back"]["light_j"] == pytest.approx(80 + 20)
    assert dose["lower-back"]["light_j_cm2"] is None
    assert dose["neck"]["light_j_cm2"] is None
    assert dose["abdomen"]["light_j_cm2"] == pytest.approx(0.4)
    # Once the unknown use is older than 24 hours, lower-back's J/cm² is known again.
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE uses SET started_at = started_at - 90000, last_on_at = last_on_at - 90000"
            " WHERE session_id = 'unknown'"
        )
    with JournalReader(path) as reader:
        back = reader.site_usage("lower-back", now, 1.0)
    assert back["light_j_cm2"] == pytest.approx(0.4)


def test_a_damaged_area_in_the_file_is_unknown_not_a_division_error(tmp_path: Path) -> None:
    """An area of 0, negative or absurdly small written into the file by hand: no
    ZeroDivisionError, no inf; J/cm² is None."""
    path = tmp_path / "j.db"
    writer = JournalWriter(path)
    light_use(writer, "a", BELT, "neck", 200.0, 800, 20)
    writer.close()
    now = datetime.now().timestamp() + 10
    for damaged in (0.0, -3.0, 1e-320):
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE uses SET emitting_area_cm2 = ?", (damaged,))
        with JournalReader(path) as reader:
            [use] = reader.light_uses("a")
            row = reader.site_usage("neck", now, 1.0)
        assert use.j_cm2 is None, damaged
        assert row["light_j_cm2"] is None, damaged


def test_a_schema_5_journal_has_no_area_and_reads_as_unknown(tmp_path: Path) -> None:
    """A journal from before the area (uses without the column): the reader never migrates,
    gives J/cm² None for light with energy, and 0 where there was no light."""
    from device.journal import MIGRATIONS

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for number, script in enumerate(MIGRATIONS[:5], start=1):
        conn.executescript(script + f"PRAGMA user_version = {number};")
    conn.execute(
        "INSERT INTO devices (id, address, name, kind, model, firmware, serial, first_seen,"
        " last_seen) VALUES (1, ?, 'belt', 'light-belt-800', '', '', '', 0, 0)",
        (BELT,),
    )
    now = datetime.now().timestamp()
    conn.execute(
        "INSERT INTO sessions (id, device_id, mode, started_at, ended_at, time_scale,"
        " requested_minutes, host, pid, site) VALUES ('s', 1, 'light', ?, ?, 1, 10, 'h', 1,"
        " 'neck')",
        (now - 700, now - 100),
    )
    conn.execute(
        "INSERT INTO uses (session_id, device_id, mode, started_at, last_on_at, on_s,"
        " time_scale, ended, site, energy_j) VALUES ('s', 1, 'light', ?, ?, 600, 1, 1,"
        " 'neck', 480)",
        (now - 700, now - 100),
    )
    conn.commit()
    conn.close()
    with JournalReader(path) as reader:
        [use] = reader.light_uses()
        row = reader.site_usage("neck", now, 1.0)
        [today] = reader.daily_dose(now, 1, site="neck")
    assert (use.energy_j, use.emitting_area_cm2, use.j_cm2) == (480, None, None)
    assert row["light_j"] == 480 and row["light_j_cm2"] is None
    assert today["sites"][0]["light_j_cm2"] is None
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA user_version").fetchone() == (5,)


# --------------------------------------------------------------------------- per day


def _at(text: str) -> float:
    """An ISO time (with its offset) as Unix seconds."""
    return datetime.fromisoformat(text).timestamp()


def _place(path: Path, session_id: str, started_at: float) -> None:
    """Move a session's use to start at ``started_at`` (its on-time kept)."""
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE uses SET started_at = ?, last_on_at = ? + on_s WHERE session_id = ?",
            (started_at, started_at, session_id),
        )


def _uses_across_midnight(path: Path) -> None:
    """Uses on lower-back and neck at known UTC times around 2026-11-25 00:00 UTC."""
    writer = JournalWriter(path)
    light_use(writer, "l-late", BELT, "lower-back", 200.0, 800, 600)  # 480 J, 2.4 J/cm²
    light_use(writer, "l-early", BELT, "lower-back", 200.0, 800, 300)  # 240 J, 1.2 J/cm²
    begin(writer, "h", PAD, "heat", "lower-back", None)
    writer.use_begins("h", Mode.HEAT)
    for second in range(121):
        writer.sample("h", float(second), status(seq=second + 1, temperature_c=42.0))
    writer.use_ends("h", 120.0)
    begin(writer, "c", PAD, "cold", "neck", None)
    writer.use_begins("c", Mode.COLD)
    writer.use_ends("c", 600.0)
    begin(writer, "old", PAD, "cold", "neck", None)
    writer.use_begins("old", Mode.COLD)
    writer.use_ends("old", 300.0)
    writer.close()
    _place(path, "l-late", _at("2026-11-24T23:40:00+00:00"))
    _place(path, "l-early", _at("2026-11-25T00:20:00+00:00"))
    _place(path, "h", _at("2026-11-25T09:00:00+00:00"))
    _place(path, "c", _at("2026-11-25T10:00:00+00:00"))
    _place(path, "old", _at("2026-11-22T12:00:00+00:00"))  # outside 3 days


NOW = _at("2026-11-25T12:00:00+00:00")


def test_per_calendar_day_splits_at_local_midnight_and_the_rolling_day_does_not(
    tmp_path: Path,
) -> None:
    """In UTC, light at 23:40 counts on the 24th and light at 00:20 on the 25th; both are
    in the rolling 24 hours (the limits' figures, unchanged). Heat and cold land on the
    25th; a use 3 days back is outside --days 3; days without use have no sites."""
    path = tmp_path / "j.db"
    _uses_across_midnight(path)
    with JournalReader(path) as reader:
        days = reader.daily_dose(NOW, 3, tz=UTC)
        rolling = reader.site_usage("lower-back", NOW, 1.0)
    assert [d["day"] for d in days] == ["2026-11-25", "2026-11-24", "2026-11-23"]
    today = {entry["site"]: entry for entry in days[0]["sites"]}
    [yesterday] = days[1]["sites"]
    assert days[2]["sites"] == []
    assert set(today) == {"lower-back", "neck"}
    back = today["lower-back"]
    assert back["light_s"] == pytest.approx(300) and back["light_j"] == pytest.approx(240)
    assert back["light_j_cm2"] == pytest.approx(240 / 200)
    assert back["heat_sessions"] == 1 and back["heat_s"] == pytest.approx(120)
    assert back["heat_cem43_min"] == pytest.approx(cem43_minutes(42.0, 120.0))
    assert (today["neck"]["cold_starts"], today["neck"]["cold_s"]) == (1, 600)
    assert yesterday["site"] == "lower-back"
    assert yesterday["light_j"] == pytest.approx(480)
    assert yesterday["light_j_cm2"] == pytest.approx(480 / 200)
    # The rolling 24 hours the limits use hold both light uses, whatever the calendar.
    assert rolling["light_s"] == pytest.approx(900)
    assert rolling["light_j"] == pytest.approx(720)
    assert rolling["light_j_cm2"] == pytest.approx(720 / 200)


def test_the_calendar_day_is_the_time_zones(tmp_path: Path) -> None:
    """The same uses in Europe/Berlin (UTC+1 in November): 23:40 UTC is 00:40 on the 25th,
    so both light uses are today's there; in America/New_York (UTC-5) both are the 24th's
    and the 25th has only the heat and cold."""
    path = tmp_path / "j.db"
    _uses_across_midnight(path)
    with JournalReader(path) as reader:
        berlin = reader.daily_dose(NOW, 2, tz=ZoneInfo("Europe/Berlin"))
        new_york = reader.daily_dose(NOW, 2, tz=ZoneInfo("America/New_York"))
        only_neck = reader.daily_dose(NOW, 2, tz=UTC, site="neck")
    back = next(e for e in berlin[0]["sites"] if e["site"] == "lower-back")
    assert back["light_j"] == pytest.approx(720) and berlin[1]["sites"] == []
    # New York: 12:00 UTC is 07:00 on the 25th; heat (09:00 UTC = 04:00) is the 25th's.
    assert [d["day"] for d in new_york] == ["2026-11-25", "2026-11-24"]
    ny_today = {e["site"]: e for e in new_york[0]["sites"]}
    assert ny_today["lower-back"]["light_s"] == 0 and ny_today["lower-back"]["heat_s"] == 120
    [ny_back] = new_york[1]["sites"]
    assert ny_back["light_j"] == pytest.approx(720)
    assert [[e["site"] for e in d["sites"]] for d in only_neck] == [["neck"], []]


def test_a_day_when_the_clocks_change_has_its_own_length(tmp_path: Path) -> None:
    """Europe/Berlin, 29 March 2026 has 23 hours: a use at 23:30 local (21:30 UTC) is that
    day's, one at 00:30 local on the 30th (22:30 UTC) the next day's."""
    path = tmp_path / "j.db"
    writer = JournalWriter(path)
    light_use(writer, "late", BELT, "neck", 200.0, 800, 60)
    light_use(writer, "next", BELT, "neck", 200.0, 800, 120)
    writer.close()
    _place(path, "late", _at("2026-03-29T21:30:00+00:00"))
    _place(path, "next", _at("2026-03-29T22:30:00+00:00"))
    with JournalReader(path) as reader:
        days = reader.daily_dose(_at("2026-03-30T08:00:00+00:00"), 2, tz=ZoneInfo("Europe/Berlin"))
    assert [(d["day"], [e["light_s"] for e in d["sites"]]) for d in days] == [
        ("2026-03-30", [120]),
        ("2026-03-29", [60]),
    ]


@pytest.mark.parametrize("days", [0, -1, 3661, 10**400])
def test_daily_dose_refuses_a_day_count_out_of_range(tmp_path: Path, days: int) -> None:
    """0, negative or more than ten years of days: ValueError, nothing read."""
    path = tmp_path / "j.db"
    JournalWriter(path).close()
    with JournalReader(path) as reader, pytest.raises(ValueError, match="days must be 1 to"):
        reader.daily_dose(NOW, days)
