"""The monitor's model against anything anyone may publish on a broker: bad payloads are
ignored or shown as bounded plain text, never raised."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device.mqtt import MonitorModel

GOOD_STATE = {
    "device": {"name": "pad", "kind": "heat-pad"},
    "state": "running",
    "temperature_c": 41.25,
    "remaining_s": 300,
    "battery_pct": 80,
}


def model_with_a_good_device() -> MonitorModel:
    model = MonitorModel()
    model.ingest("therapyctl/good/aabbcc/state", json.dumps(GOOD_STATE).encode())
    model.ingest("therapyctl/good/availability", b"online")
    return model


GOOD_ROW = ("good", "online", "pad", "heat-pad", "running", "41.2", "300", "80", "")
HUGE = "9" * 400

HOSTILE_PAYLOADS = {
    "deeply nested array": b"[" * 100_000,
    "deeply nested object": b'{"a":' * 100_000,
    "invalid UTF-8": b'{"state": "\xff\xfe"}',
    "a list": b"[1, 2, 3]",
    "a string": b'"running"',
    "a number": HUGE.encode(),
    "NaN token": b"NaN",
    "huge ints": f'{{"temperature_c": {HUGE}, "remaining_s": -{HUGE}, "state": {HUGE}}}'.encode(),
    "huge floats": b'{"temperature_c": 1e308, "remaining_s": 1e308, "battery_pct": -1e308}',
    "NaN values": b'{"temperature_c": NaN, "remaining_s": Infinity, "battery_pct": -Infinity}',
    "wrong types": (
        b'{"device": [1], "state": {"a": [1]}, "temperature_c": "hot",'
        b' "remaining_s": [1, 2], "battery_pct": {"x": 1}}'
    ),
    "nested device": b'{"device": {"name": {"a": [[[1]]]}, "kind": [true]}}',
    "markup and control text": (
        b'{"device": {"name": "[/]\\u001b[2J\\n", "kind": "[bold]x"}, "state": "\\ud800"}'
    ),
    "long text": json.dumps({"state": "x" * 50_000, "detail": "y" * 50_000}).encode(),
    "empty": b"",
}


@pytest.mark.parametrize("leaf", ["state", "telemetry", "event", "summary"])
@pytest.mark.parametrize("payload", HOSTILE_PAYLOADS.values(), ids=HOSTILE_PAYLOADS.keys())
def test_a_hostile_payload_on_any_leaf_leaves_the_other_devices_shown(
    leaf: str, payload: bytes
) -> None:
    """Whatever is published on another device's topics, ingest and rows never raise, every
    cell is short printable text, and the good device's row is unchanged."""
    model = model_with_a_good_device()
    model.ingest(f"therapyctl/evil/dd/{leaf}", payload)
    model.ingest("therapyctl/evil/availability", payload)
    rows = model.rows()
    assert GOOD_ROW in rows
    for row in rows:
        assert all(isinstance(cell, str) and cell.isprintable() for cell in row)
        assert all(len(cell) <= 80 for cell in row)


def test_numbers_out_of_range_are_not_shown_and_text_is_plain() -> None:
    """NaN, 1e308 and 400-digit readings show as empty cells; markup and control characters
    in names are shown as inert text."""
    model = MonitorModel()
    model.ingest("therapyctl/evil/dd/state", HOSTILE_PAYLOADS["huge floats"])
    model.ingest("therapyctl/evil/ee/state", HOSTILE_PAYLOADS["NaN values"])
    model.ingest("therapyctl/evil/ff/state", HOSTILE_PAYLOADS["huge ints"])
    model.ingest("therapyctl/evil/gg/state", HOSTILE_PAYLOADS["markup and control text"])
    dd, ee, ff, gg = model.rows()
    assert dd[5:8] == ee[5:8] == ff[5:8] == ("", "", "")
    assert ff[4] == "…"  # a 400-digit "state" is not spelled out
    assert gg[2] == "[/]\ufffd[2J\ufffd" and gg[3] == "[bold]x" and gg[4] == "\ufffd"


# JSON as hostile publishers write it: any nesting, huge ints, non-finite floats (written as
# the NaN / Infinity tokens Python's json reads), text where numbers go.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**600), max_value=10**600)
    | st.floats()
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
state_like = st.dictionaries(
    st.sampled_from(
        ["device", "state", "temperature_c", "remaining_s", "battery_pct", "kind", "detail"]
    )
    | st.sampled_from(["end_reason", "output_on", "power_mw", "name"]),
    json_values,
)
payloads = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    state_like.map(lambda d: json.dumps(d).encode()),
    st.fixed_dictionaries({"device": state_like}).map(lambda d: json.dumps(d).encode()),
    st.integers(min_value=1, max_value=5000).map(lambda n: b"[" * n + b"]" * (n % 7)),
)
topics = st.one_of(
    st.text(max_size=40),
    st.tuples(
        st.sampled_from(["therapyctl", "other"]),
        st.text(max_size=8),
        st.text(max_size=8),
        st.sampled_from(["state", "telemetry", "event", "summary", "availability", "x"]),
    ).map("/".join),
    st.tuples(st.text(max_size=8), st.sampled_from(["availability", "x"])).map(
        lambda t: f"therapyctl/{t[0]}/{t[1]}"
    ),
)


@given(st.lists(st.tuples(topics, payloads), max_size=8))
def test_any_topics_and_payloads_never_break_the_model(
    messages: list[tuple[str, bytes]],
) -> None:
    """Arbitrary topics and payloads (bytes, JSON of any shape): ingest and rows never raise,
    rows are tuples of printable strings, and a good device stays shown as it was."""
    model = model_with_a_good_device()
    for topic, payload in messages:
        changed = model.ingest(topic, payload)
        assert isinstance(changed, bool)
    rows = model.rows()
    assert isinstance(rows, list)
    for row in rows:
        assert isinstance(row, tuple) and len(row) == 9
        assert all(isinstance(cell, str) and cell.isprintable() for cell in row)
    if not any(t.startswith("therapyctl/good/") for t, _ in messages):
        assert GOOD_ROW in rows


def test_readings_in_range_are_formatted_as_before() -> None:
    """Plain numbers still show: one decimal for °C, whole seconds and percent; 0 shows as
    empty (nothing left, no battery reading)."""
    model = MonitorModel()
    state = {"temperature_c": 40, "remaining_s": 0, "battery_pct": 100, "state": "idle"}
    model.ingest("therapyctl/n/k/state", json.dumps(state).encode())
    model.ingest("therapyctl/n/k/telemetry", b'{"temperature_c": -12.5, "remaining_s": 59}')
    [row] = model.rows()
    assert row == ("n", "?", "k", "", "idle", "-12.5", "59", "100", "")
