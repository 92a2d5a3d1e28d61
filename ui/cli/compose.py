"""The composition root: the one place that wires a radio, a device (real, served or
simulated in-process), the journal and the MQTT bridge together for a command.

It is the only module of ``ui`` besides ``sim`` that starts the simulator; the rest of
``ui`` uses ``device``'s public API and ``protocols`` types only.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from device.journal import JournalWriter
    from device.link import Radio
    from device.mqtt import CommandHandler, DaysReporter, MqttBridge, MqttSettings
    from device.safety import Limits
    from device.sessions import RegimenSettings
    from simulator import DeviceSpec, ScheduledFault
    from ui.tui.app import Backend


async def open_journal(stack: contextlib.AsyncExitStack, path: Path) -> JournalWriter:
    """Open the journal off the loop; it is flushed and closed when ``stack`` unwinds."""
    from device.journal import JournalWriter

    journal = await asyncio.to_thread(JournalWriter, path)
    stack.push_async_callback(asyncio.to_thread, journal.close)
    return journal


async def start_days(
    stack: contextlib.AsyncExitStack,
    bridge: MqttBridge,
    journal: JournalWriter,
    limits: Limits,
    regimen: RegimenSettings | None,
) -> DaysReporter:
    """Publish the journal's days (per-site dose, next due, last pain) through ``bridge``:
    at startup, after each session, when a due time passes; stopped with ``stack`` after a
    last refresh (so the end of the last session is on the broker)."""
    from device.mqtt import DaysReporter
    from device.sessions import stop_task

    days = DaysReporter(bridge, journal.path, limits, regimen, writer=journal)
    task = asyncio.create_task(days.run(), name="mqtt-days")

    async def stop() -> None:
        await stop_task(task)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(days.refresh(), 5.0)

    stack.push_async_callback(stop)
    return days


async def start_bridge(
    stack: contextlib.AsyncExitStack,
    settings: MqttSettings | None,
    handler: CommandHandler | None,
    *,
    say: Callable[[str], None] | None = None,
) -> MqttBridge | None:
    """Start the MQTT bridge; a broker that refuses our credentials, or another controller
    already reporting as our node id there, is an error now (before any device is touched);
    a broker that is down is retried in the background (it never affects a session)."""
    if settings is None:
        return None
    from device.mqtt import MqttBridge
    from device.sessions import stop_task

    bridge = MqttBridge(settings, handler)
    task = asyncio.create_task(bridge.run(), name="mqtt")

    async def stop() -> None:
        await bridge.close()
        await stop_task(task)

    stack.push_async_callback(stop)
    await bridge.wait_first_attempt(10.0)  # connecting, and asking a holder of our node
    if bridge.connections and not bridge.connected.is_set():  # connected, announcing itself
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(bridge.connected.wait(), 3.0)
    if say is not None:  # never silent: one line either way (a TUI shows it in its header)
        where = f"{settings.host}:{settings.port}"
        if bridge.connected.is_set():
            say(f"MQTT: connected to {where} as {settings.prefix}/{settings.node_id}")
        else:
            reason = bridge.last_error or "no answer"
            say(
                f"MQTT: cannot reach the broker {where} ({reason}); retrying in the background"
                " - sessions are not affected"
            )
    return bridge


@dataclass(frozen=True, slots=True)
class Target:
    """The device a command runs against: simulated in-process (``--sim KIND``, with its
    faults), or found by name or address on a radio (``--device``, ``--radio``)."""

    sim_kind: str | None
    sim_faults: tuple[ScheduledFault, ...] = ()
    device: str | None = None
    radio: str | None = None


def parse_target(
    sim_kind: str | None, faults: tuple[str, ...], device: str | None, radio: str | None
) -> Target:
    """``--sim KIND`` and its ``--fault FAULT@SECONDS`` options, checked (usage errors)."""
    return Target(sim_kind, tuple(_parse_sim(sim_kind, faults)), device, radio)


def _parse_sim(sim_kind: str | None, faults: tuple[str, ...]) -> list[ScheduledFault]:
    if sim_kind is None:
        if faults:
            raise click.UsageError("--fault goes with --sim")
        return []
    import simulator

    if sim_kind not in simulator.DEVICE_KINDS:
        raise click.BadParameter(
            f"unknown kind {sim_kind!r}; choose one of: {', '.join(simulator.DEVICE_KINDS)}",
            param_hint="--sim",
        )
    try:
        return [simulator.parse_fault(text) for text in faults]
    except simulator.SimulatorError as exc:
        raise click.BadParameter(str(exc), param_hint="--fault") from exc


def parse_sim_specs(texts: tuple[str, ...]) -> list[DeviceSpec]:
    """``ui --sim KIND[:NAME]`` options, checked (usage errors)."""
    if not texts:
        return []
    import simulator

    try:
        return [simulator.parse_device_spec(text) for text in texts]
    except simulator.SimulatorError as exc:
        raise click.BadParameter(str(exc), param_hint="--sim") from exc


async def open_target(
    stack: contextlib.AsyncExitStack, target: Target, time_scale: float
) -> tuple[Radio, str]:
    """The radio and device to use: an in-process simulator, or a real/served device."""
    from device.link import Radio

    if target.sim_kind is not None:
        import simulator

        kind = target.sim_kind
        world = simulator.SimulatorWorld(
            [simulator.DeviceSpec(kind, kind)],
            faults={kind: list(target.sim_faults)},
            time_scale=time_scale,
        )
        await stack.enter_async_context(world)
        radio = await stack.enter_async_context(await Radio.attach(world.controller()))
        return radio, kind
    assert target.device is not None
    radio = await stack.enter_async_context(await Radio.open(target.radio))
    return radio, target.device


@contextlib.asynccontextmanager
async def tui_backend(
    specs: list[DeviceSpec],
    radio_moniker: str | None,
    time_scale: float,
    db_path: Path,
    settings: MqttSettings | None,
) -> AsyncIterator[Backend]:
    """What ``therapyctl ui`` talks through: simulated devices or a radio, the journal and
    the bridge; opened by the app after its first screen is up."""
    from device.link import Radio
    from ui.tui.app import Backend

    # bumble takes about half a second to import: off the loop, so the UI stays live.
    await asyncio.to_thread(importlib.import_module, "device.link.bumble_backend")
    if specs:
        await asyncio.to_thread(importlib.import_module, "simulator")
    async with contextlib.AsyncExitStack() as stack:
        journal = await open_journal(stack, db_path)
        bridge = await start_bridge(stack, settings, handler=None)  # its state: the header
        if specs:
            import simulator

            world = simulator.SimulatorWorld(specs, time_scale=time_scale)
            await stack.enter_async_context(world)
            radio = await stack.enter_async_context(await Radio.attach(world.controller()))
        else:
            radio = await stack.enter_async_context(await Radio.open(radio_moniker))
        yield Backend(radio, journal, bridge)
