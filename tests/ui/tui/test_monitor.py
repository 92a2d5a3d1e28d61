"""``therapyctl monitor`` (Textual, driven by Pilot) fed hostile broker messages by a stand-in
for the broker watch: it keeps running and shows names as plain text, not markup."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
from textual.widgets import DataTable, Static

import ui.tui.monitor as monitor_module
from device.mqtt import MqttSettings
from ui.tui.monitor import MonitorApp

GOOD_STATE = {"device": {"name": "pad", "kind": "heat-pad"}, "state": "idle"}
MESSAGES = [
    ("therapyctl/good/aa/state", json.dumps(GOOD_STATE).encode()),
    (
        "therapyctl/evil/bb/state",
        b'{"device": {"name": "[/]", "kind": "[bold]x[/i]"}, "state": "\\u001b[2J",'
        b' "temperature_c": 1e308, "remaining_s": NaN, "battery_pct": [1]}',
    ),
    ("therapyctl/evil/cc/state", b"[" * 100_000),
    ("therapyctl/evil/availability", b"[/]"),
]


async def test_monitor_shows_markup_and_control_text_as_plain_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Names that are Rich/Textual markup ("[/]", "[bold]") or control characters, numbers
    like 1e308, NaN and deep nesting, a status text with brackets: the app renders them
    inertly and keeps running with every device shown."""
    fed = asyncio.Event()

    async def fake_watch(
        _settings: MqttSettings,
        on_message: Callable[[str, bytes], None],
        on_connection: Callable[[bool, str], None],
    ) -> None:
        on_connection(False, "broker unreachable: [/] [Errno 111]")
        for topic, payload in MESSAGES:
            on_message(topic, payload)
        fed.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(monitor_module, "watch_broker", fake_watch)
    app = MonitorApp(MqttSettings.from_url("mqtt://127.0.0.1:1", node_id="monitor"))
    async with app.run_test(size=(120, 30)) as pilot:
        await asyncio.wait_for(fed.wait(), 10)
        await pilot.pause()
        assert app.is_running
        table: DataTable[object] = app.query_one(DataTable)
        assert table.row_count == 2
        evil = [str(cell) for cell in table.get_row_at(0)]
        assert evil[:5] == ["evil", "[/]", "[/]", "[bold]x[/i]", "\ufffd[2J"]
        assert evil[5:8] == ["", "", ""]
        good = [str(cell) for cell in table.get_row_at(1)]
        assert good[:5] == ["good", "?", "pad", "heat-pad", "idle"]
        status = app.query_one("#status", Static)
        assert str(status.render()) == "broker unreachable: [/] [Errno 111]"
        await pilot.press("q")
    assert app.return_value is None
