"""The controller side of therapyctl, by concern (each subpackage says what it may use):

- ``device.link``: reaching a device over Bluetooth LE (bleak; bumble as a backend);
- ``device.safety``: the limits and the pure safety supervisor;
- ``device.sessions``: running sessions and plans through the supervisor;
- ``device.journal``: the SQLite journal of every session;
- ``device.mqtt``: the MQTT bridge, Home Assistant discovery and remote control.

Import from those packages, not from their modules.
"""
