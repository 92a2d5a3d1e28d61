"""The driver's clock comes from the device: the time scale its Feature reports."""

from __future__ import annotations

import logging

import pytest

from device.link import Clock, DeviceDriver, Radio
from simulator import DeviceSpec, SimulatorWorld

DEVICE_SCALE = 60.0


async def test_driver_clock_runs_at_the_time_scale_the_feature_reports() -> None:
    """No clock given: after connect the driver's clock runs at the device's 60x."""
    world = SimulatorWorld([DeviceSpec("heat-pad", "pad")], time_scale=DEVICE_SCALE)
    async with world, await Radio.attach(world.controller()) as radio:
        driver = DeviceDriver(radio, "pad")
        await driver.connect()
        try:
            assert driver.feature is not None
            assert driver.feature.time_scale == DEVICE_SCALE
            assert driver.clock.time_scale == driver.feature.time_scale
        finally:
            await driver.close()


async def test_a_given_clock_the_device_contradicts_is_replaced_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A clock of 30x for a 60x device: the device is trusted (60x) and a warning says so."""
    world = SimulatorWorld([DeviceSpec("heat-pad", "pad")], time_scale=DEVICE_SCALE)
    async with world, await Radio.attach(world.controller()) as radio:
        driver = DeviceDriver(radio, "pad", Clock(30.0))
        with caplog.at_level(logging.WARNING, logger="device.link.driver"):
            await driver.connect()
        try:
            assert driver.clock.time_scale == DEVICE_SCALE
            assert "reports time scale 60x, not the 30x given" in caplog.text
        finally:
            await driver.close()


async def test_a_given_clock_the_device_agrees_with_is_kept() -> None:
    """An in-process simulator's own clock (the same scale) is kept, exactly as given."""
    world = SimulatorWorld([DeviceSpec("heat-pad", "pad")], time_scale=DEVICE_SCALE)
    async with world, await Radio.attach(world.controller()) as radio:
        clock = Clock(DEVICE_SCALE)
        driver = DeviceDriver(radio, "pad", clock)
        await driver.connect()
        try:
            assert driver.clock is clock
        finally:
            await driver.close()
