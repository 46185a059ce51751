"""Friend commands: `invite`, `accept`, `friends`, `friends offer`, `friends remove`."""

from __future__ import annotations

import re
import time

import click

from citizen.api.client import LocalClient, quote_path
from citizen.cli.output import Out
from citizen.errors import UsageError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

_SAS_HINT = (
    "If the other screen shows different words, someone else answered the invite:"
    " run `citizen friends remove NAME` and pair again with a new invite.\n"
    "Check that both screens show the same words:  "
)


def parse_duration(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text)
    if not match:
        raise UsageError(f"{text!r} is not a duration.", "Use e.g. 90s, 10m, 2h or 1d.")
    return int(match.group(1)) * _UNITS[match.group(2) or "s"]


def _ago(ts: object) -> str:
    if not isinstance(ts, int):
        return "never"
    seconds = int(time.time()) - ts
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def _show_invite(out: Out, qr: object, code: str, expires: int) -> None:
    import io

    buf = io.StringIO()
    qr.terminal(out=buf, compact=True)  # type: ignore[attr-defined]
    until = time.strftime("%H:%M", time.localtime(expires))
    click.echo(
        f"{buf.getvalue()}\nInvite code (valid until {until}, works once):\n\n{code}\n\n"
        "Your friend runs: citizen accept CODE"
    )


def _wait_for_friend(out: Out, invite_id: str, code: str, expires: int) -> None:
    client = LocalClient(out.data_dir)
    while time.time() < expires:
        status = client.request("GET", f"/v1/invites/{quote_path(invite_id)}")
        assert isinstance(status, dict)
        if status.get("used"):
            out.emit(
                status | {"code": code},
                f"Paired with {status['name']} ({status['household']}).\n{_SAS_HINT}"
                f"{' '.join(status['sas'])}",
            )
            return
        time.sleep(0.5)
    raise UsageError("The invite expired before anyone accepted it.", "Make a new one.")


def register(cli: click.Group) -> None:
    @cli.command()
    @click.option("--expires", default="10m", help="How long the invite is valid (e.g. 10m, 1h).")
    @click.option(
        "--qr",
        "qr_file",
        type=click.Path(dir_okay=False),
        help="Also write the QR code to FILE.svg or FILE.png.",
    )
    @click.option("--wait", is_flag=True, help="Wait until a friend accepts; print the words.")
    @click.pass_obj
    def invite(out: Out, expires: str, qr_file: str | None, wait: bool) -> None:
        """Make a one-time invite: a QR code and a text code for a friend to accept."""
        seconds = parse_duration(expires)
        data = LocalClient(out.data_dir).request("POST", "/v1/invites", {"expires_s": seconds})
        assert isinstance(data, dict)
        code = str(data["code"])
        import segno

        qr = segno.make(code, error="l")
        if qr_file:
            if not qr_file.lower().endswith((".svg", ".png")):
                raise UsageError("--qr must name a .svg or .png file.")
            qr.save(qr_file, scale=6)
        if out.as_json and not wait:
            out.emit({"code": code, "expires": data["expires"]}, "")
            return
        if not out.as_json:
            _show_invite(out, qr, code, int(data["expires"]))
        if wait:
            _wait_for_friend(out, str(data["invite_id"]), code, int(data["expires"]))

    @cli.command()
    @click.argument("code")
    @click.option("--name", "label", default=None, help="Your own label for this friend.")
    @click.pass_obj
    def accept(out: Out, code: str, label: str | None) -> None:
        """Pair with the household whose invite CODE you were given."""
        data = LocalClient(out.data_dir).request(
            "POST", "/v1/invites/accept", {"code": code, "name": label}
        )
        assert isinstance(data, dict)
        back = (
            f"{data['name']} knew this household and welcomed it back; the household's"
            " friends, docs and grants come back from its backup (see `citizen backup`).\n"
            if data.get("welcomed_back")
            else ""
        )
        out.emit(
            data,
            f"Paired with {data['name']} ({data['household']}).\n{back}{_SAS_HINT}"
            f"{' '.join(data['sas'])}",
        )

    @cli.group(invoke_without_command=True)
    @click.pass_context
    def friends(ctx: click.Context) -> None:
        """List friends (name, household ID, devices, online or last seen, addresses)."""
        if ctx.invoked_subcommand is not None:
            return
        out: Out = ctx.obj
        data = LocalClient(out.data_dir).request("GET", "/v1/friends")
        assert isinstance(data, list)
        lines: list[str] = []
        for f in data:
            state = "online" if f["online"] else f"last seen {_ago(f['last_seen'])}"
            lines.append(f"{f['name']}  {f['household']}  {state}")
            for d in f["devices"]:
                dstate = "online" if d["online"] else f"last seen {_ago(d['last_seen'])}"
                lines.append(f"    {d['name']}  {d['device']}  {dstate}  {' '.join(d['addrs'])}")
        out.emit(data, "\n".join(lines) or "No friends yet: `citizen invite` makes an invite.")

    @friends.command("offer")
    @click.argument("friend")
    @click.argument("mib")
    @click.pass_obj
    def offer(out: Out, friend: str, mib: str) -> None:
        """Offer FRIEND MIB MiB of storage for its shares (`default`: [storage] offer_mib)."""
        if mib == "default":
            amount: int | None = None
        elif mib.isdigit():
            amount = int(mib)
        else:
            raise click.BadParameter("give a whole number of MiB, or `default`", param_hint="MIB")
        data = LocalClient(out.data_dir).request(
            "PUT", f"/v1/friends/{quote_path(friend)}/offer", {"offer_mib": amount}
        )
        assert isinstance(data, dict)
        shown = "the default" if data["offer_bytes"] is None else f"{mib} MiB"
        out.emit(data, f"{data['name']} may now store {shown} of shares here.")

    @friends.command("remove")
    @click.argument("friend")
    @click.pass_obj
    def remove(out: Out, friend: str) -> None:
        """Remove a friend: close its connections and refuse them from now on."""
        data = LocalClient(out.data_dir).request("DELETE", f"/v1/friends/{quote_path(friend)}")
        assert isinstance(data, dict)
        out.emit(data, f"Removed {data['name']} ({data['household']}).")
