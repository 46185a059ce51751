"""Identity commands: `init`, `id`, `key backup`."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

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


def _friends_for_sheet(out: Out) -> list[dict[str, object]]:
    """Friends' devices and addresses, from the running daemon (empty if none runs)."""
    from citizen.api.client import LocalClient
    from citizen.errors import DaemonNotRunningError

    try:
        data = LocalClient(out.data_dir, timeout=10).request("GET", "/v1/friends")
    except DaemonNotRunningError:
        return []
    assert isinstance(data, list)
    return [
        {
            "name": f["name"],
            "household": f["household"],
            "devices": [{"device": d["device"], "addrs": d["addrs"]} for d in f["devices"]],
        }
        for f in data
    ]


def _join(out: Out, code: str, device_name: str) -> None:
    """`init --join`: get a certificate from the household's key-holding device."""
    import trio
    from nacl.signing import SigningKey

    from citizen.config import CONFIG_NAME, DB_NAME, default_config_text
    from citizen.household.service import join_household
    from citizen.identity.certs import decode_certificate
    from citizen.identity.keystore import Keystore, write_private_file
    from citizen.store.db import open_connection
    from citizen.store.household import HouseholdDevice, add_devices_sync

    keystore = Keystore(out.data_dir)
    if keystore.exists():
        from citizen.errors import IdentityError

        raise IdentityError(f"{out.data_dir} already has an identity; nothing was changed.")
    device = SigningKey.generate()
    accept, _invite = trio.run(join_household, code, device, device_name)
    cert = decode_certificate(accept.cert)
    out.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    keystore.create_enrolled(device, cert)
    config_path = out.data_dir / CONFIG_NAME
    if not config_path.exists():
        write_private_file(
            config_path, default_config_text(accept.household_name, device_name).encode()
        )
    conn = open_connection(out.data_dir / DB_NAME)
    try:
        add_devices_sync(
            conn,
            [
                HouseholdDevice(d.device, d.name, d.cert, d.addrs, None, d.holds_key)  # type: ignore[arg-type]
                for d in accept.devices
            ],
        )
        if accept.state:
            from citizen.store.backup_state import decode_state
            from citizen.store.backups import restore_sync

            restore_sync(conn, decode_state(accept.state))
    finally:
        conn.close()
    out.emit(
        {
            "household": cert.household,
            "device": cert.device,
            "device_name": device_name,
            "data_dir": str(out.data_dir),
            "joined": True,
        },
        f"Joined household {cert.household} as {device_name}.\nNext: `citizen run`.",
    )


def _read_sheet(path: str) -> tuple[str, dict[str, list[str]]]:
    import json

    try:
        data = json.loads(Path(path).read_text("utf-8"))
        peers = {
            str(d["device"]): [str(a) for a in d["addrs"]]
            for f in data.get("friends", [])
            for d in f["devices"]
        }
        return str(data.get("phrase", "")), peers
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(
            f"{path} is not a recovery sheet.",
            "Use the file written by `citizen key backup --sheet FILE`.",
        ) from exc


def register(cli: click.Group) -> None:
    @cli.command()
    @click.option("--name", help="The household's display name, shown to friends.")
    @click.option("--device-name", default=None, help="This device's name (default: hostname).")
    @click.option("--passphrase", "ask_pass", is_flag=True, help="Seal the household key.")
    @click.option("--recover", is_flag=True, help="Rebuild the household key from its phrase.")
    @click.option(
        "--join", "join_code", default=None, help="Join a household with a `device add` code."
    )
    @click.option(
        "--sheet",
        type=click.Path(exists=True, dir_okay=False),
        help="With --recover: the recovery sheet from `citizen key backup --sheet` (phrase and"
        " the friends to ask for the household's backup).",
    )
    @click.pass_obj
    def init(
        out: Out,
        name: str | None,
        device_name: str | None,
        ask_pass: bool,
        recover: bool,
        sheet: str | None,
        join_code: str | None,
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
        if join_code:
            _join(out, join_code, device_name or socket.gethostname())
            return
        household: SigningKey | None = None
        peers: dict[str, list[str]] = {}
        if sheet and not recover:
            raise UsageError("--sheet goes with --recover.")
        if recover:
            phrase = ""
            if sheet:
                phrase, peers = _read_sheet(sheet)
            if not phrase:
                if sys.stdin.isatty():
                    click.echo("Type the 24-word recovery phrase, then Enter:", err=True)
                phrase = sys.stdin.readline()
            household = SigningKey(phrase_to_seed(phrase))
        if not name and not recover:
            raise UsageError(
                "Give the household a name with --name.", "Example: --name 'The Okafors'"
            )
        passphrase = _passphrase(ask_pass, confirm=True)
        device_name = device_name or socket.gethostname()
        out.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        cert = keystore.create(device_name, passphrase, household=household)
        if peers:
            from citizen.config import DB_NAME
            from citizen.store.backups import set_recovery_peers
            from citizen.store.db import open_connection

            conn = open_connection(out.data_dir / DB_NAME)
            try:
                set_recovery_peers(conn, peers)
            finally:
                conn.close()
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
                "recovery_peers": len(peers),
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
    @click.option(
        "--sheet",
        type=click.Path(dir_okay=False),
        help="Also write a recovery sheet: the phrase and your friends' devices and addresses.",
    )
    @click.pass_obj
    def backup(out: Out, sheet: str | None) -> None:
        """Print the household recovery phrase (24 words with a checksum)."""
        from citizen.identity.keystore import Keystore
        from citizen.identity.phrase import seed_to_phrase

        keystore = Keystore(out.data_dir)
        sealed = keystore.household_key_sealed()
        household = keystore.household_key(_passphrase(sealed, confirm=False))
        phrase = seed_to_phrase(bytes(household))
        cert = keystore.certificate()
        friends = _friends_for_sheet(out)
        if sheet:
            import json as _json

            from citizen.identity.keystore import write_private_file

            body = {"household": cert.household, "phrase": phrase, "friends": friends}
            write_private_file(Path(sheet), _json.dumps(body, indent=2).encode())
        out.emit(
            {"household": cert.household, "phrase": phrase, "friends": friends},
            "Recovery phrase for household "
            f"{cert.household}:\n\n  {phrase}\n\n"
            "Write it down and keep it offline. Anyone with it is your household.\n"
            "Recover with: citizen init --recover  (phrase on stdin)",
        )
