"""Journal figures: batched sample insert rate (target >= 20,000 samples/s) and `history`
over 10,000 sessions (target < 100 ms). Prints its figures; run it, it is not a test.

    .venv/bin/python bench/journal_bench.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from device.journal import JournalReader, JournalWriter
from protocols import Fault, Mode, State, Status, StatusFlag, StopCause

SAMPLES = 200_000
SESSIONS = 10_000
SAMPLES_PER_SESSION = 60


def status(seq: int) -> Status:
    return Status(
        seq & 0xFFFF,
        State.RUNNING,
        Mode.HEAT,
        0,
        41.0,
        38.0 + (seq % 50) / 100,
        9000,
        StatusFlag.OUTPUT_ON | StatusFlag.SKIN_CONTACT,
        seq,
        600,
        Fault(0),
        StopCause.NONE,
        80,
    )


def identity(i: int) -> dict[str, str]:
    return {
        "kind": "heat-pad",
        "name": f"pad{i % 8}",
        "address": f"C0:00:00:00:00:{i % 8:02X}",
        "model": "heat-pad",
        "firmware": "sim",
        "serial": "SIM",
    }


def insert_rate(path: Path) -> float:
    writer = JournalWriter(path)
    writer.begin(
        "bench",
        identity(0),
        mode="heat",
        plan=None,
        requested_minutes=20,
        time_scale=1.0,
        limits={},
    )
    statuses = [status(i) for i in range(SAMPLES)]
    started = time.perf_counter()
    for i, s in enumerate(statuses):
        writer.sample("bench", i * 0.1, s)
    writer.close()  # everything committed when this returns
    elapsed = time.perf_counter() - started
    assert writer.samples_written == SAMPLES, writer.errors
    return SAMPLES / elapsed


def fill(path: Path) -> None:
    writer = JournalWriter(path)
    for n in range(SESSIONS):
        sid = f"s{n:05d}"
        writer.begin(
            sid,
            identity(n),
            mode="heat",
            plan=None,
            requested_minutes=20,
            time_scale=1.0,
            limits={"heat_ceiling_c": 43.0},
        )
        for k in range(SAMPLES_PER_SESSION):
            writer.sample(sid, k * 20.0, status(k))
        writer.event(sid, 1200.0, "ended", "completed")
        writer.end(
            sid,
            actual_minutes=20.0,
            end_reason="completed",
            max_temperature_c=42.5,
            min_temperature_c=30.0,
            cem43_minutes=5.0,
            energy_j=0.0,
        )
    writer.close()


def history_ms(path: Path, limit: int | None) -> float:
    times = []
    for _ in range(7):
        started = time.perf_counter()
        with JournalReader(path) as reader:
            rows = reader.sessions(limit=limit)
            days = reader.day_totals()
        times.append((time.perf_counter() - started) * 1000)
        assert rows and days
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rate = insert_rate(Path(tmp) / "insert.sqlite3")
        print(
            f"batched sample inserts: {rate:,.0f} samples/s over {SAMPLES:,} samples"
            " (target >= 20,000)"
        )
        path = Path(tmp) / "history.sqlite3"
        started = time.perf_counter()
        fill(path)
        print(
            f"filled {SESSIONS:,} sessions x {SAMPLES_PER_SESSION} samples in"
            f" {time.perf_counter() - started:.1f} s"
        )
        print(
            f"history (newest 50 + totals per day) over {SESSIONS:,} sessions:"
            f" {history_ms(path, 50):.1f} ms median of 7 (target < 100)"
        )
        print(
            f"history --limit {SESSIONS} (every session listed) + totals:"
            f" {history_ms(path, SESSIONS):.1f} ms median of 7"
        )


if __name__ == "__main__":
    main()
