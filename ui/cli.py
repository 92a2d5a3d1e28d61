"""The ``therapyctl`` command line.

This module is the composition root: it is the one place in ``ui`` allowed to start the
simulator (``sim serve``, ``run --sim``) and hand its virtual radio to the device layer; the
rest of ``ui`` only uses ``device``'s public API and ``protocols`` types. Every command that
turns a device's output on goes through ``device``'s session runner and its supervisor.

Exit codes: 0 success (``run``: the session completed); 1 an error (device, radio,
simulator, file); 2 a usage error (bad option); 3 ``run`` ended by a safety stop; 130 stopped
by the user (Ctrl-C / SIGTERM), with the device's output turned off first.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from device import Radio, scan
from device.session import SessionListener
from protocols import Mode, TherapyctlError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_SAFETY_STOP = 3
EXIT_INTERRUPTED = 130

_T = TypeVar("_T")


def _run(main: Callable[[], Awaitable[_T]]) -> _T:
    """Run a coroutine; a TherapyctlError becomes one line on stderr and exit code 1."""
    try:
        return asyncio.run(_with_signals(main))
    except TherapyctlError as exc:
        click.echo(f"therapyctl: error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        click.echo("therapyctl: interrupted", err=True)
        sys.exit(130)


async def _with_signals(main: Callable[[], Awaitable[_T]]) -> _T:
    """Run ``main`` as a task that SIGINT and SIGTERM cancel (so cleanup code runs)."""
    task = asyncio.ensure_future(main())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        return await task
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _db_path(value: str | None) -> Path:
    """--db, else $THERAPYCTL_DB, else the journal in the user's data directory."""
    from device.journal import default_path

    if value:
        return Path(value).expanduser()
    env = os.environ.get("THERAPYCTL_DB")
    return Path(env).expanduser() if env else default_path()


_DB_HELP = "The journal (SQLite). Default: $THERAPYCTL_DB, or the user's data directory."


