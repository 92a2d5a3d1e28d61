"""The journal from the command line: crash safety, limits across processes, history, show,
export, plot, and every kind of bad database."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import signal
import sqlite3
import struct
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from device.journal import SCHEMA_VERSION, JournalReader, JournalWriter
from tests.simserve import THERAPYCTL
from ui.reports.export import CSV_COLUMNS, export_data
from ui.reports.plot import draw_session


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [THERAPYCTL, *args], check=False, capture_output=True, text=True, timeout=timeout
    )


def run_json(db: Path, *args: str) -> dict:
    result = cli("run", *args, "--db", str(db), "--json")
    assert result.returncode in (0, 3), result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    """A journal with a contrast plan and a light session in it."""
    db = tmp_path_factory.mktemp("journal") / "journal.sqlite3"
    contrast = run_json(
        db,
        "--sim",
        "thermal-pad",
        "--plan",
        "contrast",
        "--time-scale",
        "300",
        "--attended-ack",
        "auto",
    )
    light = run_json(
        db, "--sim", "light-belt-420", "--mode", "light", "--minutes", "10", "--time-scale", "300"
    )
    return db, contrast, light


def test_history_lists_sessions_newest_first_with_day_totals(journal) -> None:
    """history --json: both sessions, newest first, and a day total that adds up."""
    db, contrast, light = journal
    result = cli("history", "--db", str(db), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [s["session_id"] for s in data["sessions"]] == [
        light["session_id"],
        contrast["session_id"],
    ]
    newest = data["sessions"][0]
    assert newest["mode"] == "light" and newest["end_reason"] == "completed"
    assert newest["energy_j"] == pytest.approx(0.42 * 600, rel=0.05)
    assert newest["samples"] > 10
    day = data["days"][0]
    assert day["sessions"] == 2 and day["light_minutes"] == pytest.approx(10, abs=0.2)
    table = cli("history", "--db", str(db))
    assert table.returncode == 0
    assert contrast["session_id"] in table.stdout and "contrast" in table.stdout
    filtered = json.loads(
        cli("history", "--db", str(db), "--json", "--device", "thermal-pad").stdout
    )
    assert [s["session_id"] for s in filtered["sessions"]] == [contrast["session_id"]]


def test_show_gives_summary_limits_and_events(journal) -> None:
    """show: the plan's steps, its limits and its events."""
    db, contrast, _ = journal
    result = cli("show", contrast["session_id"], "--db", str(db), "--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["plan"] == "contrast" and shown["end_reason"] == "completed"
    assert shown["limits"]["heat_ceiling_c"] == 43.0
    assert [s["description"] for s in shown["steps"]] == [
        "step 1/3: heat 20 min 40 °C",
        "step 2/3: rest 20 min",
        "step 3/3: cold 20 min 15 °C",
    ]
    assert [e["kind"] for e in shown["events"]].count("started") == 2
    text = cli("show", contrast["session_id"], "--db", str(db))
    assert "contrast on thermal-pad" in text.stdout and "ceiling 43 °C" in text.stdout


def test_json_export_round_trips(journal, tmp_path: Path) -> None:
    """export --all --format json: parsing the file gives back exactly the journal's data."""
    db, _, _ = journal
    out = tmp_path / "all.json"
    result = cli("export", "--all", "--format", "json", "-o", str(out), "--db", str(db))
    assert result.returncode == 0, result.stderr
    parsed = json.loads(out.read_text(encoding="utf-8"))
    with JournalReader(db) as reader:
        assert parsed == json.loads(json.dumps(export_data(reader, reader.sessions())))
    assert len(parsed["sessions"]) == 2
    assert all(len(s["samples"]) > 10 for s in parsed["sessions"])


def test_csv_export_parses_back_to_the_samples(journal, tmp_path: Path) -> None:
    """export SESSION --format csv: a header, one row per sample, values that match."""
    db, _, light = journal
    out = tmp_path / "light.csv"
    result = cli("export", light["session_id"], "--format", "csv", "-o", str(out), "--db", str(db))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    with JournalReader(db) as reader:
        samples = reader.samples(light["session_id"])
    assert len(rows) == len(samples)
    for row, sample in zip(rows, samples, strict=True):
        assert row["session_id"] == light["session_id"]
        assert float(row["t_s"]) == pytest.approx(sample["t_s"], abs=1e-3)
        assert int(row["power_mw"]) == sample["power_mw"]
        assert float(row["temperature_c"]) == pytest.approx(sample["temperature_c"], abs=0.005)


def test_plot_writes_valid_png_and_svg(journal, tmp_path: Path) -> None:
    """plot: a real PNG (signature, size) and a real SVG (parses, has the axis labels)."""
    db, contrast, _ = journal
    png, svg = tmp_path / "c.png", tmp_path / "c.svg"
    for path in (png, svg):
        result = cli("plot", contrast["session_id"], "-o", str(path), "--db", str(db))
        assert result.returncode == 0, result.stderr
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1000, 500)
    tree = ET.parse(svg)
    assert tree.getroot().tag.endswith("svg")
    text = svg.read_text()
    assert "temperature (°C)" in text or "temperature" in text


