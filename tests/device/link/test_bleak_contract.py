"""Pins the bleak internals the bumble backend relies on, so a bleak upgrade fails loudly here."""

from __future__ import annotations

import inspect
from typing import Any

import bleak
from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection

from device.link.bumble_backend import BleakClientBumble, BleakScannerBumble


def _params(func: Any) -> list[str]:
    return [p for p in inspect.signature(func).parameters if p != "self"]


def test_bleak_major_version_is_the_pinned_one() -> None:
    """The backend is written against bleak 3.x."""
    assert bleak.__name__ == "bleak"
    from importlib.metadata import version

    assert version("bleak").split(".")[0] == "3"


def test_bleak_client_passes_extra_keywords_to_the_backend() -> None:
    """BleakClient(..., backend=B, radio=r) constructs B with radio=r and its own keywords."""
    seen: dict[str, Any] = {}

    class Recorder(BleakClientBumble):
        def __init__(self, address: Any, **kwargs: Any) -> None:
            seen.update(kwargs, address=address)

    sentinel = object()
    client = BleakClient("C0:11:22:33:44:55", backend=Recorder, radio=sentinel, timeout=3.0)
    assert seen["address"] == "C0:11:22:33:44:55"
    assert seen["radio"] is sentinel
    assert seen["timeout"] == 3.0
    assert {"disconnected_callback", "services"} <= set(seen)
    assert client.backend_id == "Recorder"


def test_bleak_scanner_passes_filter_and_keywords_to_the_backend() -> None:
    """BleakScanner passes (callback, service_uuids, scanning_mode) and our radio= keyword."""
    seen: dict[str, Any] = {}

    class Recorder(BleakScannerBumble):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            seen.update(kwargs, args=args)

    sentinel = object()
    BleakScanner(service_uuids=["abc"], backend=Recorder, radio=sentinel)
    assert seen["args"] == (None, ["abc"], "active")
    assert seen["radio"] is sentinel


def test_gatt_object_constructors_keep_their_signatures() -> None:
    """The backend builds bleak's GATT objects positionally with these parameters."""
    assert _params(BleakGATTService.__init__) == ["obj", "handle", "uuid"]
    assert _params(BleakGATTCharacteristic.__init__) == [
        "obj",
        "handle",
        "uuid",
        "properties",
        "max_write_without_response_size",
        "service",
    ]
    assert _params(BleakGATTDescriptor.__init__) == ["obj", "handle", "uuid", "characteristic"]
    for method in ("add_service", "add_characteristic", "add_descriptor"):
        assert callable(getattr(BleakGATTServiceCollection, method))


def test_scanner_base_helpers_are_still_there() -> None:
    """seen_devices, create_or_update_device, call_detection_callbacks, is_allowed_uuid."""
    for name in ("create_or_update_device", "call_detection_callbacks", "is_allowed_uuid"):
        assert callable(getattr(BaseBleakScanner, name))
    assert "seen_devices" in BaseBleakScanner.__annotations__
    assert list(AdvertisementData._fields) == [
        "local_name",
        "manufacturer_data",
        "service_data",
        "service_uuids",
        "tx_power",
        "rssi",
        "platform_data",
    ]


def test_backends_implement_every_abstract_method() -> None:
    """Nothing abstract is left on our client and scanner backends."""
    assert not getattr(BleakClientBumble, "__abstractmethods__", frozenset())
    assert not getattr(BleakScannerBumble, "__abstractmethods__", frozenset())
    assert BaseBleakClient.__abstractmethods__ <= set(vars(BleakClientBumble))