def _mqtt_options(command: Any) -> Any:
    """--mqtt and its TLS / naming options (run, serve)."""
    options = [
        click.option(
            "--mqtt",
            "mqtt_url",
            metavar="URL",
            help="Report to this MQTT broker: mqtt://[user[:password]@]host[:port] or mqtts://...",
        ),
        click.option("--mqtt-ca", metavar="FILE", help="CA certificate for mqtts://."),
        click.option("--mqtt-cert", metavar="FILE", help="Client certificate for mqtts://."),
        click.option("--mqtt-key", metavar="FILE", help="Client key for mqtts://."),
        click.option(
            "--mqtt-prefix",
            default="therapyctl",
            show_default=True,
            metavar="PREFIX",
            help="Topic prefix.",
        ),
        click.option(
            "--mqtt-node",
            metavar="ID",
            help="This controller's id in topics (default: the host name).",
        ),
        click.option(
            "--remote-control",
            is_flag=True,
            help="Accept remote start/pause/resume/ack over MQTT (stop is always accepted).",
        ),
        click.option(
            "--config",
            "config_file",
            type=click.Path(dir_okay=False),
            metavar="FILE",
            help="A TOML configuration file: [mqtt] url, ca_file, ... and [limits].",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _session_options(command: Any) -> Any:
    """--time-scale, --attended-ack, --limits and --db (run, serve)."""
    options = [
        click.option(
            "--time-scale",
            type=float,
            default=1.0,
            show_default=True,
            callback=_positive,
            metavar="X",
            help="Simulated time runs X times faster than wall time.",
        ),
        click.option(
            "--attended-ack",
            type=click.Choice(["auto"]),
            help="Answer heat's attended-use checks automatically (headless use).",
        ),
        click.option(
            "--limits",
            "limits_file",
            type=click.Path(dir_okay=False),
            metavar="FILE",
            help="A TOML file tightening the safety limits.",
        ),
        click.option("--db", "db", metavar="PATH", help=_DB_HELP),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _with_config(
    config_file: str | None,
    url: str | None,
    ca: str | None,
    cert: str | None,
    key: str | None,
    prefix: str,
    node: str | None,
    remote: bool,
) -> tuple[Any, Any]:
    """(limits or None, MQTT settings or None): the configuration file, then the flags."""
    limits = None
    if config_file is not None:
        from device.config import load_config

        try:
            limits, mqtt = load_config(config_file)
        except TherapyctlError as exc:
            click.echo(f"therapyctl: error: {exc}", err=True)
            sys.exit(EXIT_ERROR)
        url = url or _str(mqtt.get("url"))
        ca = ca or _str(mqtt.get("ca_file"))
        cert = cert or _str(mqtt.get("cert_file"))
        key = key or _str(mqtt.get("key_file"))
        if prefix == "therapyctl" and "prefix" in mqtt:
            prefix = str(mqtt["prefix"])
        node = node or _str(mqtt.get("node_id"))
        remote = remote or bool(mqtt.get("remote_control", False))
    return limits, _mqtt_settings(url, ca, cert, key, prefix, node, remote)


def _effective_limits(config_limits: Any, limits_file: str | None) -> Any:
    """The configuration file's limits (or the defaults), tightened by --limits FILE."""
    from device.config import load_limits
    from device.limits import DEFAULT_LIMITS

    base = config_limits or DEFAULT_LIMITS
    try:
        return load_limits(limits_file, base) if limits_file else base
    except TherapyctlError as exc:
        click.echo(f"therapyctl: error: {exc}", err=True)
        sys.exit(EXIT_ERROR)


async def _open_journal(stack: contextlib.AsyncExitStack, path: Path) -> Any:
    """Open the journal off the loop; it is flushed and closed when ``stack`` unwinds."""
    from device.journal import JournalWriter

    journal = await asyncio.to_thread(JournalWriter, path)
    stack.push_async_callback(asyncio.to_thread, journal.close)
    return journal


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def _mqtt_settings(
    url: str | None,
    ca: str | None,
    cert: str | None,
    key: str | None,
    prefix: str,
    node: str | None,
    remote: bool,
) -> Any:
    if url is None:
        if any((ca, cert, key, node, remote)):
            raise click.UsageError("the --mqtt-* options and --remote-control need --mqtt URL")
        return None
    from device.mqtt import MqttConfigError, MqttSettings

    try:
        return MqttSettings.from_url(
            url,
            ca_file=ca,
            cert_file=cert,
            key_file=key,
            prefix=prefix,
            node_id=node,
            remote_control=remote,
        )
    except MqttConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--mqtt") from exc


def _positive(_ctx: click.Context, _param: click.Parameter, value: float) -> float:
    if not value > 0:
        raise click.BadParameter(f"must be greater than 0, got {value:g}")
    return value


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """Controller for wearable therapy devices over Bluetooth LE."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if verbose < 2:
        logging.getLogger("bumble").setLevel(logging.CRITICAL)


# ---------------------------------------------------------------------------- scan


@cli.command("scan")
@click.option(
    "--radio",
    metavar="TRANSPORT",
    help="A bumble HCI transport (e.g. tcp-client:127.0.0.1:9001); default: the system adapter.",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=float,
    default=5.0,
    show_default=True,
    callback=_positive,
    metavar="S",
    help="Seconds to scan.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def scan_command(radio: str | None, timeout_s: float, as_json: bool) -> None:
    """List supported devices nearby: name, address, kind, signal."""

    async def main() -> None:
        async with await Radio.open(radio) as opened:
            found = await scan(opened, timeout_s)
        if as_json:
            click.echo(json.dumps([f.as_json() for f in found], indent=2))
            return
        if not found:
            click.echo(f"no supported devices found in {timeout_s:g} s")
            return
        click.echo(f"{'NAME':<24} {'ADDRESS':<18} {'KIND':<16} {'RSSI':<9} BATTERY")
        for f in found:
            battery = "--" if f.battery_pct is None else f"{f.battery_pct} %"
            rssi = f"{f.rssi} dBm"
            click.echo(f"{f.name:<24} {f.address:<18} {f.kind:<16} {rssi:<9} {battery}")

    _run(main)


# ---------------------------------------------------------------------------- sim


@cli.group("sim")
def sim_group() -> None:
    """The device simulator (bumble GATT servers on a virtual radio)."""


@sim_group.command("serve")
@click.option(
    "--device",
    "devices",
    multiple=True,
    required=True,
    metavar="KIND[:NAME]",
    help="A device to simulate: heat-pad, thermal-pad, light-belt-420/800/1000.",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="FAULT:NAME@SECONDS",
    help="Inject a fault into device NAME, SECONDS (simulated) after its first session started.",
)
@click.option(
    "--time-scale",
    type=float,
    default=1.0,
    show_default=True,
    callback=_positive,
    metavar="X",
    help="Simulated time runs X times faster than wall time.",
)
@click.option(
    "--hci",
    "hcis",
    multiple=True,
    required=True,
    metavar="TRANSPORT",
    help="Offer a controller on this radio through a bumble transport, "
    "e.g. tcp-server:127.0.0.1:9001 (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Log events as JSON lines on stdout.")
def sim_serve(
    devices: tuple[str, ...],
    faults: tuple[str, ...],
    time_scale: float,
    hcis: tuple[str, ...],
    as_json: bool,
) -> None:
    """Run simulated devices on a virtual radio until interrupted."""
    import simulator

    try:
        specs = [simulator.parse_device_spec(text) for text in devices]
        by_device: dict[str, list[simulator.ScheduledFault]] = {}
        for text in faults:
            name, fault = simulator.parse_device_fault(text)
            by_device.setdefault(name, []).append(fault)
        names = {spec.name for spec in specs}
        for name in by_device:
            if name not in names:
                raise simulator.SimulatorError(f"--fault names {name!r}, which no --device runs")
    except simulator.SimulatorError as exc:
        raise click.BadParameter(str(exc)) from exc

    async def main() -> None:
        log = simulator.EventLog() if as_json else None
        world = simulator.SimulatorWorld(
            specs, faults=by_device, time_scale=time_scale, event_log=log
        )
        async with world:
            clients = [await world.offer_hci(moniker) for moniker in hcis]
            ready = {
                "event": "ready",
                "hci": list(hcis),
                "radio": clients,
                "time_scale": time_scale,
                "devices": [
                    {"name": d.name, "kind": d.kind_name, "address": str(d.address).split("/")[0]}
                    for d in world.devices.values()
                ],
            }
            if log is not None:
                log.write(**ready)
            else:
                for d in ready["devices"]:  # type: ignore[attr-defined]
                    click.echo(f"simulating {d['kind']} {d['name']} at {d['address']}")
                click.echo(f"radio offered on {', '.join(hcis)} (time scale {time_scale:g}x)")
                click.echo(f"connect with: --radio {clients[0]}")
                click.echo("press Ctrl-C to stop")
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()

    _run(main)


# ---------------------------------------------------------------------------- run


@cli.command("run")
@click.option(
    "--device",
    "device_target",
    metavar="NAME|ADDRESS",
    help="A real or served device, found by name or address.",
)
@click.option(
    "--radio",
    metavar="TRANSPORT",
    help="With --device: a bumble HCI transport (default: the system adapter).",
)
@click.option(
    "--sim",
    "sim_kind",
    metavar="KIND",
    help="Start an in-process simulated device of this kind (full BLE path).",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="FAULT@SECONDS",
    help="With --sim: inject a fault SECONDS (simulated) into the session.",
)
@click.option(
    "--plan",
    "plan_name",
    metavar="NAME|FILE",
    help="A built-in plan (heat, cold, contrast, acute-cold, light-daily) or a TOML file.",
)
@click.option("--mode", type=click.Choice(["heat", "cold", "light"]), help="A single session.")
@click.option("--setpoint", "setpoint_c", type=float, metavar="C", help="Pad setpoint, °C.")
@click.option("--level", type=click.IntRange(1, 255), metavar="N", help="Device level.")
@click.option(
    "--power",
    "power_mw",
    type=click.IntRange(1, 65535),
    metavar="MW",
    help="Light output power, mW.",
)
@click.option("--minutes", type=float, metavar="M", help="Session length (simulated minutes).")
@_session_options
@_mqtt_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary at the end.")
def run_command(
    device_target: str | None,
    radio: str | None,
    sim_kind: str | None,
    faults: tuple[str, ...],
    plan_name: str | None,
    mode: str | None,
    setpoint_c: float | None,
    level: int | None,
    power_mw: int | None,
    minutes: float | None,
    time_scale: float,
    attended_ack: str | None,
    limits_file: str | None,
    db: str | None,
    mqtt_url: str | None,
    mqtt_ca: str | None,
    mqtt_cert: str | None,
    mqtt_key: str | None,
    mqtt_prefix: str,
    mqtt_node: str | None,
    remote_control: bool,
    config_file: str | None,
    as_json: bool,
) -> None:
    """Run a therapy session or plan, supervised and journaled, until it ends."""
    config_limits, mqtt = _with_config(
        config_file,
        mqtt_url,
        mqtt_ca,
        mqtt_cert,
        mqtt_key,
        mqtt_prefix,
        mqtt_node,
        remote_control,
    )
    from device.plans import Step, TherapyPlan, resolve_plan
    from device.supervisor import SessionRequest

    if (device_target is None) == (sim_kind is None):
        raise click.UsageError("give exactly one of --device or --sim")
    if radio is not None and device_target is None:
        raise click.UsageError("--radio goes with --device")
    if faults and sim_kind is None:
        raise click.UsageError("--fault goes with --sim")
    if (plan_name is None) == (mode is None):
        raise click.UsageError("give exactly one of --plan or --mode")
    targets = [v for v in (setpoint_c, level, power_mw) if v is not None]
    if len(targets) > 1:
        raise click.UsageError("give at most one of --setpoint, --level, --power")
    if plan_name is not None and (targets or minutes is not None):
        raise click.UsageError("--setpoint/--level/--power/--minutes go with --mode, not --plan")
    if mode is not None and minutes is None:
        raise click.UsageError("--mode needs --minutes")
    if minutes is not None and not 0 < minutes <= 24 * 60:
        raise click.BadParameter("must be more than 0 and at most 1440", param_hint="--minutes")
    if power_mw is not None and mode != "light":
        raise click.UsageError("--power is for --mode light")
    if setpoint_c is not None and mode == "light":
        raise click.UsageError("--setpoint is for heat or cold; light takes --level or --power")

    sim_faults = _parse_sim(sim_kind, faults)

    limits = _effective_limits(config_limits, limits_file)
    try:
        if plan_name is not None:
            plan = resolve_plan(plan_name)
            single = False
        else:
            assert mode is not None and minutes is not None
            request = SessionRequest(
                Mode[mode.upper()],
                minutes * 60,
                setpoint_c=setpoint_c,
                level=level or 0,
                power_mw=power_mw,
            )
            if request.mode != Mode.LIGHT and setpoint_c is None and not level:
                request = SessionRequest(
                    request.mode,
                    request.duration_s,
                    setpoint_c=40.0 if request.mode == Mode.HEAT else 15.0,
                )
            plan = TherapyPlan(mode, (Step(request),))
            single = True
    except TherapyctlError as exc:
        click.echo(f"therapyctl: error: {exc}", err=True)
        sys.exit(EXIT_ERROR)

    summary = _run_session(
        plan,
        single,
        limits,
        device_target,
        radio,
        sim_kind,
        sim_faults,
        time_scale,
        attended_ack == "auto",
        as_json,
        _db_path(db),
        mqtt,
    )
    if as_json:
        click.echo(json.dumps(summary.as_json(), indent=2, ensure_ascii=False))
    else:
        _print_summary(summary)
    if summary.end_reason.value == "completed":
        sys.exit(EXIT_OK)
    if summary.end_reason.value == "user_stopped":
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(EXIT_SAFETY_STOP)


def _run_session(
    plan: Any,
    single: bool,
    limits: Any,
    device_target: str | None,
    radio_moniker: str | None,
    sim_kind: str | None,
    sim_faults: list[Any],
    time_scale: float,
    attended_auto: bool,
    as_json: bool,
    db_path: Path,
    mqtt: Any = None,
) -> Any:
    from device.clock import Clock
    from device.controller import PlanRunner
    from device.driver import DeviceDriver
    from device.session import CompositeListener

    progress = _Progress(quiet=False)
    active: list[Any] = []

    async def handle(key: str, command: Any) -> Any:
        from device.mqtt import CommandResult

        runner = active[0] if active else None
        if runner is None:
            return CommandResult(False, "rejected", "the session has not started yet")
        actions = {
            "stop": runner.request_stop,
            "pause": runner.pause,
            "resume": runner.resume,
            "ack": runner.acknowledge,
        }
        if command.command == "start":
            return CommandResult(False, "rejected", "a session is already running on this device")
        actions[command.command]()
        return CommandResult(True, "accepted", f"{command.command} sent")

    async def main() -> Any:
        async with contextlib.AsyncExitStack() as stack:
            journal = await _open_journal(stack, db_path)
            if journal.closed_interrupted:
                progress.echo(
                    f"journal: closed {journal.closed_interrupted} unfinished session(s) as"
                    " interrupted"
                )
            bridge = await _start_bridge(stack, mqtt, handler=handle)
            radio, target = await _open_target(
                stack, sim_kind, sim_faults, time_scale, device_target, radio_moniker
            )
            driver = DeviceDriver(radio, target, Clock(time_scale))
            await driver.connect()
            stack.push_async_callback(driver.close)
            assert driver.identity is not None
            progress.echo(
                f"connected to {driver.identity.name} ({driver.identity.kind},"
                f" {driver.identity.address}, firmware {driver.identity.firmware})"
            )
            reporter = None
            if bridge is not None:
                from device.mqtt import MqttReporter

                reporter = MqttReporter(bridge, {**driver.identity.as_json()})
            runner = PlanRunner(
                driver,
                plan,
                limits,
                attended_auto=attended_auto,
                listener=CompositeListener(progress, reporter),  # type: ignore[arg-type]
                single_session=single,
                journal=journal,
            )
            progress.runner = runner
            loop = asyncio.get_running_loop()
            task = asyncio.current_task()
            interrupts = 0

            def interrupt() -> None:
                nonlocal interrupts
                interrupts += 1
                if interrupts == 1:
                    progress.echo("stopping: turning the device's output off...")
                    runner.request_stop()
                elif task is not None:
                    task.cancel()

            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, interrupt)
            progress.watch_stdin(runner)
            active.append(runner)
            try:
                summary = await runner.run()
                if reporter is not None:
                    reporter.finished(summary.as_json())
                return summary
            finally:
                progress.unwatch_stdin()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)
                progress.finish()

    try:
        return asyncio.run(main())
    except TherapyctlError as exc:
        progress.finish()
        click.echo(f"therapyctl: error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    except (KeyboardInterrupt, asyncio.CancelledError):
        click.echo("therapyctl: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)


class _Progress(SessionListener):
    """The live progress line (stderr) and the attended-use prompt on a terminal."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.runner: Any = None
        self._last_minute = -1
        self._line_open = False
        self._stdin_watched = False

    # SessionListener hooks (duck-typed)
    def on_state(self, runner: Any, state: Any) -> None:
        pass

    def on_status(self, runner: Any, status: Any) -> None:
        tally = runner.supervisor.tally if runner.supervisor else None
        temp = "--.-" if status.temperature_c is None else f"{status.temperature_c:5.1f}"
        extra = ""
        if tally is not None:
            extra = (
                f"  energy {tally.energy_j:6.0f} J"
                if status.mode.name == "LIGHT"
                else f"  CEM43 {tally.cem43_min:5.2f}"
            )
        line = (
            f"{status.mode.name.lower():>5} {status.state.name.lower():<7}"
            f" {status.elapsed_s // 60:3d}:{status.elapsed_s % 60:02d}"
            f" left {status.remaining_s // 60:3d}:{status.remaining_s % 60:02d}"
            f"  {temp} °C  {status.power_mw / 1000:5.1f} W{extra}  battery {status.battery_pct:3d}%"
        )
        if self.tty:
            click.echo("\r" + line + " ", nl=False, err=True)
            self._line_open = True
        elif status.elapsed_s // 60 != self._last_minute:
            self._last_minute = status.elapsed_s // 60
            click.echo(line, err=True)

    def on_event(self, runner: Any, event: Any) -> None:
        if event.kind in (
            "clamp",
            "safety_stop",
            "alarm",
            "link_lost",
            "refused",
            "step",
            "attended_check",
            "attended_ack",
            "reconnected",
            "paused",
            "resumed",
        ):
            self.echo(f"[{event.t_s / 60:6.1f} min] {event.kind}: {event.detail}")

    def on_prompt(self, runner: Any, deadline_s: float) -> None:
        if sys.stdin.isatty():
            self.echo("heat check: press Enter to confirm you are awake, or the heat stops")
        else:
            self.echo("heat check: nobody can answer (use --attended-ack auto); heat will stop")

    def watch_stdin(self, runner: Any) -> None:
        if not sys.stdin.isatty():
            return
        loop = asyncio.get_running_loop()

        def on_line() -> None:
            sys.stdin.readline()
            runner.acknowledge()

        try:
            loop.add_reader(sys.stdin.fileno(), on_line)
            self._stdin_watched = True
        except (OSError, ValueError, NotImplementedError):
            pass

    def unwatch_stdin(self) -> None:
        if self._stdin_watched:
            asyncio.get_running_loop().remove_reader(sys.stdin.fileno())
            self._stdin_watched = False

    def echo(self, text: str) -> None:
        if self._line_open:
            click.echo("", err=True)
            self._line_open = False
        click.echo(text, err=True)

    def finish(self) -> None:
        if self._line_open:
            click.echo("", err=True)
            self._line_open = False


def _print_summary(summary: Any) -> None:
    what = summary.plan if summary.plan else summary.mode
    click.echo(
        f"session {summary.session_id}: {what} ended {summary.end_reason.value}"
        f" after {summary.actual_minutes:.1f} of {summary.planned_minutes:.1f} planned min"
    )
    if summary.end_detail:
        click.echo(f"  why: {summary.end_detail}")
    for message in summary.limits_applied:
        click.echo(f"  limit applied: {message}")
    if summary.max_temperature_c is not None:
        click.echo(
            f"  temperature {summary.min_temperature_c:.1f}-{summary.max_temperature_c:.1f} °C,"
            f" CEM43 {summary.cem43_minutes:.2f} min"
        )
    if summary.energy_j:
        click.echo(f"  light energy {summary.energy_j:.0f} J")


async def _start_bridge(stack: contextlib.AsyncExitStack, settings: Any, handler: Any) -> Any:
    """Start the MQTT bridge; a broker that refuses our credentials is an error now, one
    that is down is retried in the background (it never affects a session)."""
    if settings is None:
        return None
    from device.mqtt import MqttBridge

    bridge = MqttBridge(settings, handler)
    task = asyncio.create_task(bridge.run(), name="mqtt")

    async def stop() -> None:
        await bridge.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

    stack.push_async_callback(stop)
    await bridge.wait_first_attempt(5.0)
    return bridge


# ---------------------------------------------------------------------------- serve


@cli.command("serve")
@click.option("--device", "device_target", metavar="NAME|ADDRESS", help="A device to serve.")
@click.option("--radio", metavar="TRANSPORT", help="With --device: a bumble HCI transport.")
@click.option("--sim", "sim_kind", metavar="KIND", help="Serve an in-process simulated device.")
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="FAULT@SECONDS",
    help="With --sim: inject a fault into the first session.",
)
@_session_options
@_mqtt_options
def serve(
    device_target: str | None,
    radio: str | None,
    sim_kind: str | None,
    faults: tuple[str, ...],
    time_scale: float,
    attended_ack: str | None,
    limits_file: str | None,
    db: str | None,
    mqtt_url: str | None,
    mqtt_ca: str | None,
    mqtt_cert: str | None,
    mqtt_key: str | None,
    mqtt_prefix: str,
    mqtt_node: str | None,
    remote_control: bool,
    config_file: str | None,
) -> None:
    """Keep a device connected, report it over MQTT and take remote commands, until stopped."""
    from device.clock import Clock
    from device.driver import DeviceDriver
    from device.mqtt import MqttReporter
    from device.remote import RemoteController

    if (device_target is None) == (sim_kind is None):
        raise click.UsageError("give exactly one of --device or --sim")
    config_limits, settings = _with_config(
        config_file,
        mqtt_url,
        mqtt_ca,
        mqtt_cert,
        mqtt_key,
        mqtt_prefix,
        mqtt_node,
        remote_control,
    )
    if settings is None:
        raise click.UsageError("serve needs --mqtt URL (or [mqtt] url in --config)")
    sim_faults = _parse_sim(sim_kind, faults)
    limits = _effective_limits(config_limits, limits_file)

    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            journal = await _open_journal(stack, _db_path(db))
            holder: list[RemoteController] = []

            async def handle(key: str, command: Any) -> Any:
                from device.mqtt import CommandResult

                if not holder:
                    return CommandResult(False, "rejected", "the device is not connected yet")
                return await holder[0].handle(key, command)

            bridge = await _start_bridge(stack, settings, handle)
            radio_obj, target = await _open_target(
                stack, sim_kind, sim_faults, time_scale, device_target, radio
            )
            driver = DeviceDriver(radio_obj, target, Clock(time_scale))
            await driver.connect()
            stack.push_async_callback(driver.close)
            assert driver.identity is not None
            reporter = MqttReporter(bridge, driver.identity.as_json())
            controller = RemoteController(
                driver,
                limits,
                reporter=reporter,
                journal=journal,
                attended_auto=attended_ack == "auto",
            )
            stack.push_async_callback(controller.close)
            holder.append(controller)
            click.echo(
                f"serving {driver.identity.name} ({driver.identity.kind}) on"
                f" {settings.host}:{settings.port} as {settings.prefix}/{settings.node_id};"
                f" remote control {'on' if settings.remote_control else 'off (stop only)'}",
                err=True,
            )
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()

    _run(main)


def _parse_sim(sim_kind: str | None, faults: tuple[str, ...]) -> list[Any]:
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


async def _open_target(
    stack: contextlib.AsyncExitStack,
    sim_kind: str | None,
    sim_faults: list[Any],
    time_scale: float,
    device_target: str | None,
    radio_moniker: str | None,
) -> tuple[Radio, str]:
    """The radio and device to use: an in-process simulator, or a real/served device."""
    if sim_kind is not None:
        import simulator

        world = simulator.SimulatorWorld(
            [simulator.DeviceSpec(sim_kind, sim_kind)],
            faults={sim_kind: sim_faults},
            time_scale=time_scale,
        )
        await stack.enter_async_context(world)
        radio = await stack.enter_async_context(await Radio.attach(world.controller()))
        return radio, sim_kind
    assert device_target is not None
    radio = await stack.enter_async_context(await Radio.open(radio_moniker))
    return radio, device_target


# ---------------------------------------------------------------------------- ui


@cli.command("ui")
@click.option(
    "--sim",
    "sims",
    multiple=True,
    metavar="KIND[:NAME]",
    help="Simulate this device in-process (repeatable).",
)
@click.option(
    "--radio", metavar="TRANSPORT", help="A bumble HCI transport (default: the system adapter)."
)
@_session_options
@_mqtt_options
def ui_command(
    sims: tuple[str, ...],
    radio: str | None,
    time_scale: float,
    attended_ack: str | None,
    limits_file: str | None,
    db: str | None,
    mqtt_url: str | None,
    mqtt_ca: str | None,
    mqtt_cert: str | None,
    mqtt_key: str | None,
    mqtt_prefix: str,
    mqtt_node: str | None,
    remote_control: bool,
    config_file: str | None,
) -> None:
    """The terminal app: find devices, run and watch sessions, answer safety prompts."""
    from ui.app import TherapyApp

    if attended_ack:
        raise click.UsageError("the UI asks the attended-use question itself")
    if sims and radio:
        raise click.UsageError("give --sim or --radio, not both")
    config_limits, settings = _with_config(
        config_file,
        mqtt_url,
        mqtt_ca,
        mqtt_cert,
        mqtt_key,
        mqtt_prefix,
        mqtt_node,
        remote_control,
    )
    specs = []
    if sims:
        import simulator

        try:
            specs = [simulator.parse_device_spec(text) for text in sims]
        except simulator.SimulatorError as exc:
            raise click.BadParameter(str(exc), param_hint="--sim") from exc
    limits = _effective_limits(config_limits, limits_file)

    db_path = _db_path(db)

    @contextlib.asynccontextmanager
    async def open_backend() -> AsyncIterator[Any]:
        from ui.app import Backend

        # bumble takes about half a second to import: off the loop, so the UI stays live.
        await asyncio.to_thread(importlib.import_module, "device.bumble_backend")
        if specs:
            await asyncio.to_thread(importlib.import_module, "simulator")
        async with contextlib.AsyncExitStack() as stack:
            journal = await _open_journal(stack, db_path)
            bridge = await _start_bridge(stack, settings, handler=None)
            if specs:
                import simulator

                world = simulator.SimulatorWorld(specs, time_scale=time_scale)
                await stack.enter_async_context(world)
                radio_obj = await stack.enter_async_context(await Radio.attach(world.controller()))
            else:
                radio_obj = await stack.enter_async_context(await Radio.open(radio))
            yield Backend(radio_obj, journal, bridge)

    async def main() -> None:
        app = TherapyApp(open_backend, limits, time_scale=time_scale, db_path=db_path)
        await app.run_async()

    _run(main)


# ---------------------------------------------------------------------------- monitor


@cli.command("monitor")
@click.option(
    "--mqtt",
    "mqtt_url",
    required=True,
    metavar="URL",
    help="The broker: mqtt://[user[:password]@]host[:port] or mqtts://...",
)
@click.option("--mqtt-ca", metavar="FILE", help="CA certificate for mqtts://.")
@click.option("--mqtt-cert", metavar="FILE", help="Client certificate for mqtts://.")
@click.option("--mqtt-key", metavar="FILE", help="Client key for mqtts://.")
@click.option("--mqtt-prefix", default="therapyctl", show_default=True, metavar="PREFIX")
def monitor(
    mqtt_url: str,
    mqtt_ca: str | None,
    mqtt_cert: str | None,
    mqtt_key: str | None,
    mqtt_prefix: str,
) -> None:
    """A live view of every controller and session reporting to one broker."""
    from ui.monitor import MonitorApp

    settings = _mqtt_settings(mqtt_url, mqtt_ca, mqtt_cert, mqtt_key, mqtt_prefix, "monitor", False)
    error = MonitorApp(settings).run()
    if error:
        click.echo(f"therapyctl: error: {error}", err=True)
        sys.exit(EXIT_ERROR)


# ---------------------------------------------------------------------------- journal


def _journal_error(exc: TherapyctlError) -> None:
    click.echo(f"therapyctl: error: {exc}", err=True)
    sys.exit(EXIT_ERROR)


@cli.command("history")
@click.option("--device", metavar="NAME", help="Only this device (name or address).")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="DATE",
    help="Only sessions from this day on (YYYY-MM-DD).",
)
@click.option(
    "--limit",
    type=click.IntRange(1, 1_000_000),
    default=50,
    show_default=True,
    help="At most this many sessions (totals per day count all).",
)
@click.option("--db", "db", metavar="PATH", help=_DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def history(device: str | None, since: Any, limit: int, db: str | None, as_json: bool) -> None:
    """Past sessions, newest first, with totals per day."""
    from device.journal import JournalReader

    try:
        with JournalReader(_db_path(db)) as reader:
            day = since.date() if since else None
            rows = reader.sessions(device=device, since=day, limit=limit)
            days = reader.day_totals(device=device, since=day)
            counts = (
                {r.session_id: reader.sample_stats(r.session_id) for r in rows} if as_json else {}
            )
    except TherapyctlError as exc:
        _journal_error(exc)
        return
    if as_json:
        click.echo(
            json.dumps(
                {"sessions": [{**r.as_json(), **counts[r.session_id]} for r in rows], "days": days},
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    if not rows:
        click.echo("no sessions in the journal" + (" for that filter" if device or since else ""))
        return
    from datetime import datetime

    click.echo(
        f"{'STARTED':<17} {'DEVICE':<16} {'WHAT':<12} {'MIN':>6} {'END':<17} {'PEAK °C':>7}"
        f" {'CEM43/J':>9}  ID"
    )
    for r in rows:
        started = datetime.fromtimestamp(r.started_at).strftime("%Y-%m-%d %H:%M")
        peak = "" if r.max_temperature_c is None else f"{r.max_temperature_c:.1f}"
        dose = (
            f"{r.energy_j:.0f} J"
            if r.energy_j
            else ""
            if r.cem43_minutes is None
            else f"{r.cem43_minutes:.2f}"
        )
        minutes = "" if r.actual_minutes is None else f"{r.actual_minutes:.1f}"
        click.echo(
            f"{started:<17} {r.device_name[:16]:<16} {r.what[:12]:<12} {minutes:>6}"
            f" {(r.end_reason or 'running')[:17]:<17} {peak:>7} {dose:>9}  {r.session_id}"
        )
    click.echo("")
    click.echo(
        f"{'DAY':<11} {'SESSIONS':>8} {'MINUTES':>8} {'LIGHT MIN':>9} {'CEM43':>7} {'ENERGY J':>9}"
    )
    for d in days:
        click.echo(
            f"{d['day']:<11} {d['sessions']:>8} {d['minutes']:>8.1f} {d['light_minutes']:>9.1f}"
            f" {d['cem43_minutes']:>7.2f} {d['energy_j']:>9.0f}"
        )


@cli.command("show")
@click.argument("session_id")
@click.option("--db", "db", metavar="PATH", help=_DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(session_id: str, db: str | None, as_json: bool) -> None:
    """One session: summary, limits and events."""
    from device.journal import JournalReader

    try:
        with JournalReader(_db_path(db)) as reader:
            row = reader.session(session_id)
            limits = reader.limits(session_id)
            events = reader.events(session_id)
            steps = reader.steps(session_id)
            stats = reader.sample_stats(session_id)
    except TherapyctlError as exc:
        _journal_error(exc)
        return
    if as_json:
        click.echo(
            json.dumps(
                {**row.as_json(), **stats, "limits": limits, "steps": steps, "events": events},
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    data = row.as_json()
    click.echo(
        f"session {row.session_id}: {row.what} on {row.device_name} ({row.device_kind},"
        f" {row.device_address})"
    )
    click.echo(f"  started {data['started_at']}, ended {data['ended_at'] or '(running)'}")
    click.echo(
        f"  end: {row.end_reason or 'running'}" + (f" — {row.end_detail}" if row.end_detail else "")
    )
    click.echo(
        f"  minutes: requested {row.requested_minutes:g}, planned {row.planned_minutes or 0:g},"
        f" actual {row.actual_minutes or 0:.1f}"
    )
    if row.max_temperature_c is not None:
        click.echo(
            f"  temperature {row.min_temperature_c:.1f}-{row.max_temperature_c:.1f} °C,"
            f" CEM43 {row.cem43_minutes or 0:.2f} min"
        )
    if row.energy_j:
        click.echo(f"  light energy {row.energy_j:.0f} J")
    click.echo(f"  samples: {stats['samples']}")
    click.echo("  limits: " + ", ".join(f"{k}={v:g}" for k, v in sorted(limits.items())))
    click.echo("  events:")
    for e in events:
        click.echo(f"    {e['t_s'] / 60:7.2f} min  {e['kind']:<15} {e['detail']}")


@cli.command("export")
@click.argument("session_id", required=False)
@click.option("--all", "export_all", is_flag=True, help="Every session.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), required=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    metavar="FILE",
    help="Write here (default: standard output).",
)
@click.option("--db", "db", metavar="PATH", help=_DB_HELP)
def export(
    session_id: str | None, export_all: bool, fmt: str, output: str | None, db: str | None
) -> None:
    """Sessions and their samples as CSV or JSON."""
    from device.journal import JournalReader
    from ui.export import export_data, to_csv, to_json

    if (session_id is None) == (not export_all):
        raise click.UsageError("give a SESSION_ID or --all")
    try:
        with JournalReader(_db_path(db)) as reader:
            rows = reader.sessions() if export_all else [reader.session(session_id or "")]
            text = to_csv(reader, rows) if fmt == "csv" else to_json(export_data(reader, rows))
    except TherapyctlError as exc:
        _journal_error(exc)
        return
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        Path(output).write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        _journal_error(TherapyctlError(f"cannot write {output}: {exc}"))


@cli.command("plot")
@click.argument("session_id")
@click.option(
    "-o",
    "--output",
    required=True,
    metavar="FILE.png|FILE.svg",
    help="The chart file (PNG or SVG).",
)
@click.option("--db", "db", metavar="PATH", help=_DB_HELP)
def plot(session_id: str, output: str, db: str | None) -> None:
    """A session's temperature (or power) over time, with limits, steps and safety events."""
    from device.journal import JournalReader
    from ui.plot import FORMATS, draw_session, save

    path = Path(output)
    if path.suffix.lower() not in FORMATS:
        raise click.BadParameter("give a .png or .svg file name", param_hint="-o")
    try:
        with JournalReader(_db_path(db)) as reader:
            row = reader.session(session_id)
            figure = draw_session(
                row,
                reader.samples(session_id),
                reader.events(session_id),
                reader.steps(session_id),
                reader.limits(session_id),
            )
        save(figure, path)
    except TherapyctlError as exc:
        _journal_error(exc)
        return
    click.echo(f"wrote {path}")


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    return cli.main(args=argv, prog_name="therapyctl")