def test_the_chart_has_labels_limit_lines_steps_and_events(journal) -> None:
    """What the chart draws: axis labels, both limit lines, the three steps."""
    db, contrast, _ = journal
    sid = contrast["session_id"]
    with JournalReader(db) as reader:
        figure = draw_session(
            reader.session(sid),
            reader.samples(sid),
            reader.events(sid),
            reader.steps(sid),
            reader.limits(sid),
        )
    ax = figure.axes[0]
    assert ax.get_xlabel() == "time (min)" and ax.get_ylabel() == "temperature (°C)"
    labels = [line.get_label() for line in ax.get_lines()]
    assert "heat limit 43 °C" in labels and "cold limit 10 °C" in labels
    limit = next(line for line in ax.get_lines() if line.get_label() == "heat limit 43 °C")
    assert list(limit.get_ydata()) == [43.0, 43.0]
    notes = [t.get_text() for t in ax.texts]
    assert notes[:3] == ["heat 20 min 40 °C", "rest 20 min", "cold 20 min 15 °C"]


@pytest.mark.slow
def test_a_killed_controller_leaves_an_interrupted_session_with_its_samples(tmp_path: Path) -> None:
    """SIGKILL mid-session: the next start closes it as interrupted; samples up to the kill."""
    db = tmp_path / "j.db"
    scale = 30.0
    process = subprocess.Popen(
        [
            THERAPYCTL,
            "run",
            "--sim",
            "heat-pad",
            "--mode",
            "heat",
            "--minutes",
            "15",
            "--time-scale",
            str(scale),
            "--attended-ack",
            "auto",
            "--db",
            str(db),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        for line in process.stderr:  # the progress line: one per simulated minute
            if " heat running " in line and "  2:0" in line:
                break  # two simulated minutes in: several sample batches written
        killed_at = time.time()
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    result = cli("history", "--db", str(db), "--json")  # the next start of therapyctl
    session = json.loads(result.stdout)["sessions"][0]
    assert session["end_reason"] == "interrupted"
    with JournalReader(db) as reader:
        started = reader.session(session["session_id"]).started_at
    expected_t_s = (killed_at - started) * scale
    assert session["samples"] > 20
    # at most about the last second (+ one Status period) of samples lost
    assert expected_t_s - (1.0 + 0.2) * scale <= session["last_sample_t_s"] <= expected_t_s + scale


def test_light_daily_limit_holds_across_processes(tmp_path: Path) -> None:
    """Two light sessions in one day in separate processes: the second is cut at 30 min."""
    db = tmp_path / "j.db"
    first = run_json(
        db, "--sim", "light-belt-800", "--mode", "light", "--minutes", "20", "--time-scale", "600"
    )
    second = run_json(
        db, "--sim", "light-belt-800", "--mode", "light", "--minutes", "30", "--time-scale", "600"
    )
    third = run_json(
        db, "--sim", "light-belt-800", "--mode", "light", "--minutes", "5", "--time-scale", "600"
    )
    assert first["end_reason"] == "completed"
    # Cut to what was left at the start: it completes as planned (issue #12, finding 8).
    assert second["end_reason"] == "completed"
    assert "10 min left, running 10" in second["limits_applied"][0]
    assert first["actual_minutes"] + second["actual_minutes"] == pytest.approx(30, abs=0.3)
    assert third["end_reason"] == "daily_limit" and third["actual_minutes"] == 0
    # Issue #12, finding 8: the refused third is a refusal on record, not a 0-min session.
    with JournalReader(db) as reader:
        listed = [row.session_id for row in reader.sessions()]
        everything = reader.sessions(include_refused=True)
        totals = reader.day_totals()
    assert third["session_id"] not in listed and len(listed) == 2
    assert [r.refused for r in everything if r.session_id == third["session_id"]] == [True]
    assert sum(day["sessions"] for day in totals) == 2
    # `history` lists the two sessions; `history --all` the refusal too, marked as one.
    plain = cli("history", "--db", str(db)).stdout
    shown_all = cli("history", "--all", "--db", str(db)).stdout
    assert third["session_id"] not in plain
    refused_line = next(line for line in shown_all.splitlines() if third["session_id"] in line)
    assert "refused:daily_limit" in refused_line
    # One column per quantity: light energy in J, never in the CEM43 column.
    header = plain.splitlines()[0].split()
    assert "CEM43" in header and "J" in header and "CEM43/J" not in header
    first_line = next(line for line in plain.splitlines() if first["session_id"] in line)
    assert float(first_line.split()[-2]) == pytest.approx(first["energy_j"], abs=1)


def test_heat_rest_holds_across_processes(tmp_path: Path) -> None:
    """Heat, then heat again at once from another process: refused as rest_required."""
    db = tmp_path / "j.db"
    run_json(db, "--sim", "heat-pad", "--mode", "heat", "--minutes", "2", "--time-scale", "100")
    again = run_json(
        db, "--sim", "heat-pad", "--mode", "heat", "--minutes", "2", "--time-scale", "1"
    )
    assert again["end_reason"] == "rest_required"


# ------------------------------------------------------------------------ bad databases


def one_line_error(result: subprocess.CompletedProcess[str], text: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert text in lines[0], lines[0]


def test_unknown_session_and_missing_journal(tmp_path: Path, journal) -> None:
    """An id that is not there; a journal that does not exist: one line each."""
    db, _, _ = journal
    one_line_error(
        cli("show", "nosuchsession", "--db", str(db)), "there is no session 'nosuchsession'"
    )
    one_line_error(
        cli("plot", "nosuchsession", "-o", str(tmp_path / "x.png"), "--db", str(db)),
        "there is no session",
    )
    one_line_error(cli("show", "last", "--db", str(tmp_path / "none.db")), "no journal here yet")


@pytest.mark.parametrize(
    "command",
    [
        ["history"],
        ["export", "--all", "--format", "json"],
        ["run", "--sim", "heat-pad", "--mode", "heat", "--minutes", "1"],
    ],
)
def test_corrupt_journal_is_one_line(tmp_path: Path, command: list[str]) -> None:
    """A corrupt file: every command says so in one line; the file is not changed."""
    db = tmp_path / "j.db"
    db.write_bytes(b"\x00garbage" * 500)
    before = db.read_bytes()
    one_line_error(cli(*command, "--db", str(db)), "not a therapyctl journal")
    assert db.read_bytes() == before


def test_newer_journal_is_refused_by_every_command(tmp_path: Path) -> None:
    """A journal from a newer therapyctl: refused for reading and writing, untouched."""
    db = tmp_path / "j.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE sessions (id TEXT)")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 3}")
    conn.close()
    before = db.read_bytes()
    one_line_error(cli("history", "--db", str(db)), "newer therapyctl")
    one_line_error(
        cli("run", "--sim", "heat-pad", "--mode", "heat", "--minutes", "1", "--db", str(db)),
        "newer therapyctl",
    )
    assert db.read_bytes() == before


@contextlib.contextmanager
def read_only_copy(db: Path, tmp_path: Path) -> Iterator[Path]:
    """The journal seen through a read-only bind mount (root ignores file modes)."""
    source, mount_point = tmp_path / "src", tmp_path / "ro"
    source.mkdir()
    mount_point.mkdir()
    (source / db.name).write_bytes(db.read_bytes())

    def mount(*args: str) -> bool:
        return subprocess.run(["mount", *args], check=False, capture_output=True).returncode == 0

    ok = mount("--bind", str(source), str(mount_point))
    if ok and not mount("-o", "remount,ro,bind", str(mount_point)):
        subprocess.run(["umount", str(mount_point)], check=False)
        ok = False
    if not ok:
        pytest.skip("cannot make a read-only mount on this machine")
    try:
        yield mount_point / db.name
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)


