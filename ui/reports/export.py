"""Journal exports: CSV that opens cleanly in a spreadsheet, JSON that round-trips."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from device.journal import JournalReader, SessionRow

EXPORT_FORMAT = "therapyctl-journal-export"
EXPORT_VERSION = 1

CSV_COLUMNS = (
    "session_id",
    "device_name",
    "device_address",
    "device_kind",
    "mode",
    "plan",
    "site",
    "session_started_at",
    "end_reason",
    "t_s",
    "at",
    "state",
    "sample_mode",
    "temperature_c",
    "setpoint_c",
    "power_mw",
    "output_on",
    "battery_pct",
    "contact",
)


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at).astimezone().isoformat(timespec="milliseconds")


def export_data(reader: JournalReader, sessions: list[SessionRow]) -> dict[str, Any]:
    """Everything about ``sessions``: the JSON export's content."""
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "sessions": [
            {
                **row.as_json(),
                "limits": reader.limits(row.session_id),
                "steps": reader.steps(row.session_id),
                "events": reader.events(row.session_id),
                "samples": reader.samples(row.session_id),
            }
            for row in sessions
        ],
    }


def to_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def to_csv(reader: JournalReader, sessions: list[SessionRow]) -> str:
    """One row per sample, with its session's columns; a session without samples: one row."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in sessions:
        head = [
            row.session_id,
            row.device_name,
            row.device_address,
            row.device_kind,
            row.mode or "",
            row.plan or "",
            row.site or "",
            _iso(row.started_at),
            row.end_reason or "",
        ]
        samples = reader.samples(row.session_id)
        if not samples:
            writer.writerow([*head] + [""] * (len(CSV_COLUMNS) - len(head)))
        for s in samples:
            writer.writerow(
                [
                    *head,
                    f"{s['t_s']:.3f}",
                    _iso(s["at"]),
                    s["state"],
                    s["mode"],
                    "" if s["temperature_c"] is None else f"{s['temperature_c']:.2f}",
                    "" if s["setpoint_c"] is None else f"{s['setpoint_c']:.2f}",
                    s["power_mw"],
                    s["output_on"],
                    s["battery_pct"],
                    s["contact"],
                ]
            )
    return out.getvalue()
