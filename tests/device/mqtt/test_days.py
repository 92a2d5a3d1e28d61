"""Therapy over days on a real Mosquitto broker (issue 14): each body site's dose against its
limits, the "next session due" timestamp and its timer, the last pain rating, their Home
Assistant discovery, hostile site names that never make a bad topic, and ``serve --site``
with remote starts that carry a site (a bad one refused, nothing started)."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from device.journal import JournalReader, JournalWriter, record_pain, start_episode
from device.mqtt import (
    CommandRejected,
    DaysReporter,
    MqttBridge,
    MqttSettings,
    parse_command,
    site_slug,
)
from device.mqtt.days import next_due_state
from device.safety import DEFAULT_LIMITS, Awake
from device.sessions import RegimenSettings
from protocols import Mode
from tests.device.helpers import status
from tests.device.journal.test_sites import BELT, PAD, begin
from tests.mosquitto import Watcher, mosquitto, publish, running
from tests.simserve import THERAPYCTL

pytestmark = pytest.mark.slow

ALWAYS_AWAKE = RegimenSettings(Awake(0, 24 * 60))  # due times are never moved to a morning
EST = timezone(timedelta(hours=-5))
AWAKE_EST = RegimenSettings(Awake(0, 24 * 60), EST)  # a zone of its own: the offset shows
# Home Assistant's entity id (homeassistant.core.valid_entity_id).
ENTITY_ID = re.compile(r"^(?!.+__)(?!_)[\da-z_]+(?<!_)\.(?!_)[\da-z_]+(?<!_)$")
SAFE_TOPIC = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*")
HEAT_PAD_KEY = "d67cbee042e5"  # the simulated heat-pad's address, without colons


def session(
    writer: JournalWriter,
    session_id: str,
    address: str,
    mode: Mode,
    site: str,
    on_s: int,
    **sample: Any,
) -> None:
    """A whole session on ``site``: ``on_s`` seconds of output, with one sample a second
    (``sample``: the Status fields) when given."""
    begin(writer, session_id, address, mode.name.lower(), site)
    writer.use_begins(session_id, mode)
    if sample:
        for second in range(on_s + 1):
            writer.sample(session_id, float(second), status(mode=mode, seq=second + 1, **sample))
    writer.use_ends(session_id, float(on_s))
    writer.end(session_id, end_reason="completed", actual_minutes=on_s / 60)


def render(template: str, state: dict[str, Any]) -> str:
    """A template rendered as Home Assistant renders it (value, value_json)."""
    env = ImmutableSandboxedEnvironment()
    return env.from_string(template).render(value=json.dumps(state), value_json=state)


def local_iso(at: float) -> str:
    return datetime.fromtimestamp(at).astimezone().isoformat(timespec="seconds")


async def retained(port: int) -> dict[str, Any]:
    """Every retained message on the broker now: topic -> payload (a marker published after
    subscribing comes back after all the retained ones)."""
    async with Watcher(port, ("#", "test/marker")) as late:
        await publish(port, "test/marker", "end")
        await late.wait_for(lambda t, p, r: t == "test/marker")
        return {t: p for t, p, r in late.messages if r and p != ""}


def settings(port: int, node: str) -> MqttSettings:
    return MqttSettings("127.0.0.1", port, node_id=node)


def test_a_site_slug_is_safe_distinct_and_readable() -> None:
    """Usual sites keep their words; hostile text (topic wildcards, a slash, NUL, 400
    characters, accents, a lone surrogate) becomes [a-z0-9_] only, at most 49 characters,
    no leading, trailing or doubled underscore, and different sites never share a slug."""
    assert site_slug("lower-back") == "lower_back"
    assert site_slug("shoulder-left") == "shoulder_left"
    hostile = [
        "a/b+#",
        "a-b+#",
        "a-b",
        "a_b",
        "x" * 400,
        "x" * 401,
        "+",
        "#",
        "/",
        "\x00",
        "",
        "épaule",
        "nacken-\ud800",
        "--",
        "a__b",
        "LOWER-BACK",
    ]
    slugs = [site_slug(site) for site in hostile]
    for site, slug in zip(hostile, slugs, strict=True):
        assert re.fullmatch(r"[a-z0-9_]{1,49}", slug), (site, slug)
        assert not slug.startswith("_") and not slug.endswith("_") and "__" not in slug
        assert ENTITY_ID.match(f"sensor.therapyctl_d1_site_{slug}_heat_minutes"), slug
    assert len(set(slugs)) == len(hostile)
    assert "lower_back" not in slugs  # "LOWER-BACK" is not the site lower-back


async def test_per_site_dose_state_and_discovery_match_the_journal(tmp_path: Path) -> None:
    """A heat pad, a cold session and a belt on lower-back and a pad on neck: each site's
    retained state has the dose the test wrote (heat sessions, minutes, CEM43 at 42 °C,
    cold and light minutes, light J) and what is left of the site limits; every discovery
    config has the required keys, a distinct unique id, a valid default_entity_id and the
    controller's availability, and no template renders "None", on these states or on a
    damaged one."""
    path = tmp_path / "j.db"
    writer = JournalWriter(path)
    session(writer, "h1", PAD, Mode.HEAT, "lower-back", 300, temperature_c=42.0)
    session(writer, "c1", PAD, Mode.COLD, "lower-back", 600)
    session(writer, "l1", BELT, Mode.LIGHT, "Lower Back", 300, power_mw=800)
    session(writer, "h2", PAD, Mode.HEAT, "neck", 120)
    writer.close()
    now = time.time() + 60

    # Independently: CEM43 = minutes * R^(43 - T), R = 0.25 below 43 °C (Sapareto-Dewey).
    cem43 = 300 / 60 * 0.25 ** (43 - 42.0)
    expected = {
        "lower_back": {
            "site": "lower-back",
            "heat_sessions": 1,
            "heat_sessions_left": 4 - 1,  # guidance: at most 4 heat sessions per site per 24 h
            "heat_minutes": 5.0,
            "cem43_min": round(cem43, 3),
            "cem43_min_left": round(60 - cem43, 3),  # 60 CEM43 min per site per 24 h
            "cold_minutes": 10.0,
            "light_minutes": 5.0,
            "light_minutes_left": 30 - 5.0,  # light about 30 min a day per site
            "light_j": 0.8 * 300,  # 800 mW for 300 s
            "light_j_cm2": None,  # the belt gave no emitting area: unknown, never guessed
        },
        "neck": {
            "site": "neck",
            "heat_sessions": 1,
            "heat_sessions_left": 3,
            "heat_minutes": 2.0,
            "cem43_min": 0.0,  # the status helper's samples were not written for h2
            "cem43_min_left": 60.0,
            "cold_minutes": 0.0,
            "light_minutes": 0.0,
            "light_minutes_left": 30.0,
            "light_j": 0.0,
            "light_j_cm2": 0.0,
        },
    }
    with mosquitto(tmp_path / "broker") as broker:
        bridge = MqttBridge(settings(broker.port, "d1"))
        async with running(bridge):
            days = DaysReporter(bridge, path, DEFAULT_LIMITS, ALWAYS_AWAKE)
            await days.refresh(now)
        last = await retained(broker.port)  # closing flushed everything queued

    for slug, numbers in expected.items():
        state = last[f"therapyctl/d1/site/{slug}/state"]
        for key, value in numbers.items():
            assert state[key] == (value if value is None else pytest.approx(value)), (slug, key)
    assert last["therapyctl/d1/site/lower_back/state"]["cold_last_start"] is not None
    assert last["therapyctl/d1/site/neck/state"]["cold_last_start"] is None

    configs = {
        t: p for t, p in last.items() if t.startswith("homeassistant/sensor/therapyctl_d1_site_")
    }
    assert len(configs) == 2 * 10
    uniques = [c["unique_id"] for c in configs.values()]
    assert len(set(uniques)) == len(uniques)
    damaged = {key: None for key in expected["neck"]}
    for topic, config in configs.items():
        for key in ("name", "unique_id", "default_entity_id", "state_topic", "value_template"):
            assert isinstance(config[key], str) and config[key], (topic, key)
        assert config["default_entity_id"] == f"sensor.{config['unique_id']}"
        assert ENTITY_ID.match(config["default_entity_id"]), config["default_entity_id"]
        assert config["availability"] == [{"topic": "therapyctl/d1/availability"}]
        assert config["device"]["via_device"] == "therapyctl_d1"
        assert config["state_class"] == "measurement"
        assert config.get("unit_of_measurement") in (None, "min", "J", "J/cm²")
        state = last[config["state_topic"]]
        rendered = render(config["value_template"], state)
        if topic.endswith("lower_back/light_fluence/config"):
            assert rendered == "", topic  # unknown: Home Assistant shows it as unknown
            continue
        assert rendered not in ("None", "") and float(rendered) >= 0, topic
        assert render(config["value_template"], damaged) == ""
    back = {t.split("/")[3]: c for t, c in configs.items() if "lower_back" in t}
    assert back["light_energy"]["unit_of_measurement"] == "J"
    assert back["heat_minutes"]["unit_of_measurement"] == "min"
    assert back["cem43"]["device"]["name"] == "Body site lower-back (d1)"
    assert back["cem43"]["device"]["identifiers"] == ["therapyctl_d1_site_lower_back"]
    assert back["cem43"]["unique_id"] == "therapyctl_d1_site_lower_back_cem43"
    for _, payload in last.items():
        assert "None" not in json.dumps(payload)


async def test_next_due_is_the_last_cold_start_plus_two_hours_and_turns_due_on_time(
    tmp_path: Path,
) -> None:
    """An episode started 10 h ago and a cold session 1 h ago: the next-due sensor says cold
    on lower-back at that cold start + 2 h (ISO 8601 with its offset), with the reason; the
    timer is that time, and when it passes (the reporter's own clock, no sleeping on luck)
    the state is published again with due_now true. With no episode it is empty (unknown in
    Home Assistant), never "None"."""
    path = tmp_path / "j.db"
    now = float(int(time.time()))  # whole seconds: the ISO time is to the second
    start_episode(path, "lower-back", at=now - 10 * 3600)
    writer = JournalWriter(path)
    session(writer, "c1", PAD, Mode.COLD, "lower-back", 600)
    writer.close()
    cold_at = now - 3600
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE uses SET started_at = ?, last_on_at = ?", (cold_at, cold_at + 600))
    due_at = cold_at + 2 * 3600  # guidance: cold every 2 h in the acute phase

    # The timer, by the reporter's clock: the due time while it is ahead, then periodic.
    quiet = DaysReporter(
        MqttBridge(settings(1, "d2")), path, DEFAULT_LIMITS, AWAKE_EST, refresh_s=300.0
    )
    assert quiet.get_timer() is None
    ahead = await quiet.refresh(due_at - 100)
    assert quiet.get_timer() == due_at and not ahead.next_due["due_now"]
    passed = await quiet.refresh(due_at)
    assert passed.next_due["due_now"] and quiet.get_timer() == due_at + 300

    with mosquitto(tmp_path / "broker") as broker:
        async with Watcher(broker.port, ("therapyctl/#", "homeassistant/#")) as watch:
            bridge = MqttBridge(settings(broker.port, "d2"))
            async with running(bridge):
                # The clock runs 3 s before the due time: only the timer can make it due.
                offset = due_at - 3.0 - time.time()
                days = DaysReporter(
                    bridge,
                    path,
                    DEFAULT_LIMITS,
                    AWAKE_EST,
                    clock=lambda: time.time() + offset,
                    refresh_s=24 * 3600.0,
                )
                task = asyncio.create_task(days.run())
                try:
                    _, first, _ = await watch.wait_for(
                        lambda t, p, r: t == "therapyctl/d2/regimen/next"
                    )
                    _, later, _ = await watch.wait_for(
                        lambda t, p, r: t == "therapyctl/d2/regimen/next" and p["due_now"]
                    )
                finally:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
            _, config, _ = await watch.wait_for(
                lambda t, p, r: t == "homeassistant/sensor/therapyctl_d2/next_due/config"
            )

    expected = (datetime.fromtimestamp(cold_at, EST) + timedelta(hours=2)).isoformat()
    assert first["due_at"] == expected and expected.endswith("-05:00")
    assert (first["modality"], first["site"], first["due_now"]) == ("cold", "lower-back", False)
    assert "every 2 h" in first["reason"]
    assert later["due_at"] == first["due_at"] and later["due_now"] is True

    assert config["device_class"] == "timestamp"
    assert (
        config["state_topic"] == config["json_attributes_topic"] == ("therapyctl/d2/regimen/next")
    )
    assert config["device"]["identifiers"] == ["therapyctl_d2"]
    assert ENTITY_ID.match(config["default_entity_id"])
    assert render(config["value_template"], first) == expected
    attributes = json.loads(render(config["json_attributes_template"], first))
    assert (attributes["modality"], attributes["site"]) == ("cold", "lower-back")
    assert attributes["reason"] == first["reason"]

    empty = next_due_state([], now)
    assert render(config["value_template"], empty) == ""
    assert "None" not in render(config["json_attributes_template"], empty)


async def test_last_pain_rating_is_published_at_start_and_when_one_is_recorded(
    tmp_path: Path,
) -> None:
    """The last of the journal's pain ratings is the sensor's value (0-10) with its time and
    site as attributes; a rating recorded in this process and told to the bridge
    (journal_changed) is published at once, not at the next periodic refresh (an hour)."""
    path = tmp_path / "j.db"
    now = time.time()
    record_pain(path, 6, site="lower-back", at=now - 600, moment="before")
    record_pain(path, 3, site="neck", at=now - 60, moment="after")
    with mosquitto(tmp_path / "broker") as broker:
        async with Watcher(broker.port, ("therapyctl/#", "homeassistant/#")) as watch:
            bridge = MqttBridge(settings(broker.port, "d3"))
            async with running(bridge):
                days = DaysReporter(bridge, path, DEFAULT_LIMITS, ALWAYS_AWAKE, refresh_s=3600)
                task = asyncio.create_task(days.run())
                try:
                    _, first, _ = await watch.wait_for(
                        lambda t, p, r: t == "therapyctl/d3/pain/last"
                    )
                    record_pain(path, 7, site="lower-back", note="after the walk")
                    bridge.journal_changed()  # the hook for whoever records it
                    _, second, _ = await watch.wait_for(
                        lambda t, p, r: t == "therapyctl/d3/pain/last" and p["rating"] == 7
                    )
                finally:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
            _, config, _ = await watch.wait_for(
                lambda t, p, r: t == "homeassistant/sensor/therapyctl_d3/last_pain/config"
            )
    assert (first["rating"], first["site"], first["moment"]) == (3, "neck", "after")
    assert first["at"] == local_iso(now - 60)
    assert second["site"] == "lower-back"
    assert render(config["value_template"], first) == "3"
    attributes = json.loads(render(config["json_attributes_template"], first))
    assert (attributes["at"], attributes["site"]) == (local_iso(now - 60), "neck")
    none_yet = {"rating": None, "at": None, "site": None, "moment": None, "session_id": None}
    assert render(config["value_template"], none_yet) == ""
    assert "None" not in render(config["json_attributes_template"], none_yet)


async def test_hostile_site_names_never_make_a_bad_topic(tmp_path: Path) -> None:
    """Sites `a/b+#` (a valid free-text site) and 400 characters with a slash, wildcards and
    NUL (only a damaged journal has those): every topic published is [A-Za-z0-9_-] segments,
    each site has a state of its own under a distinct slug, its text only inside JSON."""
    path = tmp_path / "j.db"
    writer = JournalWriter(path)
    session(writer, "h1", PAD, Mode.HEAT, "a/b+#", 60)
    session(writer, "h2", PAD, Mode.HEAT, "neck", 60)
    writer.close()
    long_site = "x/+#\x00" * 80  # 400 characters
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE uses SET site = ? WHERE session_id = 'h2'", (long_site,))
    with mosquitto(tmp_path / "broker") as broker:
        async with Watcher(broker.port, ("#",)) as watch:
            bridge = MqttBridge(settings(broker.port, "d4"))
            async with running(bridge):
                days = DaysReporter(bridge, path, DEFAULT_LIMITS, ALWAYS_AWAKE)
                await days.refresh()
            await watch.wait_for(
                lambda t, p, r: t == "therapyctl/d4/availability" and p == "offline"
            )
    assert bridge.dropped_messages == 0
    topics = {t for t, _, _ in watch.messages}
    for topic in topics:
        assert SAFE_TOPIC.fullmatch(topic), repr(topic)
    states = {t: p for t, p, _ in watch.messages if t.startswith("therapyctl/d4/site/") and p}
    by_site = {p["site"]: t for t, p in states.items()}
    assert set(by_site) == {"a-b+#", long_site}  # normalised on the way in: "/" is a dash
    assert len(set(by_site.values())) == 2
    assert by_site["a-b+#"] == f"therapyctl/d4/site/{site_slug('a-b+#')}/state"
    assert by_site[long_site] == f"therapyctl/d4/site/{site_slug(long_site)}/state"


async def test_two_nodes_reporting_the_same_site_keep_their_own_entities(
    tmp_path: Path,
) -> None:
    """Two controllers (nodes n1 and n2, each with its own journal) report lower-back on one
    broker: two sets of retained site configs, with distinct config topics, unique ids and
    device identifiers, each via its own controller, on its own state and availability
    topics and with its own dose; n2 going offline leaves n1's configs and availability as
    they were."""
    journals = {"n1": tmp_path / "n1.db", "n2": tmp_path / "n2.db"}
    for node, minutes in (("n1", 5), ("n2", 2)):
        writer = JournalWriter(journals[node])
        session(writer, f"{node}-h", PAD, Mode.HEAT, "lower-back", minutes * 60)
        writer.close()
    now = time.time() + 60
    with mosquitto(tmp_path / "broker") as broker:
        first = MqttBridge(settings(broker.port, "n1"))
        async with running(first):
            await DaysReporter(first, journals["n1"], DEFAULT_LIMITS, ALWAYS_AWAKE).refresh(now)
            second = MqttBridge(settings(broker.port, "n2"))
            async with running(second):
                reporter = DaysReporter(second, journals["n2"], DEFAULT_LIMITS, ALWAYS_AWAKE)
                await reporter.refresh(now)
            last = await retained(broker.port)  # n2 closed (offline), n1 still online

    configs = {
        node: {
            t: p
            for t, p in last.items()
            if t.startswith(f"homeassistant/sensor/therapyctl_{node}_site_lower_back/")
        }
        for node in ("n1", "n2")
    }
    assert len(configs["n1"]) == len(configs["n2"]) == 10
    assert not any(t.startswith("homeassistant/sensor/therapyctl_site_") for t in last)
    uniques = [c["unique_id"] for node in configs.values() for c in node.values()]
    assert len(set(uniques)) == len(uniques) == 20
    assert last["therapyctl/n1/availability"] == "online"
    assert last["therapyctl/n2/availability"] == "offline"
    for node, minutes in (("n1", 5.0), ("n2", 2.0)):
        for config in configs[node].values():
            assert config["device"]["identifiers"] == [f"therapyctl_{node}_site_lower_back"]
            assert config["device"]["via_device"] == f"therapyctl_{node}"
            assert config["availability"] == [{"topic": f"therapyctl/{node}/availability"}]
            assert config["state_topic"] == f"therapyctl/{node}/site/lower_back/state"
            assert ENTITY_ID.match(config["default_entity_id"]), config["default_entity_id"]
        assert last[f"therapyctl/{node}/site/lower_back/state"]["heat_minutes"] == minutes


@asynccontextmanager
async def serve(url: str, db: Path, *args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """``therapyctl serve --sim heat-pad`` (remote control on, --time-scale 600) reporting to
    ``url``; stopped with SIGTERM whatever happens."""
    process = await asyncio.create_subprocess_exec(
        THERAPYCTL,
        "serve",
        "--sim",
        "heat-pad",
        "--mqtt",
        url,
        "--remote-control",
        "--time-scale",
        "600",
        "--db",
        str(db),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    try:
        said = []
        while not (line := await asyncio.wait_for(process.stderr.readline(), 30)).startswith(
            b"serving heat-pad"
        ):
            assert line, b"".join(said)
            said.append(line)
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()


async def test_serve_site_applies_to_remote_starts_and_a_bad_site_starts_nothing(
    tmp_path: Path,
) -> None:
    """`serve --site neck`: a start with a 400-character or unprintable site (or a site that
    is not text) is rejected with the reason and nothing starts (no session on record, no
    output); a start without a site runs on neck (the device had none) and the neck's dose
    is published after it ends; a start whose site is "Lower Back" runs on lower-back."""
    db = tmp_path / "j.db"
    topic = f"therapyctl/s1/{HEAT_PAD_KEY}/command"
    with mosquitto(tmp_path / "broker") as broker:
        async with (
            serve(broker.url, db, "--mqtt-node", "s1", "--site", "neck"),
            Watcher(broker.port) as watch,
        ):
            # Published at startup: no episode, no rating yet.
            _, regimen, _ = await watch.wait_for(lambda t, p, r: t == "therapyctl/s1/regimen/next")
            assert regimen["due_at"] is None
            bad_sites: list[Any] = ["x" * 400, "neck\x00", "   ", 5, ["neck"]]
            for number, site in enumerate(bad_sites):
                command = {"id": f"bad{number}", "command": "start", "mode": "heat",
                           "minutes": 0.2, "site": site}  # fmt: skip
                await publish(broker.port, topic, json.dumps(command))
            answers = []
            for number in range(len(bad_sites)):
                _, answer, _ = await watch.wait_for(
                    lambda t, p, r, n=number: (
                        t.endswith("/command/response") and p.get("id") == f"bad{n}"
                    )
                )
                answers.append(answer)
            assert all(not a["ok"] and a["status"] == "rejected" for a in answers)
            assert "at most 40 characters" in answers[0]["reason"]
            assert all("site" in a["reason"] for a in answers), answers
            assert not any(
                isinstance(p, dict) and p.get("output_on") for p in watch.on("/telemetry")
            )
            with JournalReader(db) as reader:
                assert reader.sessions(include_refused=True) == []

            for command_id, extra in (("plain", {}), ("named", {"site": "Lower Back"})):
                command = {"id": command_id, "command": "start", "mode": "heat",
                           "minutes": 0.2, **extra}  # fmt: skip
                await publish(broker.port, topic, json.dumps(command))
                _, answer, _ = await watch.wait_for(
                    lambda t, p, r, c=command_id: (
                        t.endswith("/command/response") and p.get("id") == c
                    )
                )
                assert answer["ok"], answer
                await watch.wait_for(
                    lambda t, p, r, reason=answer["reason"]: (
                        t.endswith("/summary")
                        and isinstance(p, dict)
                        and isinstance(p.get("session_id"), str)
                        and p["session_id"] in reason
                    )
                )
                if command_id == "plain":
                    assert answer["reason"].endswith(" on neck")
                    _, neck, _ = await watch.wait_for(
                        lambda t, p, r: (
                            t == "therapyctl/s1/site/neck/state" and p.get("heat_sessions") == 1
                        )
                    )
                    assert neck["heat_sessions_left"] == 3
                    # The device's heat rest (20 min device time) at --time-scale 600.
                    await asyncio.sleep(DEFAULT_LIMITS.heat_rest_s / 600 + 0.5)
                else:
                    assert answer["reason"].endswith(" on lower-back")
                    await watch.wait_for(
                        lambda t, p, r: (
                            t == "therapyctl/s1/site/lower_back/state"
                            and p.get("heat_sessions") == 1
                        )
                    )
    with JournalReader(db) as reader:
        rows = reader.sessions()
    assert sorted(row.site or "" for row in rows) == ["lower-back", "neck"]


def test_a_start_command_site_is_normalised_or_rejected_with_the_reason() -> None:
    """A start's "site" is normalised like `run --site` (free text allowed, so `a/b+#` is
    the site `a-b+#`); one that is empty, over 40 characters, unprintable or not text is
    rejected with the reason; other commands take no site."""

    def start(site: object) -> bytes:
        command = {"id": "s", "command": "start", "mode": "heat", "minutes": 5, "site": site}
        return json.dumps(command).encode()

    assert parse_command(start("Lower Back")).site == "lower-back"
    assert parse_command(start("a/b+#")).site == "a-b+#"
    assert parse_command(json.dumps({"id": "s", "command": "start", "mode": "heat",
                                     "minutes": 5}).encode()).site is None  # fmt: skip
    for bad, words in (
        ("x" * 400, "site: a site name is at most 40 characters"),
        ("", "site: give a site name"),
        ("neck\u0000", "site: a site name must be printable"),
        ("neck\u202e", "site: a site name must be printable"),
        (5, "site must be text"),
        (None, "site"),
    ):
        if bad is None:
            stop = json.dumps({"id": "s", "command": "stop", "site": "neck"}).encode()
            with pytest.raises(CommandRejected, match="unexpected field 'site'"):
                parse_command(stop)
            continue
        with pytest.raises(CommandRejected) as caught:
            parse_command(start(bad))
        assert caught.value.reason.startswith(words) and caught.value.command_id == "s"


@pytest.mark.parametrize(
    ("site", "words"),
    [("x" * 400, "at most 40 characters"), ("", "give a site name"), ("a\tb", "printable")],
)
def test_serve_refuses_a_bad_site_in_one_line(site: str, words: str) -> None:
    """`serve --site` with a site that is not one: exit 2 and one line, before any broker
    or device is touched (no traceback)."""
    import subprocess

    result = subprocess.run(
        [THERAPYCTL, "serve", "--sim", "heat-pad", "--mqtt", "mqtt://127.0.0.1:1", "--site", site],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("therapyctl: error: --site: ") and words in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1


async def test_run_with_mqtt_publishes_its_site_dose_and_the_next_due_after_the_session(
    tmp_path: Path,
) -> None:
    """`run --mqtt --site lower-back` during an episode: after the session, the site's dose
    (one heat session, 3 left) and the next cold due are on the broker, retained."""
    db = tmp_path / "j.db"
    config = tmp_path / "therapyctl.toml"
    config.write_text('[regimen]\nawake = "00:00-24:00"\n', encoding="utf-8")
    start_episode(db, "lower-back", at=time.time() - 10 * 3600)
    with mosquitto(tmp_path / "broker") as broker:
        process = await asyncio.create_subprocess_exec(
            *(THERAPYCTL, "run", "--sim", "heat-pad", "--mode", "heat", "--minutes", "1"),
            *("--time-scale", "120", "--site", "lower-back", "--db", str(db)),
            *("--config", str(config), "--mqtt", broker.url, "--mqtt-node", "r1", "--json"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode()
        assert json.loads(out)["end_reason"] == "completed"
        async with Watcher(broker.port) as watch:  # what is retained after the run
            _, site, retained = await watch.wait_for(
                lambda t, p, r: t == "therapyctl/r1/site/lower_back/state"
            )
            assert retained and site["heat_sessions"] == 1 and site["heat_sessions_left"] == 3
            _, due, _ = await watch.wait_for(lambda t, p, r: t == "therapyctl/r1/regimen/next")
    assert (due["modality"], due["site"], due["due_now"]) == ("cold", "lower-back", True)
