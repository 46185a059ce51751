"""`citizen …`: the command line. Thin: daemon commands go through the local API.

Global options come before the command: ``citizen [--data-dir DIR] [--json]
COMMAND``. Output is human text, or one JSON document on stdout with
``--json``; errors go to stderr with exit code 1 (2 for usage errors) in
both modes. Heavy modules (libp2p, automerge, nacl) are imported inside the
commands that need them, so that `citizen status` starts fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from citizen.cli.output import Out, fail
from citizen.errors import CitizenError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="citizen-cloud", prog_name="citizen")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data directory (default: $CITIZEN_HOME, else the platform's user data dir).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, as_json: bool) -> None:
    """Citizen Cloud: your household's cloud, at home, with your friends."""
    from citizen.config import default_data_dir

    ctx.obj = Out(data_dir=(data_dir or default_data_dir()).absolute(), as_json=as_json)


def _register() -> None:
    from citizen.cli import daemon, identity

    identity.register(cli)
    daemon.register(cli)
    for name in (
        "friends",
        "docs",
        "objects",
        "folders",
        "backup",
        "devices",
        "doctor",
        "service",
        "web",
    ):
        try:
            module = __import__(f"citizen.cli.{name}", fromlist=["register"])
        except ModuleNotFoundError:
            continue
        module.register(cli)


_register()


def main() -> None:
    as_json = "--json" in sys.argv[1 : sys.argv.index("--") if "--" in sys.argv else None]
    try:
        cli.main(standalone_mode=False)
    except CitizenError as exc:
        fail(exc, as_json)
    except BaseExceptionGroup as group:  # `run`: a service's error, from the daemon's nurseries
        from citizen.errors import only_citizen_error

        ours = only_citizen_error(group)
        if ours is None:
            raise
        fail(ours, as_json)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        if as_json:
            click.echo(json.dumps({"error": "usage", "message": exc.format_message()}), err=True)
        else:
            exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
