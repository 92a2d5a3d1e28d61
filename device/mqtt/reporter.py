"""A session listener that reports one device's sessions through the bridge."""

from __future__ import annotations

from typing import Any

from device.mqtt.bridge import MqttBridge
from device.sessions import RunnerState, SessionEvent, SessionListener, SessionRunner
from protocols import Status


class MqttReporter(SessionListener):
    """A session listener that reports one device's sessions through the bridge."""

    def __init__(self, bridge: MqttBridge, identity: dict[str, str]) -> None:
        self.bridge = bridge
        self.key = identity["address"]
        self.state: dict[str, Any] = {
            "device": identity,
            "state": "idle",
            "mode": None,
            "session_id": None,
            "temperature_c": None,
            "setpoint_c": None,
            "power_mw": 0,
            "output_on": False,
            "remaining_s": 0,
            "battery_pct": None,
            "end_reason": None,
        }
        bridge.add_device(identity)
        bridge.publish_state(self.key, self.state)

    def _update(self, **changes: Any) -> None:
        self.state.update(changes, dropped_telemetry=self.bridge.dropped_telemetry)
        self.bridge.publish_state(self.key, self.state)

    def on_state(self, runner: SessionRunner, state: RunnerState) -> None:
        self._update(state=str(state), session_id=getattr(runner, "session_id", None))

    def on_status(self, runner: SessionRunner, status: Status) -> None:
        sample = {
            "session_id": getattr(runner, "session_id", None),
            "t_s": round(runner.now() - runner.t0_s, 2),
            "state": status.state.name.lower(),
            "mode": status.mode.name.lower(),
            "temperature_c": status.temperature_c,
            "setpoint_c": status.setpoint_c,
            "power_mw": status.power_mw,
            "output_on": status.output_on,
            "remaining_s": status.remaining_s,
            "battery_pct": status.battery_pct,
            "contact": status.skin_contact,
        }
        self.bridge.publish_telemetry(self.key, sample)
        self._update(
            mode=sample["mode"],
            temperature_c=status.temperature_c,
            setpoint_c=status.setpoint_c,
            power_mw=status.power_mw,
            output_on=status.output_on,
            remaining_s=status.remaining_s,
            battery_pct=status.battery_pct,
        )

    def on_event(self, runner: SessionRunner | None, event: SessionEvent) -> None:
        self.bridge.publish_event(
            self.key,
            {"session_id": getattr(runner, "session_id", None), **event.as_json()},
        )

    def on_prompt(self, runner: SessionRunner, deadline_s: float) -> None:
        self._update(state="attended_check")

    def finished(self, summary: dict[str, Any]) -> None:
        self.bridge.publish_summary(self.key, summary)
        self.bridge.journal_changed()  # the site's dose, the next due: refreshed from it
        self._update(
            state="idle",
            output_on=False,
            power_mw=0,
            remaining_s=0,
            end_reason=summary.get("end_reason"),
            session_id=summary.get("session_id"),
        )
