"""What the writer thread writes, and the SQL for each record.

Usage that later starts depend on is written as it happens: a step's use is recorded
(durably, before its START is sent) and then advanced with every batch of samples, so a
``kill -9``, a closed terminal or a power cut leaves at most one batch (about a second) of
on-time unrecorded, and the session is closed as ``interrupted`` the next time.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from device.safety import cem43_minutes
from protocols import Mode, Status

# On-time between two samples with the output on is counted in full (a device at a high
# time scale notifies tens of device seconds apart): what is unknown counts as used. Only
# an absurd gap (a clock jump) is cut to this.
MAX_SAMPLE_GAP_S = 600.0


@dataclass(frozen=True, slots=True)
class Begin:
    session_id: str
    identity: dict[str, str]
    mode: str | None
    plan: str | None
    requested_minutes: float
    time_scale: float
    limits: dict[str, float]
    at: float
    site: str | None = None
    emitting_area_cm2: float | None = None  # a light device's, from its Feature (None: unknown)


@dataclass(frozen=True, slots=True)
class Sample:
    session_id: str
    t_s: float
    at: float
    status: Status


@dataclass(frozen=True, slots=True)
class Event:
    session_id: str
    t_s: float
    at: float
    kind: str
    detail: str


@dataclass(frozen=True, slots=True)
class End:
    session_id: str
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class UseBegin:
    """A step is about to turn output on in ``mode`` (written before START is sent); the
    device keeps it on at most ``lease_s`` (device seconds) after the controller is gone."""

    session_id: str
    mode: str
    lease_s: float
    at: float


@dataclass(frozen=True, slots=True)
class UseEnd:
    """A step ended: its output-on time (device seconds) as the supervisor counted it."""

    session_id: str
    on_s: float
    at: float


@dataclass(frozen=True, slots=True)
class UseCancel:
    """The device refused the START: the step used nothing."""

    session_id: str


@dataclass(frozen=True, slots=True)
class Device:
    address: str
    name: str
    kind: str
    at: float


@dataclass(frozen=True, slots=True)
class Alias:
    address: str
    alias: str | None


@dataclass(frozen=True, slots=True)
class Site:
    """The body site a device is used on unless a session names another (None: none)."""

    address: str
    site: str | None


@dataclass(slots=True)
class Barrier:
    """Answered once everything queued before it is written (``ok``) or cannot be."""

    done: threading.Event = field(default_factory=threading.Event)
    ok: bool = False


@dataclass(slots=True)
class OpenUse:
    """The use a session's samples advance: its row, mode and the last sample's time."""

    use_id: int
    mode: str
    last_t_s: float | None = None


Record = Begin | Sample | Event | End | UseBegin | UseEnd | UseCancel | Device | Alias | Site


def write_samples(
    conn: sqlite3.Connection, samples: list[Sample], uses: dict[str, OpenUse]
) -> dict[str, OpenUse]:
    """Insert a batch of samples and advance each session's open use by the output-on time
    they show. Returns the open uses as they are after this batch (apply after commit)."""
    conn.executemany(
        "INSERT INTO samples VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            (
                s.session_id,
                s.t_s,
                s.at,
                s.status.seq,
                s.status.state.name.lower(),
                s.status.mode.name.lower(),
                s.status.temperature_c,
                s.status.setpoint_c,
                s.status.power_mw,
                int(s.status.output_on),
                s.status.battery_pct,
                int(s.status.skin_contact),
            )
            for s in samples
        ],
    )
    after = {key: OpenUse(u.use_id, u.mode, u.last_t_s) for key, u in uses.items()}
    # use id -> (on seconds, CEM43 min and light J added, last on at)
    advanced: dict[int, tuple[float, float, float, float]] = {}
    for s in samples:
        use = after.get(s.session_id)
        if use is None:
            continue
        previous, use.last_t_s = use.last_t_s, s.t_s
        if not s.status.output_on or s.status.mode != Mode[use.mode.upper()]:
            continue
        dt = 0.0 if previous is None else min(max(0.0, s.t_s - previous), MAX_SAMPLE_GAP_S)
        added, dose, energy, _ = advanced.get(use.use_id, (0.0, 0.0, 0.0, s.at))
        if use.mode == "heat" and s.status.temperature_c is not None:
            dose += cem43_minutes(s.status.temperature_c, dt)
        if use.mode == "light":
            energy += max(0, s.status.power_mw) / 1000 * dt
        advanced[use.use_id] = (added + dt, dose, energy, s.at)
    for use_id, (added, dose, energy, last_on_at) in advanced.items():
        conn.execute(
            "UPDATE uses SET on_s = on_s + ?, cem43_min = cem43_min + ?,"
            " energy_j = energy_j + ?, last_on_at = max(last_on_at, ?) WHERE id = ?",
            (added, dose, energy, last_on_at, use_id),
        )
    return after


def write_record(
    conn: sqlite3.Connection, item: Record, uses: dict[str, OpenUse]
) -> dict[str, OpenUse]:
    """Write one record; returns the open uses as they are after it (apply after commit)."""
    after = dict(uses)
    match item:
        case Begin():
            ident = item.identity
            conn.execute(
                "INSERT INTO devices (address, name, kind, model, firmware, serial,"
                " first_seen, last_seen) VALUES (?,?,?,?,?,?,?,?)"
                " ON CONFLICT(address) DO UPDATE SET name = excluded.name,"
                " kind = excluded.kind, model = excluded.model,"
                " firmware = excluded.firmware, serial = excluded.serial,"
                " last_seen = excluded.last_seen",
                (
                    ident["address"],
                    ident["name"],
                    ident["kind"],
                    ident["model"],
                    ident["firmware"],
                    ident.get("serial", ""),
                    item.at,
                    item.at,
                ),
            )
            device_id = conn.execute(
                "SELECT id FROM devices WHERE address = ?", (ident["address"],)
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO sessions (id, device_id, mode, plan, started_at, time_scale,"
                " requested_minutes, host, pid, site, emitting_area_cm2)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    item.session_id,
                    device_id,
                    item.mode,
                    item.plan,
                    item.at,
                    item.time_scale,
                    item.requested_minutes,
                    socket.gethostname(),
                    os.getpid(),
                    item.site,
                    item.emitting_area_cm2,
                ),
            )
            conn.execute(
                "INSERT INTO session_limits VALUES (?, ?)",
                (item.session_id, json.dumps(item.limits)),
            )
        case Event():
            if item.kind == "step":
                index = conn.execute(
                    "SELECT count(*) FROM plan_steps WHERE session_id = ?", (item.session_id,)
                ).fetchone()[0]
                conn.execute(
                    "INSERT INTO plan_steps VALUES (?,?,?,?)",
                    (item.session_id, index, item.t_s, item.detail),
                )
            if item.kind == "clamp":
                conn.execute(
                    "INSERT INTO clamps (session_id, t_s, message) VALUES (?,?,?)",
                    (item.session_id, item.t_s, item.detail),
                )
            conn.execute(
                "INSERT INTO events (session_id, t_s, at, kind, detail) VALUES (?,?,?,?,?)",
                (item.session_id, item.t_s, item.at, item.kind, item.detail),
            )
        case UseBegin():
            cursor = conn.execute(
                "INSERT INTO uses (session_id, device_id, mode, started_at, last_on_at,"
                " on_s, time_scale, lease_s, site, emitting_area_cm2)"
                " SELECT id, device_id, ?, ?, ?, 0, time_scale, ?, site, emitting_area_cm2"
                " FROM sessions WHERE id = ?",
                (item.mode, item.at, item.at, item.lease_s, item.session_id),
            )
            if cursor.lastrowid is not None and cursor.rowcount == 1:
                after[item.session_id] = OpenUse(cursor.lastrowid, item.mode)
        case UseEnd():
            use = uses.get(item.session_id)
            if use is not None:
                conn.execute(
                    "UPDATE uses SET on_s = max(on_s, ?), ended = 1,"
                    " last_on_at = CASE WHEN max(on_s, ?) > 0 THEN max(last_on_at, ?)"
                    " ELSE last_on_at END WHERE id = ?",
                    (item.on_s, item.on_s, item.at, use.use_id),
                )
                light = item.on_s / 60 if use.mode == "light" else 0.0
                heat_end = item.at if use.mode == "heat" else None
                conn.execute(
                    "UPDATE sessions SET light_minutes = light_minutes + ?,"
                    " heat_ended_at = coalesce(?, heat_ended_at) WHERE id = ?",
                    (light, heat_end, item.session_id),
                )
                after.pop(item.session_id, None)
        case UseCancel():
            use = uses.get(item.session_id)
            if use is not None:
                conn.execute("DELETE FROM uses WHERE id = ?", (use.use_id,))
                after.pop(item.session_id, None)
        case Device():
            # model and firmware are learned when a session runs on the device
            conn.execute(
                "INSERT INTO devices (address, name, kind, model, firmware, serial,"
                " first_seen, last_seen) VALUES (?,?,?,'','','',?,?)"
                " ON CONFLICT(address) DO UPDATE SET name = excluded.name,"
                " kind = excluded.kind, last_seen = max(last_seen, excluded.last_seen)",
                (item.address, item.name, item.kind, item.at, item.at),
            )
        case Alias():
            conn.execute(
                "UPDATE devices SET alias = ? WHERE address = ?", (item.alias, item.address)
            )
        case Site():
            conn.execute("UPDATE devices SET site = ? WHERE address = ?", (item.site, item.address))
        case End():
            fields = dict(item.fields)
            fields.setdefault("ended_at", time.time())
            assignments = ", ".join(f"{key} = ?" for key in fields)
            conn.execute(
                f"UPDATE sessions SET {assignments} WHERE id = ?",
                (*fields.values(), item.session_id),
            )
            after.pop(item.session_id, None)
        case Sample():  # pragma: no cover - samples are written in batches
            return write_samples(conn, [item], uses)
    return after
