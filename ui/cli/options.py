"""The options ``run``, ``serve`` and ``ui`` share, declared once and handed to a command as
one :class:`SessionOptions`; the configuration file, ``--limits`` and the ``--mqtt*`` flags
resolved in one place."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ui.cli.common import DB_HELP, db_path, fail, positive

if TYPE_CHECKING:
    from device.mqtt import MqttSettings
    from device.safety import Limits
    from device.sessions import RegimenSettings

_F = TypeVar("_F", bound=Callable[..., Any])

LEVEL_HELP = (
    "The device's output level, 1..n: n is the number of levels the device reports (its"
    " Feature); a level it does not have is refused, naming its range."
)


class LevelType(click.ParamType):  # type: ignore[type-arg,unused-ignore]  # generic from click 8.3
    """A device level: a whole number from 1 (the device says how many it has)."""

    name = "level"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            level = int(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a whole number", param, ctx)
        if not 1 <= level <= 255:  # the wire's byte; the device's own range is checked later
            self.fail(
                f"levels run from 1 to the device's number of levels, got {level}", param, ctx
            )
        return level


LEVEL = LevelType()

PAIN_HELP = "Pain now, 0 (none) to 10 (the worst imaginable): recorded in the pain diary."


class PainType(click.ParamType):  # type: ignore[type-arg,unused-ignore]  # generic from click 8.3
    """A pain rating: a whole number 0-10 (checked as the diary checks it)."""

    name = "0-10"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        from device.journal import DiaryError, check_rating

        given = value if isinstance(value, int) and not isinstance(value, bool) else str(value)
        if isinstance(given, str) and len(given.strip()) > 12:  # not echoed back whole
            self.fail("a number that long is not a rating: give a whole number 0-10", param, ctx)
        try:
            return check_rating(given)
        except DiaryError as exc:
            self.fail(exc.reason, param, ctx)


PAIN = PainType()


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """What the shared options said, before any file is read."""

    time_scale: float
    attended_ack: str | None
    limits_file: str | None
    db: str | None
    mqtt_url: str | None
    mqtt_ca: str | None
    mqtt_cert: str | None
    mqtt_key: str | None
    mqtt_prefix: str
    mqtt_node: str | None
    remote_control: bool
    config_file: str | None

    @property
    def attended_auto(self) -> bool:
        return self.attended_ack == "auto"

    @property
    def db_path(self) -> Path:
        return db_path(self.db)

    def config(self) -> tuple[Limits | None, MqttSettings | None]:
        """(limits or None, MQTT settings or None): the configuration file, then the flags."""
        url, ca, cert, key = self.mqtt_url, self.mqtt_ca, self.mqtt_cert, self.mqtt_key
        prefix, node, remote = self.mqtt_prefix, self.mqtt_node, self.remote_control
        limits = None
        if self.config_file is not None:
            from protocols import TherapyctlError
            from ui.cli.config import load_config

            try:
                limits, mqtt = load_config(self.config_file)
            except TherapyctlError as exc:
                fail(exc)
            url = url or _str(mqtt.get("url"))
            ca = ca or _str(mqtt.get("ca_file"))
            cert = cert or _str(mqtt.get("cert_file"))
            key = key or _str(mqtt.get("key_file"))
            if prefix == "therapyctl" and "prefix" in mqtt:
                prefix = str(mqtt["prefix"])
            node = node or _str(mqtt.get("node_id"))
            remote = remote or bool(mqtt.get("remote_control", False))
        return limits, mqtt_settings(url, ca, cert, key, prefix, node, remote)

    def regimen(self) -> RegimenSettings:
        """The configuration file's ``[regimen]`` (the waking hours), else the defaults."""
        from protocols import TherapyctlError
        from ui.cli.config import load_regimen

        try:
            return load_regimen(self.config_file)
        except TherapyctlError as exc:
            fail(exc)

    def limits(self, config_limits: Limits | None) -> Limits:
        """The configuration file's limits (or the defaults), tightened by --limits FILE."""
        from device.safety import DEFAULT_LIMITS, load_limits
        from protocols import TherapyctlError

        base = config_limits or DEFAULT_LIMITS
        try:
            return load_limits(self.limits_file, base) if self.limits_file else base
        except TherapyctlError as exc:
            fail(exc)


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def mqtt_settings(
    url: str | None,
    ca: str | None,
    cert: str | None,
    key: str | None,
    prefix: str,
    node: str | None,
    remote: bool,
) -> MqttSettings | None:
    """The broker to report to (None: no --mqtt); a bad URL is a usage error on --mqtt (exit
    2); TLS files that cannot be used are an error (one line, exit 1), found here, before any
    device or broker is touched."""
    if url is None:
        if any((ca, cert, key, node, remote)):
            raise click.UsageError("the --mqtt-* options and --remote-control need --mqtt URL")
        return None
    from device.mqtt import MqttConfigError, MqttSettings

    try:
        settings = MqttSettings.from_url(
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
    try:
        settings.check()
    except MqttConfigError as exc:
        fail(exc)
    return settings


_SESSION_OPTIONS = [
    click.option(
        "--time-scale",
        type=float,
        default=1.0,
        show_default=True,
        callback=positive,
        metavar="X",
        help="With --sim: simulated time runs X times faster than wall time"
        " (a device reports its own time base).",
    ),
    click.option(
        "--attended-ack",
        is_flag=False,  # a flag; `--attended-ack auto`, its old spelling, still works
        flag_value="auto",
        type=click.Choice(["auto"]),
        metavar="",
        help="Answer heat's attended-use checks automatically (headless use).",
    ),
    click.option(
        "--limits",
        "limits_file",
        type=click.Path(dir_okay=False),
        metavar="FILE",
        help="A TOML file tightening the safety limits.",
    ),
    click.option("--db", "db", metavar="PATH", help=DB_HELP),
]
_MQTT_OPTIONS = [
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
_FIELDS = tuple(f.name for f in fields(SessionOptions))


# `--config FILE` where only its [regimen] table is read (`next`, `report`).
REGIMEN_CONFIG = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help='A TOML configuration file: [regimen] awake = "07:00-22:00" (the waking hours).',
)


def session_options(command: _F) -> _F:
    """--time-scale, --attended-ack, --limits, --db and the MQTT and --config options, given
    to the command as one ``options: SessionOptions`` argument."""

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        options = SessionOptions(**{name: kwargs.pop(name) for name in _FIELDS})
        return command(options=options, **kwargs)

    decorated: Any = wrapper
    for option in reversed(_SESSION_OPTIONS + _MQTT_OPTIONS):
        decorated = option(decorated)
    return decorated  # type: ignore[no-any-return]