def test_read_only_journal_can_be_read_but_not_written(tmp_path: Path, journal) -> None:
    """On a read-only file system: history works; run refuses in one line before starting."""
    db, contrast, _ = journal
    with read_only_copy(db, tmp_path) as ro:
        result = cli("history", "--db", str(ro), "--json")
        assert result.returncode == 0, result.stderr
        assert contrast["session_id"] in result.stdout
        result = cli(
            "run", "--sim", "heat-pad", "--mode", "heat", "--minutes", "1", "--db", str(ro)
        )
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        assert "journal" in result.stderr and (
            "read-only" in result.stderr or "cannot be opened" in result.stderr
        )
        assert "connected to" not in result.stderr  # refused before any device was touched


def test_locked_journal_is_one_line(tmp_path: Path) -> None:
    """Held by another process's exclusive lock: 'locked', exit 1, within seconds."""
    db = tmp_path / "j.db"
    run_json(db, "--sim", "heat-pad", "--mode", "heat", "--minutes", "1", "--time-scale", "100")
    holder = sqlite3.connect(db, timeout=0)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        one_line_error(
            cli("run", "--sim", "heat-pad", "--mode", "heat", "--minutes", "1", "--db", str(db)),
            "locked by another process",
        )
    finally:
        holder.rollback()
        holder.close()


