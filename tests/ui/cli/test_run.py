"""``therapyctl run``: JSON summary, exit codes, bad input, and signals against sim serve."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
from pathlib import Path

import pytest

from device.journal import JournalReader
from tests.simserve import THERAPYCTL, sim_serve

SUMMARY_KEYS = {
    "session_id",
    "device",
    "requested_minutes",
    "planned_minutes",
    "actual_minutes",
    "end_reason",
    "limits_applied",
    "max_temperature_c",
    "min_temperature_c",
    "cem43_minutes",
    "energy_j",
    "events",
}


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [THERAPYCTL, "run", *args], check=False, capture_output=True, text=True, timeout=timeout
    )


def test_completed_session_prints_the_json_summary_and_exits_0() -> None:
    """--json: one object with every documented field; exit 0 for completed."""
    result = run(
        "--sim",
        "heat-pad",
        "--mode",
        "heat",
        "--setpoint",
        "44",
        "--minutes",
        "3",
        "--time-scale",
        "300",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert set(summary) >= SUMMARY_KEYS
    assert summary["mode"] == "heat" and summary["end_reason"] == "completed"
    assert set(summary["device"]) == {"kind", "name", "address", "model", "firmware"}
    assert summary["device"]["kind"] == "heat-pad"
    assert summary["requested_minutes"] == 3 and summary["planned_minutes"] == 3
    assert 2.9 <= summary["actual_minutes"] <= 3.05
    assert summary["limits_applied"] == [
        "heat is limited to 43 °C — setpoint 42.5 °C instead of 44 °C"
    ]
    assert all({"t_s", "kind", "detail"} == set(e) for e in summary["events"])
    assert "clamp: heat is limited to 43 °C" in result.stderr  # said on the progress output too


def test_safety_stop_exits_3_with_the_reason() -> None:
    """An injected overheat (a heater that ignores STOP): end_reason over_temperature, exit
    code 3, the stop within 0.5 °C of the ceiling, then the alarm and the true peak."""
    result = run(
        "--sim",
        "heat-pad",
        "--fault",
        "overheat@30",
        "--mode",
        "heat",
        "--minutes",
        "20",
        "--time-scale",
        "150",
        "--attended-ack",
        "auto",
        "--json",
    )
    assert result.returncode == 3, result.stderr
    summary = json.loads(result.stdout)
    assert summary["end_reason"] == "over_temperature"
    stop = next(e for e in summary["events"] if e["kind"] == "safety_stop")
    assert float(stop["detail"].split("reached ")[1].split(" °C")[0]) <= 43.5
    assert summary["alarms"] and "keeps heating" in summary["alarms"][0]
    assert summary["max_temperature_c"] > 44.0  # the true peak, not the 43 of the stop


def test_plan_runs_and_names_the_plan() -> None:
    """--plan light-daily on a belt: plan in the summary, energy delivered."""
    result = run(
        "--sim", "light-belt-420", "--plan", "light-daily", "--time-scale", "300", "--json"
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["plan"] == "light-daily" and "mode" not in summary
    # Energy is integrated from notification arrival times: at a lower time scale a stalled
    # loop moves fewer simulated seconds.
    assert summary["energy_j"] == pytest.approx(0.42 * 1800, rel=0.05)


def test_human_summary_without_json() -> None:
    """Without --json: a readable summary on stdout."""
    result = run("--sim", "thermal-pad", "--mode", "cold", "--minutes", "25", "--time-scale", "600")
    assert result.returncode == 0, result.stderr
    assert "cold ended completed" in result.stdout
    assert "limit applied: cold sessions are limited to 20 min — running 20" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mode", "heat", "--minutes", "5"], "exactly one of --device or --sim"),
        (
            ["--sim", "heat-pad", "--device", "x", "--mode", "heat", "--minutes", "5"],
            "exactly one of --device or --sim",
        ),
        (["--sim", "heat-pad", "--mode", "heat"], "--mode needs --minutes"),
        (
            ["--sim", "heat-pad", "--mode", "heat", "--minutes", "5", "--power", "400"],
            "--power is for --mode light",
        ),
        (["--sim", "toaster", "--mode", "heat", "--minutes", "5"], "unknown kind"),
        (
            ["--sim", "heat-pad", "--fault", "melt@5", "--mode", "heat", "--minutes", "5"],
            "unknown fault",
        ),
        (
            ["--sim", "heat-pad", "--plan", "heat", "--mode", "heat"],
            "exactly one of --plan or --mode",
        ),
        (["--sim", "heat-pad", "--mode", "heat", "--minutes", "-2"], "more than 0"),
        (["--sim", "heat-pad", "--mode", "warm", "--minutes", "2"], "'warm' is not one of"),
        (
            ["--sim", "heat-pad", "--mode", "heat", "--minutes", "2", "--radio", "x"],
            "--radio goes with --device",
        ),
    ],
)
def test_usage_errors_exit_2_without_traceback(args: list[str], message: str) -> None:
    """Wrong arguments: exit 2 and a message naming the problem."""
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_plan_file_names_the_line(tmp_path: Path) -> None:
    """A TOML syntax error and a bad value each give the file and line, exit 1."""
    broken = tmp_path / "broken.toml"
    broken.write_text('name = "x"\n[[step]]\nmode = "heat"\nminutes = = 5\n')
    result = run("--sim", "heat-pad", "--plan", str(broken))
    assert result.returncode == 1
    assert f"{broken}, line 4" in result.stderr and "Traceback" not in result.stderr
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(
        'name = "x"\n\n[[step]]\nmode = "heat"\nminutes = 5\n\n'
        '[[step]]\nmode = "hot"\nminutes = 5\n'
    )
    result = run("--sim", "heat-pad", "--plan", str(wrong))
    assert result.returncode == 1
    assert f"{wrong}, line 7: step 2: mode must be heat, cold or light, got 'hot'" in result.stderr


def test_plan_needing_a_mode_the_device_lacks_is_an_error() -> None:
    """contrast on a heat-only pad: one clear line, exit 1."""
    result = run("--sim", "heat-pad", "--plan", "contrast", "--time-scale", "100")
    assert result.returncode == 1
    assert "the contrast plan needs cold and heat; a heat-pad cannot do cold" in result.stderr


def test_limits_file_may_only_tighten(tmp_path: Path) -> None:
    """A limits file asking for 47 °C is refused, naming the line and the value in force."""
    limits = tmp_path / "limits.toml"
    limits.write_text("# stricter heat\nheat_ceiling_c = 47\n")
    result = run("--sim", "heat-pad", "--mode", "heat", "--minutes", "1", "--limits", str(limits))
    assert result.returncode == 1
    assert (
        f"{limits}, line 2: limit heat_ceiling_c: 47 is looser than the 43 in force"
        in result.stderr
    )


def test_tightened_limits_file_is_applied(tmp_path: Path) -> None:
    """A ceiling of 41 °C from the file clamps the setpoint to 40.5 °C."""
    limits = tmp_path / "limits.toml"
    limits.write_text("heat_ceiling_c = 41\n")
    result = run(
        "--sim",
        "heat-pad",
        "--mode",
        "heat",
        "--setpoint",
        "43",
        "--minutes",
        "1",
        "--time-scale",
        "100",
        "--limits",
        str(limits),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    assert "setpoint 40.5 °C instead of 43 °C" in json.loads(result.stdout)["limits_applied"][0]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_signal_during_run_leaves_the_served_device_off(sig: signal.Signals) -> None:
    """Ctrl-C or SIGTERM: the output goes off before exit, as the simulator itself reports."""
    async with sim_serve("--device", "heat-pad:pad", time_scale=20) as serve:
        await serve.pair("pad")  # only a bonded controller may turn the output on
        process = await asyncio.create_subprocess_exec(
            THERAPYCTL,
            "run",
            "--device",
            "pad",
            "--radio",
            serve.radio,
            "--mode",
            "heat",
            "--minutes",
            "15",
            "--attended-ack",
            "auto",
            "--json",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        await serve.wait_for(20, device="pad", event="state", state="running", output_on=True)
        process.send_signal(sig)
        out, err = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 130, err.decode()
        assert json.loads(out)["end_reason"] == "user_stopped"
        off = await serve.wait_for(10, device="pad", event="state", output_on=False)
        assert off["stop_cause"] == "stop_command" and off["state"] == "idle"
        assert serve.events.index(off) > serve.events.index(
            await serve.wait_for(1, device="pad", event="state", state="running")
        )


def test_configuration_file_limits_and_mqtt_errors_name_the_line(tmp_path: Path) -> None:
    """--config: [limits] tighten (applied), a looser one or a bad [mqtt] key names its line."""
    good = tmp_path / "good.toml"
    good.write_text("[limits]\nheat_ceiling_c = 41\n")
    result = run(
        "--sim",
        "heat-pad",
        "--mode",
        "heat",
        "--setpoint",
        "43",
        "--minutes",
        "1",
        "--time-scale",
        "100",
        "--config",
        str(good),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    assert "setpoint 40.5 °C" in json.loads(result.stdout)["limits_applied"][0]
    loose = tmp_path / "loose.toml"
    loose.write_text("[mqtt]\nprefix = 'x'\n\n[limits]\nheat_ceiling_c = 50\n")
    result = run("--sim", "heat-pad", "--mode", "heat", "--minutes", "1", "--config", str(loose))
    assert result.returncode == 1
    assert (
        f"{loose}, line 5: limit heat_ceiling_c: 50 is looser than the 43 in force" in result.stderr
    )
    typo = tmp_path / "typo.toml"
    typo.write_text("[mqtt]\nurl = 'mqtt://127.0.0.1:1'\nremote_contol = true\n")
    result = run("--sim", "heat-pad", "--mode", "heat", "--minutes", "1", "--config", str(typo))
    assert result.returncode == 1
    assert f"{typo}, line 3: unknown [mqtt] key 'remote_contol'" in result.stderr


async def test_run_on_a_served_device_uses_the_time_scale_the_device_reports() -> None:
    """A `sim serve --time-scale 60` device, run with no --time-scale: the controller runs at
    the device's 60x, so a 2-minute heat session completes after 2 minutes of device time."""
    async with sim_serve("--device", "heat-pad:pad", time_scale=60) as serve:
        await serve.pair("pad")  # only a bonded controller may turn the output on
        process = await asyncio.create_subprocess_exec(
            THERAPYCTL,
            "run",
            "--device",
            "pad",
            "--radio",
            serve.radio,
            "--mode",
            "heat",
            "--minutes",
            "2",
            "--attended-ack",
            "auto",
            "--json",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode()
        summary = json.loads(out)
        assert summary["end_reason"] == "completed"
        assert 1.95 <= summary["actual_minutes"] <= 2.05
        done = await serve.wait_for(10, device="pad", event="state", output_on=False)
        assert done["stop_cause"] in ("completed", "stop_command")


NOWHERE = "tcp-client:127.0.0.1:1"  # a radio that is never opened: the usage error comes first


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--device", "pad", "--radio", NOWHERE, "--mode", "heat", "--minutes", "2"],
        ["serve", "--device", "pad", "--radio", NOWHERE],
        ["ui", "--radio", NOWHERE],
        ["ui"],  # the system adapter: real devices
    ],
    ids=["run", "serve", "ui --radio", "ui"],
)
def test_time_scale_without_sim_is_a_usage_error(args: list[str]) -> None:
    """--time-scale with a device that is not simulated in-process: exit 2, one line saying a
    device reports its own time base (nothing is opened)."""
    result = subprocess.run(
        [THERAPYCTL, *args, "--time-scale", "30"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "--time-scale goes with --sim; a device reports its own time base" in result.stderr
    assert "Traceback" not in result.stderr


async def test_run_against_an_unpaired_served_device_says_how_to_pair() -> None:
    """Issue #11: a device takes commands only from a bonded controller. `run` against one
    this controller has not paired with is one line saying how to pair, exit 1, and the
    device never turned its output on."""
    async with sim_serve("--device", "heat-pad:pad", time_scale=60) as serve:
        process = await asyncio.create_subprocess_exec(
            THERAPYCTL, "run", "--device", "pad", "--radio", serve.radio, "--mode", "heat",
            "--minutes", "1", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 1
        lines = err.decode().strip().splitlines()
        assert lines[-1] == (
            "therapyctl: error: pad (" + serve.address("pad") + ") is not paired with this"
            " controller: open its pairing window and run"
            f" `therapyctl pair pad --radio {serve.radio}`"
        )
        assert not any(e.get("output_on") for e in serve.events)


def test_a_level_the_device_lacks_is_a_usage_error_and_never_journaled(tmp_path: Path) -> None:
    """Issue #12, finding 4: `--level 5` on a 4-level pad ended as device_fault (exit 3) and
    was journaled. Now: exit 2, the levels the device has in the message, nothing on record."""
    db = tmp_path / "j.db"
    result = run(
        "--sim", "heat-pad", "--mode", "heat", "--level", "5", "--minutes", "5", "--db", str(db)
    )
    assert result.returncode == 2, result.stderr
    assert (
        "this heat pad has heat levels 1 to 4 (37 °C, 39 °C, 41 °C, 43 °C), not 5" in result.stderr
    )
    assert "Traceback" not in result.stderr
    with JournalReader(db) as reader:
        assert reader.sessions(include_refused=True) == []


def test_a_plan_summary_counts_its_rests_apart_from_its_treatment() -> None:
    """Finding 9: "completed after 39.9 of 60.0 planned min" left the rests out. Now the
    summary says the minutes of treatment and the minutes with rests."""
    result = run("--sim", "thermal-pad", "--plan", "contrast", "--time-scale", "300",
                 "--attended-ack")  # fmt: skip
    assert result.returncode == 0, result.stderr
    line = result.stdout.splitlines()[0]
    found = re.search(
        r"ended completed after (\d+\.\d) min of treatment"
        r" \((\d+\.\d) min with rests\) of 60\.0 planned",
        line,
    )
    assert found, line
    treatment, with_rests = float(found[1]), float(found[2])
    assert treatment == pytest.approx(40, abs=0.5)  # heat 20 + cold 20
    assert with_rests == pytest.approx(60, abs=2.5)  # + the 20 min rest
