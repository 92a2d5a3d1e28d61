"""Devices nearby: ``therapyctl scan``."""

from __future__ import annotations

import json

import click

from ui.cli.common import positive, run_async


@click.command("scan")
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
    callback=positive,
    metavar="S",
    help="Seconds to scan.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def scan_command(radio: str | None, timeout_s: float, as_json: bool) -> None:
    """List supported devices nearby: name, address, kind, signal."""
    from device.link import Radio, scan

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

    run_async(main)
