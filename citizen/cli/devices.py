"""Household device commands: `citizen device add|list|remove`."""

from __future__ import annotations

import click

from citizen.api.client import LocalClient, quote_path
from citizen.cli.friends import parse_duration
from citizen.cli.output import Out


def register(cli: click.Group) -> None:
    @cli.group()
    def device() -> None:
        """This household's devices (Pis, laptops, phones)."""

    @device.command("add")
    @click.option("--expires", default="10m", help="How long the code is valid (e.g. 10m).")
    @click.pass_obj
    def add(out: Out, expires: str) -> None:
        """Make a one-time code that lets a new device join this household."""
        data = LocalClient(out.data_dir).request(
            "POST", "/v1/devices/enroll", {"expires_s": parse_duration(expires)}
        )
        assert isinstance(data, dict)
        if out.as_json:
            out.emit(data, "")
            return
        import io

        import segno

        buf = io.StringIO()
        segno.make(str(data["code"]), error="l").terminal(out=buf, compact=True)
        out.emit(
            data,
            f"{buf.getvalue()}\n{data['code']}\n\nOn the new device run: citizen init --join CODE",
        )

    @device.command("list")
    @click.pass_obj
    def list_(out: Out) -> None:
        """List the household's devices and which one holds the household key."""
        data = LocalClient(out.data_dir).request("GET", "/v1/devices")
        assert isinstance(data, list)
        lines = []
        for d in data:
            flags = []
            if d["this_device"]:
                flags.append("this device")
            if d["holds_household_key"]:
                flags.append("holds the household key")
            flags.append("online" if d["online"] else "offline")
            lines.append(f"{d['name']}  {d['device']}  ({', '.join(flags)})")
        out.emit(data, "\n".join(lines))

    @device.command("remove")
    @click.argument("device")
    @click.pass_obj
    def remove(out: Out, device: str) -> None:
        """Revoke DEVICE (name or ID): friends and your devices refuse it from now on."""
        data = LocalClient(out.data_dir).request("DELETE", f"/v1/devices/{quote_path(device)}")
        assert isinstance(data, dict)
        out.emit(data, f"Revoked {data['name']} ({data['device']}).")
