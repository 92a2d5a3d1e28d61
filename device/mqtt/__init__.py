"""MQTT: sessions on a broker, Home Assistant discovery, remote commands, a broker monitor.

The topic schema, the broker settings, command validation, the bridge (aiomqtt, never
blocking a session), the session listener that reports through it, the monitor's model, the
remotely controlled device of ``serve``, and therapy over days (each body site's dose, the
next session due, the last pain rating, read from the journal). It uses the sessions'
public API only (``device.sessions``), the journal's and safety's public API, ``device.link``
for the driver it is handed, and aiomqtt.
"""

from device.mqtt.bridge import MqttBridge
from device.mqtt.commands import (
    CommandHandler,
    CommandRejected,
    CommandResult,
    RemoteCommand,
    parse_command,
)
from device.mqtt.days import DaysReporter, DaysSnapshot, read_days
from device.mqtt.monitor import MonitoredDevice, MonitorModel, watch_broker
from device.mqtt.remote import RemoteController
from device.mqtt.reporter import MqttReporter
from device.mqtt.settings import (
    MqttAuthError,
    MqttConfigError,
    MqttNodeTakenError,
    MqttSettings,
    MqttTlsError,
)
from device.mqtt.topics import DEFAULT_PREFIX, DISCOVERY_PREFIX, device_slug, site_slug

__all__ = [
    "DEFAULT_PREFIX",
    "DISCOVERY_PREFIX",
    "CommandHandler",
    "CommandRejected",
    "CommandResult",
    "DaysReporter",
    "DaysSnapshot",
    "MonitorModel",
    "MonitoredDevice",
    "MqttAuthError",
    "MqttBridge",
    "MqttConfigError",
    "MqttNodeTakenError",
    "MqttReporter",
    "MqttSettings",
    "MqttTlsError",
    "RemoteCommand",
    "RemoteController",
    "device_slug",
    "parse_command",
    "read_days",
    "site_slug",
    "watch_broker",
]
