"""The advertised manufacturer data of a device, derived from its Feature."""

from __future__ import annotations

from dataclasses import replace

from protocols import Advertisement, DeviceKind, ModeSupport
from tests.protocols.test_golden import BELT_800_FEATURE, HEAT_PAD_FEATURE


def test_pads_advertise_no_optical_power() -> None:
    """A pad's Feature maximum is heater drive, not optical power: it advertises 0."""
    advertised = Advertisement.for_feature(HEAT_PAD_FEATURE)
    assert advertised == Advertisement(DeviceKind.HEAT_PAD, 0)
    assert advertised.encode().hex() == "01010000"
    assert Advertisement.decode(advertised.encode()).kind_name == "heat-pad"
    thermal = replace(
        HEAT_PAD_FEATURE,
        kind=DeviceKind.THERMAL_PAD,
        modes=ModeSupport.HEAT | ModeSupport.COLD,
        max_power_mw=30_000,
    )
    assert Advertisement.for_feature(thermal) == Advertisement(DeviceKind.THERMAL_PAD, 0)


def test_belts_advertise_their_maximum_optical_power() -> None:
    """A belt advertises its Feature maximum, which names the product (light-belt-800)."""
    advertised = Advertisement.for_feature(BELT_800_FEATURE)
    assert advertised.encode().hex() == "01032003"
    assert advertised.kind_name == "light-belt-800"
