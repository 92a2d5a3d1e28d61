"""Reading the journal: sessions, their samples, events and steps, known devices, day
totals, and the usage that limits later sessions (read-only; safe beside a writer)."""

from __future__ import annotations

import bisect
import contextlib
import json
import logging
import math
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta, tzinfo
from datetime import time as dtime
from pathlib import Path
from typing import Any, NamedTuple

from device.journal.diary import Episode, PainRating
from device.journal.schema import (
    JournalError,
    close_interrupted,
    iso,
    open_for_writing,
    read_connection,
    translate_error,
)
from device.safety import Done, Usage

DAY_S = 24 * 3600.0  # the daily limits hold over any 24 hours, not a calendar day
MAX_DAYS = 3660  # calendar days `daily_dose` gives at most (ten years)

logger = logging.getLogger(__name__)


class SessionRow(NamedTuple):
    """One session as ``history`` lists it (a named tuple: 10,000 of them build fast)."""

    session_id: str
    started_at: float
    ended_at: float | None
    device_name: str
    device_address: str
    device_kind: str
    mode: str | None
    plan: str | None
    requested_minutes: float
    planned_minutes: float | None
    actual_minutes: float | None
    end_reason: str | None
    end_detail: str | None
    max_temperature_c: float | None
    min_temperature_c: float | None
    cem43_minutes: float | None
    energy_j: float | None
    time_scale: float
    refused: bool = False  # a refused request on record: nothing was turned on
    site: str | None = None  # the body site (None: none given, or a journal before sites)

    @property
    def what(self) -> str:
        return self.plan or self.mode or "?"

    def as_json(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at) if self.ended_at else None,
            "device": {
                "name": self.device_name,
                "address": self.device_address,
                "kind": self.device_kind,
            },
            "mode": self.mode,
            "plan": self.plan,
            "requested_minutes": self.requested_minutes,
            "planned_minutes": self.planned_minutes,
            "actual_minutes": self.actual_minutes,
            "end_reason": self.end_reason,
            "end_detail": self.end_detail,
            "max_temperature_c": self.max_temperature_c,
            "min_temperature_c": self.min_temperature_c,
            "cem43_minutes": self.cem43_minutes,
            "refused": bool(self.refused),
            "site": self.site,
            "energy_j": self.energy_j,
            "time_scale": self.time_scale,
        }


class KnownDevice(NamedTuple):
    """A device the journal knows, with the alias the user gave it (if any)."""

    address: str
    name: str
    kind: str
    alias: str | None
    first_seen: float
    last_seen: float

    @property
    def label(self) -> str:
        """What to show: the alias, else the advertised name."""
        return self.alias or self.name


_iso = iso


AMOUNT_MAX = 1e9  # seconds, minutes, CEM43, J: any stored amount above this is damage


def _num(column: str, name: str) -> str:
    """A numeric column as SQL that gives NULL for a damaged value (text, a blob, NaN read
    as NULL, beyond +-1e12): a row edited by hand shows as unknown, never as a traceback."""
    return (
        f"CASE WHEN typeof({column}) IN ('integer', 'real') AND abs({column}) < 1e12"
        f" THEN {column} END AS {name}"
    )


def _time_ok(column: str) -> str:
    """SQL: the column holds a wall time the journal could have written (2000 to 5138)."""
    return f"(typeof({column}) IN ('integer', 'real') AND {column} BETWEEN 946684800 AND 1e11)"


# A session whose start is not a time (edited by hand, damaged) is left out of the list.
_VALID_START = "typeof(s.started_at) IN ('integer', 'real') AND s.started_at BETWEEN 0 AND 1e11"
_SESSION_COLUMNS = (
    "s.id AS session_id, s.started_at, "
    + _num("s.ended_at", "ended_at")
    + ", d.name AS device_name, d.address AS device_address, d.kind AS device_kind,"
    " s.mode, s.plan, "
    + ", ".join(
        _num(f"s.{column}", column)
        for column in ("requested_minutes", "planned_minutes", "actual_minutes")
    )
    + ", s.end_reason, s.end_detail, "
    + ", ".join(
        _num(f"s.{column}", column)
        for column in (
            "max_temperature_c",
            "min_temperature_c",
            "cem43_minutes",
            "energy_j",
        )
    )
    + ", coalesce("
    + _num("s.time_scale", "x").removesuffix(" AS x")
    + ", 1.0) AS time_scale, {refused}, {site}"
)


