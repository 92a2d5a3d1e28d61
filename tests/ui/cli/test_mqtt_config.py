"""MQTT TLS files that cannot be used: one error line naming the file, exit 1, before any
device, journal or broker is touched, for ``run``, ``serve``, ``ui`` and ``monitor``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.mosquitto import make_tls_files
from tests.simserve import THERAPYCTL

BROKER = "127.0.0.1:1"  # nothing listens there; it must not matter


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


def therapyctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [THERAPYCTL, *args], check=False, capture_output=True, text=True, timeout=60
    )


def test_run_with_a_missing_ca_file_fails_before_touching_the_device(tmp_path: Path) -> None:
    """The example from the bug report: one line naming the file, exit 1, no device
    connection, no journal written."""
    db = tmp_path / "journal.db"
    result = therapyctl(
        "run",
        "--sim",
        "heat-pad",
        "--mode",
        "heat",
        "--minutes",
        "1",
        "--time-scale",
        "60",
        "--mqtt",
        f"mqtt://{BROKER}",
        "--mqtt-ca",
        "/nonexistent",
        "--db",
        str(db),
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [
        "therapyctl: error: cannot use the MQTT CA file '/nonexistent': No such file or directory"
    ]
    assert result.stdout == ""
    assert not db.exists()  # the journal was never opened: no session in it


@pytest.mark.parametrize(
    ("command", "option", "file", "reason"),
    [
        ("serve", "--mqtt-cert", "not-a-cert", "not a usable PEM certificate and key"),
        ("serve", "--mqtt-ca", "not-a-cert", "not a usable PEM certificate"),
        ("run", "--mqtt-key", "/nonexistent/client.key", "No such file or directory"),
        ("ui", "--mqtt-ca", "/nonexistent/ca.crt", "No such file or directory"),
        ("monitor", "--mqtt-ca", "not-a-cert", "not a usable PEM certificate"),
        ("monitor", "--mqtt-cert", "/nonexistent/client.crt", "No such file or directory"),
    ],
)
def test_a_bad_tls_file_is_one_error_line_naming_it(
    tmp_path: Path, tls_files: dict[str, Path], command: str, option: str, file: str, reason: str
) -> None:
    """A TLS file that does not exist or is not a certificate: exit 1 with one line that
    names the file and says why, for every command that takes --mqtt; nothing else runs."""
    if file == "not-a-cert":
        path = tmp_path / "not-a-cert.pem"
        path.write_text("hello, I am not a certificate\n")
        file = str(path)
    args = {
        "run": ["run", "--sim", "heat-pad", "--mode", "heat", "--minutes", "1"],
        "serve": ["serve", "--sim", "heat-pad"],
        "ui": ["ui", "--sim", "heat-pad"],
        "monitor": ["monitor"],
    }[command]
    if command != "monitor":
        args += ["--db", str(tmp_path / "journal.db")]
    if option == "--mqtt-key":  # a key is checked with its certificate
        args += ["--mqtt-cert", str(tls_files["client.crt"])]
    result = therapyctl(*args, "--mqtt", f"mqtts://{BROKER}", option, file)
    assert result.returncode == 1, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("therapyctl: error: cannot use the MQTT ")
    assert repr(file) in line and reason in line
    assert not (tmp_path / "journal.db").exists()


def test_tls_files_with_a_plain_mqtt_url_are_an_error(
    tmp_path: Path, tls_files: dict[str, Path]
) -> None:
    """Good TLS files with mqtt:// would be silently ignored (no TLS): said, exit 1."""
    result = therapyctl(
        "serve",
        "--sim",
        "heat-pad",
        "--db",
        str(tmp_path / "journal.db"),
        "--mqtt",
        f"mqtt://{BROKER}",
        "--mqtt-ca",
        str(tls_files["ca.crt"]),
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [
        "therapyctl: error: MQTT TLS files were given for a plain mqtt:// URL: use mqtts:// for TLS"
    ]


def test_good_tls_files_pass_the_check(tls_files: dict[str, Path]) -> None:
    """The check refuses nothing usable: a CA, a client certificate and its key."""
    from device.mqtt import MqttSettings

    settings = MqttSettings.from_url(
        f"mqtts://{BROKER}",
        node_id="n",
        ca_file=str(tls_files["ca.crt"]),
        cert_file=str(tls_files["client.crt"]),
        key_file=str(tls_files["client.key"]),
    )
    settings.check()
    assert settings.tls_context() is not None
