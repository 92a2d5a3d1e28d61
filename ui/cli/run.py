"""``therapyctl run``: one session or a plan on one device, supervised and journaled, with
a live progress line, until it ends (exit 0 completed, 3 a safety stop, 130 stopped).

Around the session: the pain diary's ratings before and after it (``--pain-before N``,
``--pain-after N``, or asked on a terminal; skipping is always fine), and the once-per-episode
warning when heat starts on a site in the acute phase of an episode (it never stops or delays
the session)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ui.cli.common import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_JOURNAL_FAILED,
    EXIT_OK,
    EXIT_SAFETY_STOP,
    SITE_HELP,
    STOP_SIGNALS,
    TIME_SCALE_WITHOUT_SIM,
    site_value,
    time_scale_given,
)
from ui.cli.options import LEVEL, LEVEL_HELP, PAIN, SessionOptions, session_options

if TYPE_CHECKING:
    from device.journal import JournalWriter
    from device.mqtt import CommandResult, MqttSettings, RemoteCommand
    from device.safety import Limits
    from device.sessions import PlanRunner, RegimenSettings, RunSummary, TherapyPlan
    from ui.cli.compose import Target


# --time-scale sets an in-process simulator's speed; any other device reports its own.


@click.command("run")
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
@click.option("--level", type=LEVEL, metavar="N", help=LEVEL_HELP)
@click.option(
    "--power",
    "power_mw",
    type=click.IntRange(1, 65535),
    metavar="MW",
    help="Light output power, mW.",
)
@click.option("--minutes", type=float, metavar="M", help="Session length (simulated minutes).")
@click.option("--site", metavar="S", callback=site_value, help=SITE_HELP)
@click.option(
    "--pain-before",
    type=PAIN,
    metavar="N",
    help="Pain before the session, 0-10, for the pain diary (asked on a terminal otherwise).",
)
@click.option(
    "--pain-after",
    type=PAIN,
    metavar="N",
    help="Pain after the session, 0-10 (asked on a terminal otherwise).",
)
@session_options
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
    site: str | None,
    pain_before: int | None,
    pain_after: int | None,
    options: SessionOptions,
    as_json: bool,
) -> None:
    """Run a therapy session or plan, supervised and journaled, until it ends."""
    config_limits, mqtt = options.config()
    from device.safety import SessionRequest
    from device.sessions import Step, TherapyPlan, resolve_plan
    from protocols import Mode, TherapyctlError
    from ui.cli.compose import parse_target
    from ui.cli.progress import print_summary

    if (device_target is None) == (sim_kind is None):
        raise click.UsageError("give exactly one of --device or --sim")
    if radio is not None and device_target is None:
        raise click.UsageError("--radio goes with --device")
    if faults and sim_kind is None:
        raise click.UsageError("--fault goes with --sim")
    if sim_kind is None and time_scale_given():
        raise click.UsageError(TIME_SCALE_WITHOUT_SIM)
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

    target = parse_target(sim_kind, faults, device_target, radio)

    limits = options.limits(config_limits)
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

    # The pain diary: asked on a terminal (not for --json, never without a terminal).
    interactive = not as_json and sys.stdin.isatty()
    pain_before_at = time.time()
    if pain_before is None and interactive:
        try:
            pain_before = ask_pain()
        except KeyboardInterrupt:  # nothing has started
            click.echo("\ntherapyctl: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        pain_before_at = time.time()

    summary, journal_trouble = _run_session(
        plan,
        single,
        limits,
        target,
        options.time_scale,
        options.attended_auto,
        as_json,
        options.db_path,
        mqtt,
        site,
        gives_heat=Mode.HEAT in plan.modes,
        regimen=options.regimen() if mqtt is not None else None,
    )
    if as_json:
        click.echo(
            json.dumps(
                {**summary.as_json(), "pain_before": pain_before, "pain_after": pain_after},
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        print_summary(summary)
        if pain_after is None and interactive and summary.actual_minutes > 0:
            try:
                pain_after = ask_pain()
            except KeyboardInterrupt:  # the session has ended: skipping is fine
                click.echo("", err=True)
    pain_after_at = time.time()
    trouble = record_ratings(
        options.db_path,
        summary,
        ((pain_before, "before", pain_before_at), (pain_after, "after", pain_after_at)),
        lambda line: click.echo(line, err=True),
    )
    journal_trouble = "; ".join(part for part in (journal_trouble, trouble) if part)
    if journal_trouble:
        click.echo(f"therapyctl: warning: {journal_trouble}", err=True)
    reason = summary.end_reason.value
    if reason not in ("completed", "user_stopped", "journal_unavailable"):
        sys.exit(EXIT_SAFETY_STOP)
    if journal_trouble or reason == "journal_unavailable":
        sys.exit(EXIT_JOURNAL_FAILED)
    sys.exit(EXIT_OK if reason == "completed" else EXIT_INTERRUPTED)


def _run_session(
    plan: TherapyPlan,
    single: bool,
    limits: Limits,
    target: Target,
    time_scale: float,
    attended_auto: bool,
    as_json: bool,
    db_path: Path,
    mqtt: MqttSettings | None = None,
    site: str | None = None,
    gives_heat: bool = False,
    regimen: RegimenSettings | None = None,
) -> tuple[RunSummary, str]:
    """Run it; returns the summary and, if the journal failed on the way, what to say.
    ``gives_heat``: the plan has a heat step (warned about once in an acute phase)."""
    import asyncio
    import contextlib

    from device.link import Clock, DeviceDriver
    from device.mqtt import CommandResult, MqttReporter
    from device.sessions import CompositeListener, PlanRunner, RequestError
    from protocols import TherapyctlError
    from ui.cli.compose import open_journal, open_target, start_bridge, start_days
    from ui.cli.progress import Progress

    progress = Progress(quiet=False)
    active: list[PlanRunner] = []
    journals: list[JournalWriter] = []

    async def handle(key: str, command: RemoteCommand) -> CommandResult:
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

    async def main() -> RunSummary:
        async with contextlib.AsyncExitStack() as stack:
            journal = await open_journal(stack, db_path)
            journals.append(journal)
            if journal.closed_interrupted:
                progress.echo(
                    f"journal: closed {journal.closed_interrupted} unfinished session(s) as"
                    " interrupted"
                )
            bridge = await start_bridge(stack, mqtt, handler=handle, say=progress.echo)
            if bridge is not None:  # the journal's days for Home Assistant too
                await start_days(stack, bridge, journal, limits, regimen)
            radio, address = await open_target(stack, target, time_scale)
            # An in-process simulator runs at --time-scale; another device's clock comes
            # from its Feature (the driver adopts it at connect).
            clock = Clock(time_scale) if target.sim_kind is not None else None
            driver = DeviceDriver(radio, address, clock)
            await driver.connect()
            stack.push_async_callback(driver.close)
            assert driver.identity is not None
            progress.echo(
                f"connected to {driver.identity.name} ({driver.identity.kind},"
                f" {driver.identity.address}, firmware {driver.identity.firmware})"
            )
            await _warn_heat(journal, site, driver.identity.address, gives_heat, progress.echo)
            reporter = None
            if bridge is not None:
                reporter = MqttReporter(bridge, {**driver.identity.as_json()})
            runner = PlanRunner(
                driver,
                plan,
                limits,
                attended_auto=attended_auto,
                listener=CompositeListener(progress, reporter),
                single_session=single,
                journal=journal,
                site=site,
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

            for sig in STOP_SIGNALS:  # a closed terminal (SIGHUP) stops like Ctrl-C
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
                for sig in STOP_SIGNALS:
                    loop.remove_signal_handler(sig)
                progress.finish()

    try:
        summary = asyncio.run(main())
        return summary, _journal_trouble(journals[0])
    except RequestError as exc:  # a level the device does not have, ...: a usage error
        progress.finish()
        raise click.UsageError(str(exc)) from None
    except TherapyctlError as exc:
        progress.finish()
        click.echo(f"therapyctl: error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    except (KeyboardInterrupt, asyncio.CancelledError):
        click.echo("therapyctl: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)


def _journal_trouble(journal: JournalWriter) -> str:
    """What to tell the user if the journal failed during the run (empty: it did not)."""
    failure = journal.first_failure
    if failure is None and not journal.unwritten:
        return ""
    lost = (
        f"; {journal.unwritten} record(s) could not be written"
        if journal.unwritten
        else "; everything was written once it worked again"
    )
    return (
        f"{failure or 'the journal could not be written'}{lost}. The limits of this run were"
        " kept from memory; new sessions are refused while the journal cannot record them"
    )


PAIN_QUESTION = "Pain now, 0-10 (Enter to skip)? "


def ask_pain(read: Callable[[], str] | None = None) -> int | None:
    """Ask for a pain rating on the terminal (stderr; ``read`` gives a line, by default from
    stdin): Enter (or end of input) skips; a bad answer is asked once more, then skipped.
    KeyboardInterrupt is the caller's."""
    from device.journal import PAIN_MAX, PAIN_MIN

    read = read or sys.stdin.readline
    for attempt in (1, 2):
        click.echo(PAIN_QUESTION, nl=False, err=True)
        line = read()
        if not line:  # end of input
            click.echo("", err=True)
            return None
        answer = line.strip()
        if not answer:
            return None
        try:
            return PAIN.convert(answer, None, None)
        except click.BadParameter as exc:
            then = "once more" if attempt == 1 else "skipped"
            click.echo(
                f"  {exc.message} ({PAIN_MIN}-{PAIN_MAX}, or Enter to skip; {then})", err=True
            )
    return None


