"""How every command prints: human text or one JSON document, errors to stderr."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import click

from citizen.errors import CitizenError


@dataclass(slots=True)
class Out:
    data_dir: Path
    as_json: bool

    def emit(self, data: object, human: str) -> None:
        """Print `data` as JSON with --json, else the human text."""
        if self.as_json:
            click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
        else:
            click.echo(human)

    def client(self) -> object:
        from citizen.api.client import LocalClient

        return LocalClient(self.data_dir)


def fail(exc: CitizenError, as_json: bool) -> NoReturn:
    if as_json:
        body = {"error": exc.code, "message": exc.message, "hint": exc.hint}
        click.echo(json.dumps(body), err=True)
    else:
        click.echo(f"Error: {exc.message}", err=True)
        if exc.hint:
            click.echo(exc.hint, err=True)
    sys.exit(1)