def test_export_and_plot_usage_errors(tmp_path: Path, journal) -> None:
    """No id and no --all; a plot file that is not PNG or SVG: usage errors (exit 2)."""
    db, contrast, _ = journal
    result = cli("export", "--format", "csv", "--db", str(db))
    assert result.returncode == 2 and "SESSION_ID or --all" in result.stderr
    result = cli("plot", contrast["session_id"], "-o", str(tmp_path / "x.jpg"), "--db", str(db))
    assert result.returncode == 2 and ".png or .svg" in result.stderr
    result = cli("history", "--since", "yesterday", "--db", str(db))
    assert result.returncode == 2 and "yesterday" in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["history"],
        ["show", "last"],
        ["run", "--sim", "heat-pad", "--mode", "heat", "--minutes", "1"],
    ],
)
def test_a_journal_path_that_is_a_directory_is_named_so(tmp_path: Path, command: list[str]) -> None:
    """Issue #12, finding 10: `--db DIR` said "disk I/O error" (or "disk full")."""
    one_line_error(cli(*command, "--db", str(tmp_path)), "it is a directory: give --db a file")


def test_history_finds_a_device_by_the_alias_given_in_the_ui(journal) -> None:
    """Issue #12, finding 10: an alias set in the UI was unknown to `history --device`."""
    db, _, light = journal
    address = light["device"]["address"]
    writer = JournalWriter(db)
    try:
        writer.set_alias(address, "Belt of mine")
        asyncio.run(writer.barrier())
    finally:
        writer.close()
    result = cli("history", "--device", "Belt of mine", "--db", str(db), "--json")
    assert result.returncode == 0, result.stderr
    ids = [s["session_id"] for s in json.loads(result.stdout)["sessions"]]
    assert ids == [light["session_id"]]