def record_ratings(
    path: Path,
    summary: RunSummary,
    ratings: tuple[tuple[int | None, str, float], ...],
    say: Callable[[str], None],
) -> str:
    """Write the given ratings to the pain diary with the session's id and site; what to say
    if the journal refused them (empty: written, or nothing to write).

    A run that turned nothing on (refused, or no session at all) is not a session to rate:
    the rating before it is still a true diary entry, written at any time (no session id);
    the one after it is skipped, and ``say`` tells so in one line."""
    from device.journal import record_pain
    from protocols import TherapyctlError

    # The journal's own rule: nothing turned on is a refused request, not a session.
    refused = all(result.started_s is None for result in summary.sessions)
    for rating, moment, at in ratings:
        if rating is None:
            continue
        if refused and moment == "after":
            say(
                f"therapyctl: note: the pain rating after ({rating}) was not recorded: the"
                " session turned nothing on"
            )
            continue
        try:
            record_pain(
                path,
                rating,
                site=summary.site,
                session_id=None if refused else summary.session_id,
                moment="any" if refused else moment,
                at=at,
            )
        except TherapyctlError as exc:
            return f"the pain rating ({moment}) was not recorded: {exc}"
    return ""


async def _warn_heat(
    journal: JournalWriter,
    site: str | None,
    address: str,
    gives_heat: bool,
    say: Callable[[str], None],
) -> None:
    """Heat on a site in the acute phase of its episode: the guidance, said once per episode
    (the journal remembers it was said). A reminder only: nothing waits for it."""
    import asyncio

    from device.sessions import heat_warning, remembered_site

    if not gives_heat:
        return
    where = site if site is not None else await remembered_site(journal, address)
    words = await asyncio.to_thread(heat_warning, journal.path, where, gives_heat)
    if words:
        say(f"therapyctl: note: {words}")