def _amount(value: object) -> float:
    """A stored amount (seconds, CEM43, J) for arithmetic: a damaged one (not a number, NaN,
    negative, beyond AMOUNT_MAX) is infinite, so it uses a limit up rather than freeing it."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return math.inf
    number = float(value)
    return number if math.isfinite(number) and 0 <= number <= AMOUNT_MAX else math.inf


class JournalReader:
    """Queries over a journal (read-only connection; safe beside a writer)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = read_connection(path)
        try:
            unfinished = self._conn.execute(
                "SELECT count(*) FROM sessions WHERE ended_at IS NULL"
            ).fetchone()[0]
        except sqlite3.Error as exc:
            self._conn.close()
            raise translate_error(str(path), exc) from exc
        if unfinished:
            self._close_interrupted()
        # Readers never migrate: an older journal has no refusals or aliases yet.
        self._has_refused = self._has_column("sessions", "refused")
        self._has_alias = self._has_column("devices", "alias")
        self._has_site = self._has_column("sessions", "site")
        self._columns = _SESSION_COLUMNS.format(
            refused="s.refused" if self._has_refused else "0 AS refused",
            site="s.site" if self._has_site else "NULL AS site",
        )

    def _has_column(self, table: str, column: str) -> bool:
        return bool(
            self._query(f"SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?", (column,))
        )

    def _close_interrupted(self) -> None:
        """Any start of therapyctl closes sessions left open by a dead process (if it can
        write here; on a read-only journal they simply show as unfinished)."""
        try:
            writer = open_for_writing(self.path)
        except JournalError:
            return
        try:
            close_interrupted(writer)
        except sqlite3.Error as exc:
            logger.info("could not close interrupted sessions: %s", exc)
        finally:
            writer.close()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> JournalReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise translate_error(str(self.path), exc) from exc

    def sessions(
        self,
        *,
        device: str | None = None,
        since: date | None = None,
        limit: int | None = None,
        include_refused: bool = False,
    ) -> list[SessionRow]:
        """Sessions, newest first; refused requests only with ``include_refused``."""
        where, params = self._filters(device, since, include_refused=include_refused)
        sql = (
            f"SELECT {self._columns} FROM sessions s JOIN devices d ON d.id = s.device_id"
            f"{where} ORDER BY s.started_at DESC"
        )
        if limit is not None:
            sql += " LIMIT ?"
            params = (*params, limit)
        try:
            cursor = self._conn.execute(sql, params)
            cursor.row_factory = None  # plain tuples, in SessionRow's field order: fast
            return list(map(SessionRow._make, cursor.fetchall()))
        except sqlite3.Error as exc:
            raise translate_error(str(self.path), exc) from exc

    def _filters(
        self, device: str | None, since: date | None, *, include_refused: bool = False
    ) -> tuple[str, tuple[Any, ...]]:
        clauses: list[str] = [_VALID_START]
        params: list[Any] = []
        if device:
            if self._has_alias:  # the alias a user gave a device names it too
                clauses.append("(d.name = ? OR d.address = ? OR d.alias = ?)")
                params += [device, device.upper(), device]
            else:
                clauses.append("(d.name = ? OR d.address = ?)")
                params += [device, device.upper()]
        if self._has_refused and not include_refused:
            clauses.append("s.refused = 0")
        if since:
            clauses.append("s.started_at >= ?")
            params.append(datetime.combine(since, datetime.min.time()).timestamp())
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)

    def damaged_sessions(self) -> int:
        """How many session rows are left out of every list because their start is not a
        time (edited by hand, damaged): said, so nothing disappears silently."""
        return int(self._query(f"SELECT count(*) FROM sessions s WHERE NOT ({_VALID_START})")[0][0])

    def known_devices(self) -> list[KnownDevice]:
        """Every known device, the most recently seen first."""
        # A journal older than schema 2 has no aliases yet (readers never migrate).
        has_alias = self._query("SELECT 1 FROM pragma_table_info('devices') WHERE name = 'alias'")
        alias = "alias" if has_alias else "NULL AS alias"
        rows = self._query(
            f"SELECT address, name, kind, {alias}, first_seen, last_seen FROM devices"
            " ORDER BY last_seen DESC, address"
        )
        return [KnownDevice(*row) for row in rows]

    def day_totals(
        self, *, device: str | None = None, since: date | None = None
    ) -> list[dict[str, Any]]:
        """Per local day: sessions, minutes, light minutes, CEM43 and energy."""
        where, params = self._filters(device, since)
        rows = self._query(
            "SELECT date(s.started_at, 'unixepoch', 'localtime') AS day, count(*) AS sessions, "
            + ", ".join(
                f"coalesce(sum({_num(f's.{column}', name).removesuffix(f' AS {name}')}), 0)"
                f" AS {name}"
                for column, name in (
                    ("actual_minutes", "minutes"),
                    ("light_minutes", "light_minutes"),
                    ("cem43_minutes", "cem43_minutes"),
                    ("energy_j", "energy_j"),
                )
            )
            + f" FROM sessions s JOIN devices d ON d.id = s.device_id{where}"
            " GROUP BY day ORDER BY day DESC",
            params,
        )
        return [dict(row) for row in rows]

    def session(self, session_id: str) -> SessionRow:
        rows = self._query(
            f"SELECT {self._columns} FROM sessions s JOIN devices d ON d.id = s.device_id"
            f" WHERE s.id = ? AND {_VALID_START}",
            (session_id,),
        )
        if not rows:
            there = self._query("SELECT 1 FROM sessions WHERE id = ?", (session_id,))
            raise JournalError(
                str(self.path),
                f"session {session_id!r} is damaged (its start is not a time)"
                if there
                else f"there is no session {session_id!r}",
            )
        return SessionRow(**dict(rows[0]))

    def limits(self, session_id: str) -> dict[str, float]:
        rows = self._query(
            "SELECT limits_json FROM session_limits WHERE session_id = ?", (session_id,)
        )
        return dict(json.loads(rows[0]["limits_json"])) if rows else {}

    def events(self, session_id: str) -> list[dict[str, Any]]:
        return [
            dict(row)
            for row in self._query(
                "SELECT t_s, kind, detail FROM events WHERE session_id = ? ORDER BY t_s, id",
                (session_id,),
            )
        ]

    def steps(self, session_id: str) -> list[dict[str, Any]]:
        return [
            dict(row)
            for row in self._query(
                "SELECT step_index, t_s, description FROM plan_steps WHERE session_id = ?"
                " ORDER BY step_index",
                (session_id,),
            )
        ]

    def samples(self, session_id: str) -> list[dict[str, Any]]:
        return [
            dict(row)
            for row in self._query(
                "SELECT t_s, at, seq, state, mode, temperature_c, setpoint_c, power_mw,"
                " output_on, battery_pct, contact FROM samples WHERE session_id = ?"
                " ORDER BY t_s, seq",
                (session_id,),
            )
        ]

    def sample_stats(self, session_id: str) -> dict[str, Any]:
        row = self._query(
            "SELECT count(*) AS samples, max(t_s) AS last_sample_t_s FROM samples"
            " WHERE session_id = ?",
            (session_id,),
        )[0]
        return {"samples": row["samples"], "last_sample_t_s": row["last_sample_t_s"]}

    def device_site(self, address: str) -> str | None:
        """The body site a device is used on unless a session names another."""
        if not self._has_column("devices", "site"):
            return None
        rows = self._query("SELECT site FROM devices WHERE address = ?", (address,))
        return rows[0]["site"] if rows else None

    def site_usage(self, site: str, now: float, time_scale: float) -> dict[str, Any]:
        """What every device used on one body site: heat sessions, their CEM43, cold and
        light in the last 24 hours (device seconds at ``time_scale``; ``now`` is wall time),
        and when cold last started there (wall time, or None)."""
        return self._site_rows(now, time_scale, site).get(site, _no_site_use(site))

    def dose(self, now: float, time_scale: float = 1.0) -> list[dict[str, Any]]:
        """Per body site, what every device used on it in the last 24 hours, most recent
        first (sites with nothing in the last 24 hours but a cold start are kept)."""
        rows = self._site_rows(now, time_scale, None)
        return sorted(rows.values(), key=lambda row: -row["last_at"])

    def _site_rows(
        self, now: float, time_scale: float, site: str | None
    ) -> dict[str, dict[str, Any]]:
        if not self._has_column("uses", "site"):
            return {}  # a journal before sites (readers never migrate)
        window_start = now - DAY_S / time_scale
        where = "u.site IS NOT NULL" if site is None else "u.site = ?"
        params: tuple[Any, ...] = (window_start,) * 10 + (() if site is None else (site,))
        area = self._area_column()
        rows = self._query(
            "SELECT u.site AS site,"
            " count(CASE WHEN u.mode = 'heat' AND u.started_at >= ?"
            " AND (u.on_s > 0 OR u.ended = 0) THEN 1 END) AS heat_sessions,"
            " coalesce(sum(CASE WHEN u.mode = 'heat' AND u.last_on_at >= ?"
            " THEN u.on_s END), 0) AS heat_s,"
            " coalesce(sum(CASE WHEN u.mode = 'heat' AND u.last_on_at >= ?"
            " THEN u.cem43_min END), 0) AS heat_cem43_min,"
            " coalesce(sum(CASE WHEN u.mode = 'cold' AND u.last_on_at >= ?"
            " THEN u.on_s END), 0) AS cold_s,"
            " max(CASE WHEN u.mode = 'cold' THEN u.started_at END) AS cold_at,"
            " coalesce(sum(CASE WHEN u.mode = 'light' AND u.last_on_at >= ?"
            " THEN u.on_s END), 0) AS light_s,"
            " coalesce(sum(CASE WHEN u.mode = 'light' AND u.last_on_at >= ?"
            " THEN u.energy_j END), 0) AS light_j,"
            # J/cm²: each light use's energy over its device's emitting area (guidance
            # and studies give light doses as fluence); unknown if any use's area is.
            " coalesce(sum(CASE WHEN u.mode = 'light' AND u.last_on_at >= ?"
            f" AND {area} > 0 THEN u.energy_j / {area} END), 0) AS light_j_cm2,"
            " count(CASE WHEN u.mode = 'light' AND u.last_on_at >= ? AND u.energy_j > 0"
            f" AND NOT coalesce({area} > 0, 0) THEN 1 END) AS light_unknown_area,"
            " max(u.last_on_at) AS last_at,"
            " count(CASE WHEN u.last_on_at >= ? OR u.started_at >= ? THEN 1 END) AS recent"
            f" FROM uses u WHERE {where} GROUP BY u.site",
            params,
        )
        found: dict[str, dict[str, Any]] = {}
        for row in rows:
            data = dict(row)
            # Numbers from a file: never negative, never NaN (a damaged row limits, not frees).
            for key in ("heat_s", "heat_cem43_min", "cold_s", "light_s", "light_j"):
                data[key] = _amount(data[key])
            data["light_j_cm2"] = _fluence(
                data["light_j"], data["light_j_cm2"], data.pop("light_unknown_area")
            )
            if data["recent"] or data["cold_at"] is not None:
                found[data["site"]] = data
        return found

    def _area_column(self) -> str:
        """The uses' emitting area in SQL (NULL, i.e. unknown, on a journal before it)."""
        return "u.emitting_area_cm2" if self._has_column("uses", "emitting_area_cm2") else "NULL"

    def light_uses(self, session_id: str | None = None) -> list[LightUse]:
        """Each step that gave light (of one session, or all), oldest first: its on-time,
        energy, the device's emitting area and so its J/cm² (None where the area is
        unknown)."""
        area = self._area_column()
        where, params = ("AND u.session_id = ?", (session_id,)) if session_id else ("", ())
        rows = self._query(
            f"SELECT u.session_id, u.site, u.started_at, u.on_s, u.energy_j, {area}"
            f" FROM uses u WHERE u.mode = 'light' {where} ORDER BY u.started_at, u.id",
            params,
        )
        return [LightUse(*row) for row in rows]

    def daily_dose(
        self,
        now: float,
        days: int = 1,
        *,
        tz: tzinfo | None = None,
        site: str | None = None,
    ) -> list[dict[str, Any]]:
        """Per calendar day, for display: the ``days`` days up to the one ``now`` is in
        (newest first; ``tz`` None: the machine's local time), each with per body site the
        heat sessions, minutes and CEM43, the cold starts and minutes, and the light minutes,
        J and J/cm² (None: an area unknown) of every use that *started* that day.

        These are not what the limits use: those hold over any 24 hours (:meth:`dose`).
        Minutes are device minutes, as there."""
        if not 1 <= days <= MAX_DAYS:
            raise ValueError(f"days must be 1 to {MAX_DAYS}, not {days}")
        today = datetime.fromtimestamp(now, tz).date()
        dates = [today - timedelta(days=back) for back in range(days - 1, -1, -1)]
        # Each day's first second (a day of 23 or 25 hours where the clocks change).
        starts = [datetime.combine(d, dtime.min, tzinfo=tz).timestamp() for d in dates]
        end = datetime.combine(today + timedelta(days=1), dtime.min, tzinfo=tz).timestamp()
        totals: dict[date, dict[str, dict[str, Any]]] = {d: {} for d in dates}
        if self._has_column("uses", "site"):
            area = self._area_column()
            clauses = ["u.site IS NOT NULL", "u.started_at >= ?", "u.started_at < ?"]
            params: list[Any] = [starts[0], end]
            if site is not None:
                clauses.append("u.site = ?")
                params.append(site)
            rows = self._query(
                "SELECT u.site, u.mode, u.started_at, u.on_s, u.ended, u.cem43_min,"
                f" u.energy_j, {area} AS area FROM uses u WHERE "
                + " AND ".join(clauses)
                + " ORDER BY u.started_at, u.id",
                tuple(params),
            )
            for row in rows:
                day = dates[bisect.bisect_right(starts, float(row["started_at"])) - 1]
                entry = totals[day].setdefault(row["site"], _no_day_use(row["site"]))
                _add_use(entry, row)
        return [
            {
                "day": d.isoformat(),
                "sites": [_day_site(entry) for _site, entry in sorted(totals[d].items())],
            }
            for d in reversed(dates)
        ]

    def usage(self, address: str, now: float, time_scale: float, site: str | None = None) -> Usage:
        """What one device used, for the limits of its next start: light on-time in the
        last 24 hours (a rolling day, whatever the time zone), the time since heat output
        was last on and since the last cold start. ``now`` is wall time; the result is in
        device seconds at ``time_scale``."""
        window_start = now - DAY_S / time_scale
        row = self._query(
            "SELECT coalesce(sum(CASE WHEN u.mode = 'light' AND u.last_on_at >= ?"
            " THEN u.on_s END), 0) AS light_s,"
            " max(CASE WHEN u.mode = 'heat' THEN u.last_on_at END) AS heat_at,"
            " max(CASE WHEN u.mode = 'cold' THEN u.started_at END) AS cold_at"
            " FROM uses u JOIN devices d ON d.id = u.device_id WHERE d.address = ?",
            (window_start, address),
        )[0]

        def since(at: float | None) -> float | None:
            return None if at is None else max(0.0, (now - at) * time_scale)

        usage = Usage(
            light_s_24h=float(row["light_s"]),
            s_since_heat=since(row["heat_at"]),
            s_since_cold_start=since(row["cold_at"]),
        )
        if site is None:
            return usage
        on_site = self.site_usage(site, now, time_scale)
        return replace(
            usage,
            site=site,
            site_heat_sessions_24h=int(on_site["heat_sessions"]),
            site_heat_cem43_24h_min=float(on_site["heat_cem43_min"]),
            site_light_s_24h=float(on_site["light_s"]),
            s_since_site_cold_start=since(on_site["cold_at"]),
        )

    # -- the diary: episodes and pain ratings (schema 6; an older journal has none)
    def episodes(self, *, site: str | None = None, open_only: bool = False) -> list[Episode]:
        """Episodes, the most recent first (``open_only``: those not ended)."""
        if not self._has_table("episodes"):
            return []
        # A row whose times or acute phase are not what the diary writes (edited by hand,
        # damaged) is left out: a reminder from it would be wrong, and nothing rests on it.
        clauses = [
            _time_ok("started_at"),
            f"(ended_at IS NULL OR {_time_ok('ended_at')})",
            "typeof(acute_h) IN ('integer', 'real') AND acute_h BETWEEN 48 AND 72",
        ]
        clauses += (["site = ?"] if site else []) + (["ended_at IS NULL"] if open_only else [])
        rows = self._query(
            "SELECT id, site, kind, started_at, ended_at, acute_h,"
            f" CASE WHEN {_time_ok('heat_warned_at')} THEN heat_warned_at END, note"
            f" FROM episodes WHERE {' AND '.join(clauses)} ORDER BY started_at DESC, id DESC",
            (site,) if site else (),
        )
        return [Episode(*row) for row in rows]

    def open_episode(self, site: str) -> Episode | None:
        """The open episode on a site (None: none)."""
        found = self.episodes(site=site, open_only=True)
        return found[0] if found else None

    def pain(
        self, *, since: float | None = None, until: float | None = None, site: str | None = None
    ) -> list[PainRating]:
        """Pain ratings, oldest first (``since``/``until``: wall time)."""
        if not self._has_table("pain"):
            return []
        clauses = [_time_ok("at"), "typeof(rating) = 'integer' AND rating BETWEEN 0 AND 10"]
        params: list[Any] = []
        for clause, value in (("at >= ?", since), ("at < ?", until), ("site = ?", site)):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        rows = self._query(
            "SELECT id, at, rating, site, session_id, moment, note FROM pain"
            f"{where} ORDER BY at, id",
            tuple(params),
        )
        return [PainRating(*row) for row in rows]

    def done(self, *, site: str | None = None, since: float | None = None) -> list[Done]:
        """What each step that turned output on gave (heat, cold, light), on which site and
        when it started (wall time): what the regimen counts."""
        if not self._has_column("uses", "site"):
            return []
        clauses = ["(u.on_s > 0 OR u.ended = 0)", _time_ok("u.started_at")]
        params: list[Any] = []
        if site is not None:
            clauses.append("u.site = ?")
            params.append(site)
        if since is not None:
            clauses.append("u.started_at >= ?")
            params.append(since)
        rows = self._query(
            "SELECT u.mode, u.site, u.started_at FROM uses u WHERE "
            + " AND ".join(clauses)
            + " ORDER BY u.started_at",
            tuple(params),
        )
        return [Done(row["mode"], row["site"], float(row["started_at"])) for row in rows]

    def _has_table(self, table: str) -> bool:
        return bool(self._query("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)))


class LightUse(NamedTuple):
    """One step that gave light: its energy and the device's emitting area (None: unknown)."""

    session_id: str
    site: str | None
    started_at: float
    on_s: float
    energy_j: float
    emitting_area_cm2: float | None

    @property
    def j_cm2(self) -> float | None:
        """The fluence, J/cm²: energy over the emitting area (None: the area is unknown)."""
        area = self.emitting_area_cm2
        if area is None or not area > 0:
            return None
        return _fluence(self.energy_j, self.energy_j / area, 0)


def _fluence(energy_j: float, j_cm2: float, unknown_areas: int) -> float | None:
    """A J/cm² total worth showing: None if any use with energy has no known area, or the
    sum is damaged (not finite, negative); never a division by zero or a guessed area."""
    if unknown_areas or not math.isfinite(energy_j):
        return None
    value = float(j_cm2)
    return value if math.isfinite(value) and value >= 0 else None


def _no_day_use(site: str) -> dict[str, Any]:
    return {
        "site": site,
        "heat_sessions": 0,
        "heat_s": 0.0,
        "heat_cem43_min": 0.0,
        "cold_starts": 0,
        "cold_s": 0.0,
        "light_s": 0.0,
        "light_j": 0.0,
        "light_j_cm2": 0.0,
        "light_unknown_area": 0,
    }


def _add_use(entry: dict[str, Any], row: sqlite3.Row) -> None:
    """Add one use to its site's day (counted as the rolling 24 h count it)."""
    on_s, mode = _amount(row["on_s"]), row["mode"]
    if mode == "heat":
        entry["heat_sessions"] += int(on_s > 0 or not row["ended"])
        entry["heat_s"] += on_s
        entry["heat_cem43_min"] += _amount(row["cem43_min"])
    elif mode == "cold":
        entry["cold_starts"] += int(on_s > 0 or not row["ended"])
        entry["cold_s"] += on_s
    elif mode == "light":
        energy_j, area = _amount(row["energy_j"]), row["area"]
        entry["light_s"] += on_s
        entry["light_j"] += energy_j
        if isinstance(area, int | float) and math.isfinite(area) and area > 0:
            entry["light_j_cm2"] += energy_j / float(area)
        elif energy_j > 0:
            entry["light_unknown_area"] += 1


def _day_site(entry: dict[str, Any]) -> dict[str, Any]:
    """One site's day as numbers to show: a damaged (NaN, negative) total is None."""

    def clean(value: float) -> float | None:
        return value if math.isfinite(value) and 0 <= value <= AMOUNT_MAX else None

    data = dict(entry)
    for key in ("heat_s", "heat_cem43_min", "cold_s", "light_s", "light_j"):
        data[key] = clean(float(data[key]))
    unknown = data.pop("light_unknown_area")
    light_j = data["light_j"]
    data["light_j_cm2"] = (
        None if light_j is None else _fluence(light_j, data["light_j_cm2"], unknown)
    )
    return data


def _no_site_use(site: str) -> dict[str, Any]:
    return {
        "site": site,
        "heat_sessions": 0,
        "heat_s": 0.0,
        "heat_cem43_min": 0.0,
        "cold_s": 0.0,
        "cold_at": None,
        "light_s": 0.0,
        "light_j": 0.0,
        "light_j_cm2": 0.0,
        "last_at": 0.0,
        "recent": 0,
    }


@contextlib.contextmanager
def reader(path: Path) -> Iterator[JournalReader]:
    journal = JournalReader(path)
    try:
        yield journal
    finally:
        journal.close()
