"""Identity commands: `init`, `id`, `key backup`."""

from __future__ import annotations

import os
import socket
import sys

import click

from citizen.cli.output import Out
from citizen.errors import UsageError


def _passphrase(ask: bool, *, confirm: bool) -> str | None:
    env = os.environ.get("CITIZEN_PASSPHRASE")
    if env is not None:
        return env
    if not ask:
        return None
    if not sys.stdin.isatty():
        raise UsageError(
            "A passphrase is needed but there is no terminal to ask on.",
            "Set CITIZEN_PASSPHRASE for non-interactive use.",
        )
    value: str = click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm)
    return value


def register(cli: click.Group) -> None:
    @cli.command()
    @click.option("--name", help="The household's display name, shown to friends.")
    @click.option("--device-name", default=None, help="This device's name (default: hostname).")
    @click.option("--passphrase", "ask_pass", is_flag=True, help="Seal the household key.")
    @click.option("--recover", is_flag=True, help="Rebuild the household key from its phrase.")
    @click.pass_obj
    def init(
        out: Out, name: str | None, device_name: str | None, ask_pass: bool, recover: bool
    ) -> None:
        """Create this household's identity (or recover it from its phrase)."""
        from nacl.signing import SigningKey

        from citizen.config import CONFIG_NAME, default_config_text
        from citizen.identity.keystore import Keystore, write_private_file
        from citizen.identity.phrase import phrase_to_seed

        keystore = Keystore(out.data_dir)
        if keystore.exists():
            from citizen.errors import IdentityError

            raise IdentityError(
                f"{out.data_dir} already has an identity; nothing was changed.",
                "Use another --data-dir. Delete a data dir only if you have its recovery phrase.",
            )
        household: SigningKey | None = None
        if recover:
            if sys.stdin.isatty():
                click.echo("Type the 24-word recovery phrase, then Enter:", err=True)
            household = SigningKey(phrase_to_seed(sys.stdin.readline()))
        if not name and not recover:
            raise UsageError(
                "Give the household a name with --name.", "Example: --name 'The Okafors'"
            )
        passphrase = _passphrase(ask_pass, confirm=True)
        device_name = device_name or socket.gethostname()
        out.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        cert = keystore.create(device_name, passphrase, household=household)
        config_path = out.data_dir / CONFIG_NAME
        if not config_path.exists():
            write_private_file(
                config_path, default_config_text(name or "my household", device_name).encode()
            )
        out.emit(
            {
                "household": cert.household,
                "device": cert.device,
                "device_name": device_name,
                "data_dir": str(out.data_dir),
                "sealed": passphrase is not None,
            },
            f"Household {cert.household}\nDevice    {cert.device} ({device_name})\n"
            f"Data dir  {out.data_dir}\n"
            "Next: `citizen key backup` and keep the phrase safe, then `citizen run`.",
        )

    @cli.command("id")
    @click.pass_obj
    def show_id(out: Out) -> None:
        """Print the household fingerprint, in groups with check characters."""
        from citizen.identity.keystore import Keystore

        cert = Keystore(out.data_dir).certificate()
        out.emit(
            {"household": cert.household, "device": cert.device},
            f"{cert.household}",
        )

    @cli.group()
    def key() -> None:
        """Household key commands."""

    @key.command()
    @click.pass_obj
    def backup(out: Out) -> None:
        """Print the household recovery phrase (24 words with a checksum)."""
        from citizen.identity.keystore import Keystore
        from citizen.identity.phrase import seed_to_phrase

        keystore = Keystore(out.data_dir)
        sealed = keystore.household_key_sealed()
        household = keystore.household_key(_passphrase(sealed, confirm=False))
        phrase = seed_to_phrase(bytes(household))
        cert = keystore.certificate()
        out.emit(
            {"household": cert.household, "phrase": phrase},
            "Recovery phrase for household "
            f"{cert.household}:\n\n  {phrase}\n\n"
            "Write it down and keep it offline. Anyone with it is your household.\n"
            "Recover with: citizen init --recover  (phrase on stdin)",
        )
