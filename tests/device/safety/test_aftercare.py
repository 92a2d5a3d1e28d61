"""After a stop: settling is recognised, a stuck heater or cooler raises one alarm, a device
turning its output on again is flagged, and the watch is bounded."""

from __future__ import annotations

from device.safety import DEFAULT_LIMITS, AfterStop, EndReason, Verdict
from device.safety.aftercare import danger_is_up
from protocols import Mode
from tests.device.helpers import status


def watch(stop_c: float, *, danger_up: bool = True) -> AfterStop:
    return AfterStop(
        DEFAULT_LIMITS,
        ceiling_c=43.0,
        floor_c=10.0,
        danger_up=danger_up,
        thing="pad",
        stopped_at_s=0.0,
        stop_c=stop_c,
    )


def off(t: float):  # type: ignore[no-untyped-def]
    return status(temperature_c=t, output_on=False)


def test_a_pad_cooling_after_a_normal_stop_settles_after_15_seconds() -> None:
    """40 °C and falling: watching until 15 s, then settled."""
    w = watch(40.0)
    verdicts = [w.on_status(off(40.0 - 0.02 * s), float(s)) for s in range(1, 17)]
    assert verdicts[:13] == [Verdict.WATCHING] * 13
    assert Verdict.SETTLED in verdicts[13:]


def test_a_heater_stuck_after_the_stop_is_one_alarm_then_the_true_peak() -> None:
    """Rising 0.03 °C/s with the output off: one alarm past 1 °C, the peak kept, no settling
    while it rises, and the watch ends at its bound."""
    w = watch(40.0)
    verdicts = [w.on_status(off(40.0 + 0.03 * s), float(s)) for s in range(1, 121)]
    assert verdicts.count(Verdict.ALARM) == 1
    assert verdicts.index(Verdict.ALARM) in range(33, 36)  # 1 °C at 0.03 °C/s
    assert "keeps heating although its output is off" in w.message
    assert "unplug it and take it off" in w.message
    assert Verdict.SETTLED not in verdicts
    assert verdicts[-1] == Verdict.TIMED_OUT
    assert w.peak_c is not None and abs(w.peak_c - 43.6) < 0.01


def test_a_cold_pad_warming_after_its_stop_is_natural() -> None:
    """After cold the danger is cooling: warming back towards the room settles, no alarm."""
    w = watch(15.0, danger_up=False)
    verdicts = [w.on_status(off(15.0 + 0.03 * s), float(s)) for s in range(1, 30)]
    assert Verdict.ALARM not in verdicts and Verdict.SETTLED in verdicts


def test_output_on_again_after_the_stop_is_flagged() -> None:
    """A device that reports its output on after the stop: stop it again."""
    w = watch(40.0)
    assert w.on_status(status(temperature_c=40.0, output_on=True), 1.0) == Verdict.OUTPUT_ON


def test_the_dangerous_direction_follows_the_mode_and_the_reason() -> None:
    """Heat and light: rising; cold: falling; a runaway: the way it ran; over/under: theirs."""
    assert danger_is_up(Mode.HEAT, EndReason.COMPLETED, 30.0, 40.0)
    assert danger_is_up(Mode.LIGHT, EndReason.USER_STOPPED, 30.0, 33.0)
    assert not danger_is_up(Mode.COLD, EndReason.COMPLETED, 29.0, 15.0)
    assert danger_is_up(Mode.COLD, EndReason.RUNAWAY, 25.0, 28.2)
    assert not danger_is_up(Mode.HEAT, EndReason.RUNAWAY, 30.0, 26.8)
    assert danger_is_up(Mode.COLD, EndReason.OVER_TEMPERATURE, 20.0, 43.1)
    assert not danger_is_up(Mode.HEAT, EndReason.UNDER_TEMPERATURE, 30.0, 9.9)
