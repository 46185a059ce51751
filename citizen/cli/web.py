"""`citizen web`: the web page's address, a QR code of it and a one-time login code;
`citizen web passphrase`: let the household log in with a passphrase instead."""

from __future__ import annotations

import io
import time

import click

from citizen.cli.output import Out
from citizen.errors import DaemonNotRunningError


def register(cli: click.Group) -> None:
    @cli.group(invoke_without_command=True)
    @click.pass_context
    def web(ctx: click.Context) -> None:
        """Open the household's web page: its address, a QR code of it, a one-time login code."""
        if ctx.invoked_subcommand is not None:
            return
        out: Out = ctx.obj
        from citizen.web.auth import new_login_code
        from citizen.web.serve import read_page_urls

        urls = read_page_urls(out.data_dir)
        if not urls:
            raise DaemonNotRunningError(
                "The daemon does not serve the web page now.",
                "Start it with `citizen run`; check that web.enabled is true in config.toml.",
            )
        code, expires = new_login_code(out.data_dir)
        import segno

        buf = io.StringIO()
        segno.make(urls[0], error="m").terminal(out=buf, compact=True)
        until = time.strftime("%H:%M", time.localtime(expires))
        others = "".join(f"\n  or {u}" for u in urls[1:])
        out.emit(
            {"urls": urls, "code": code, "expires": expires},
            f"{buf.getvalue()}\nOpen {urls[0]}{others}\n\n"
            f"One-time login code (valid until {until}): {code}",
        )

    @web.command()
    @click.password_option(
        "--passphrase", prompt="New web page passphrase", help="At least 8 characters."
    )
    @click.pass_obj
    def passphrase(out: Out, passphrase: str) -> None:
        """Set a passphrase the household can log in to the web page with (instead of codes)."""
        from citizen.web.auth import set_passphrase

        set_passphrase(out.data_dir, passphrase)
        out.emit({"passphrase": True}, "The web page now also accepts this passphrase.")
