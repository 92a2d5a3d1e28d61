"""The simulated physics is plausible: minutes to warm up, settles without overshoot."""

from __future__ import annotations

import pytest

from protocols import DeviceKind, Mode, Start
from tests.simulator.helpers import belt, pad


def test_heat_pad_at_its_top_setting_takes_minutes_to_warm_up() -> None:
    """From body-on-pad equilibrium to within 1 °C of 45 °C takes 5-15 simulated minutes."""
    bench = pad(DeviceKind.HEAT_PAD)
    bench.send(Start(Mode.HEAT, 0, 45.0, 1800))
    start_c = bench.fw.physics.true_temperature_c
    assert start_c < 32
    while bench.fw.physics.true_temperature_c < 44.0:
        bench.run(1)
    assert 5 * 60 <= bench.now <= 15 * 60


@pytest.mark.parametrize("setpoint_c", [37.0, 41.0, 45.0])
def test_heat_pad_settles_at_its_setpoint_without_overshooting(setpoint_c: float) -> None:
    """After 25 min the pad is within 0.2 °C of setpoint; it never goes 0.5 °C over it."""
    bench = pad(DeviceKind.HEAT_PAD)
    bench.send(Start(Mode.HEAT, 0, setpoint_c, 1800))
    bench.run(25 * 60)
    assert abs(bench.fw.physics.true_temperature_c - setpoint_c) < 0.2
    assert bench.max_true_c <= setpoint_c + 0.5
    cutout = bench.fw.feature.cutout_high_c
    assert cutout is not None and bench.max_true_c < cutout


def test_thermal_pad_cools_to_its_cold_setpoint_without_undershooting() -> None:
    """Cold at 10 °C: reached within 20 min, never 0.5 °C below, far from the cut-out."""
    bench = pad(DeviceKind.THERMAL_PAD)
    bench.send(Start(Mode.COLD, 0, 10.0, 1800))
    bench.run(60)
    assert bench.fw.physics.true_temperature_c > 20  # no instant cold: minutes, not seconds
    bench.run(19 * 60)
    assert abs(bench.fw.physics.true_temperature_c - 10.0) < 0.3
    assert bench.min_true_c >= 9.5
    cutout = bench.fw.feature.cutout_low_c
    assert cutout is not None and bench.min_true_c > cutout


def test_pad_cools_back_towards_body_temperature_after_a_session() -> None:
    """With output off the pad relaxes towards its unpowered equilibrium."""
    bench = pad(DeviceKind.HEAT_PAD)
    bench.send(Start(Mode.HEAT, 0, 43.0, 900))
    bench.run(900)
    hot = bench.fw.physics.true_temperature_c
    bench.run(900)
    assert bench.fw.physics.true_temperature_c < hot - 5


@pytest.mark.parametrize("max_mw", [420, 800, 1000])
def test_belt_reports_its_optical_power_and_warms_mildly(max_mw: int) -> None:
    """A belt at full power emits its rated mW and warms a few degrees, below its cut-out."""
    bench = belt(max_mw)
    start_c = bench.fw.physics.true_temperature_c
    bench.send(Start(Mode.LIGHT, 4, None, 1800))
    assert bench.fw.status().power_mw == max_mw
    bench.run(1790)
    assert bench.fw.output_on
    assert start_c + 0.5 < bench.fw.physics.true_temperature_c < start_c + 6
    cutout = bench.fw.feature.cutout_high_c
    assert cutout is not None and bench.max_true_c < cutout
