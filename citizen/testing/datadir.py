"""Data dirs the way the CLI makes them: `init`, `init --join`, `init --recover`, config edits.

The grid and the process-level tests share these, so a test's data dir is
what a user's would be: the keystore makes the identity, `config.toml` starts
from the documented defaults, and mDNS and port mapping are off, so a test
never multicasts on, nor asks the router of, the machine's real network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from citizen.config import CONFIG_NAME, DB_NAME, default_config_text
from citizen.identity.certs import DeviceCertificate
from citizen.identity.keystore import Keystore, write_private_file

if TYPE_CHECKING:
    from nacl.signing import SigningKey


def init_data_dir(
    data_dir: Path,
    name: str,
    *,
    device_name: str | None = None,
    passphrase: str | None = None,
    household: SigningKey | None = None,
) -> DeviceCertificate:
    """Create an identity and `config.toml` in `data_dir`, as `citizen init --name NAME` does.

    With `household`, the new device belongs to that household (`init --recover`).

    Raises:
        IdentityError: `data_dir` already has an identity.
    """
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    device_name = device_name or f"{name}-pi"
    cert = Keystore(data_dir).create(device_name, passphrase, household=household)
    _write_config(data_dir, name, device_name)
    return cert


async def join_data_dir(data_dir: Path, code: str, device_name: str) -> DeviceCertificate:
    """Enroll a new device of a household with a `device add` code, as `citizen init --join`.

    Raises:
        IdentityError: `data_dir` already has an identity.
        InviteError: the code is garbled, expired, used or refused.
        UnreachableError: the household's device could not be reached.
    """
    from nacl.signing import SigningKey

    from citizen.errors import IdentityError
    from citizen.household.service import join_household
    from citizen.identity.certs import decode_certificate
    from citizen.store.backup_state import decode_state
    from citizen.store.backups import restore_sync
    from citizen.store.db import open_connection
    from citizen.store.household import HouseholdDevice, add_devices_sync

    keystore = Keystore(data_dir)
    if keystore.exists():
        raise IdentityError(f"{data_dir} already has an identity; nothing was changed.")
    device = SigningKey.generate()
    accept, _invite = await join_household(code, device, device_name)
    cert = decode_certificate(accept.cert)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    keystore.create_enrolled(device, cert)
    _write_config(data_dir, accept.household_name, device_name)
    devices = [
        HouseholdDevice(d.device, d.name, d.cert, d.addrs, None, d.holds_key)  # type: ignore[arg-type]
        for d in accept.devices
    ]

    def store() -> None:
        conn = open_connection(data_dir / DB_NAME)
        try:
            add_devices_sync(conn, devices)
            if accept.state:
                restore_sync(conn, decode_state(accept.state))
        finally:
            conn.close()

    await trio.to_thread.run_sync(store)
    return cert


@dataclass(frozen=True, slots=True)
class RecoverySheet:
    """What `citizen key backup --sheet` writes: the phrase and whom to ask for the backup."""

    household: str
    phrase: str
    #: device ID -> its addresses, for every device of every friend
    peers: dict[str, list[str]]


def recover_data_dir(
    data_dir: Path, sheet: RecoverySheet, *, device_name: str = "new-pi"
) -> DeviceCertificate:
    """A new device from the household's recovery sheet, as `citizen init --recover --sheet`.

    Raises:
        IdentityError: `data_dir` already has an identity.
        PhraseError: the phrase is not a valid recovery phrase.
    """
    from nacl.signing import SigningKey

    from citizen.identity.phrase import phrase_to_seed
    from citizen.store.backups import set_recovery_peers
    from citizen.store.db import open_connection

    household = SigningKey(phrase_to_seed(sheet.phrase))
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert = Keystore(data_dir).create(device_name, None, household=household)
    if sheet.peers:
        conn = open_connection(data_dir / DB_NAME)
        try:
            set_recovery_peers(conn, sheet.peers)
        finally:
            conn.close()
    _write_config(data_dir, "my household", device_name)
    return cert


def _write_config(data_dir: Path, household_name: str, device_name: str) -> None:
    path = data_dir / CONFIG_NAME
    if not path.exists():
        write_private_file(path, default_config_text(household_name, device_name).encode())
    keep_off_real_network(data_dir)


def keep_off_real_network(data_dir: Path, *, port_mapping: bool = False) -> None:
    """mDNS off, port mapping (UPnP/NAT-PMP) off unless asked for, web page on 127.0.0.1:0.

    A test never multicasts on, nor asks the router of, the machine's real network.
    The `port_mapping` key is added if the file lacks it, since it defaults to on.
    """
    path = data_dir / CONFIG_NAME
    if not path.exists():
        return
    text = path.read_text().replace("mdns = true", "mdns = false")
    # the web page on loopback, on a free port: daemons of one test never share 8385
    text = text.replace('listen = "0.0.0.0:8385"', 'listen = "127.0.0.1:0"')
    line = f"port_mapping = {'true' if port_mapping else 'false'}"
    text, found = re.subn(r"(?m)^port_mapping[ \t]*=.*$", line, text)
    if not found:
        text, found = re.subn(r"(?m)^\[network\][ \t]*$", f"[network]\n{line}", text, count=1)
    if not found:
        text += f"\n[network]\n{line}\n"
    path.write_text(text)


def configure(data_dir: Path, **values: object) -> None:
    """Set keys that appear once in `config.toml` (`k=1`, `offer_mib=10`, `keepalive_s=2`).

    Raises:
        ValueError: the file has no single `key = ...` line for a key.
    """
    path = data_dir / CONFIG_NAME
    text = path.read_text()
    for key, value in values.items():
        shown = str(value).lower() if isinstance(value, bool) else str(value)
        text, count = re.subn(rf"(?m)^{key} = .*$", f"{key} = {shown}", text)
        if count != 1:
            raise ValueError(f"config.toml has no single `{key} = ...` line")
    path.write_text(text)


def share_files(data_dir: Path) -> list[Path]:
    """The share files a device holds for friends (none before its first share)."""
    root = data_dir / "shares"
    if not root.exists():
        return []
    return [
        f
        for sub in root.iterdir()
        if sub.is_dir() and sub.name not in ("tmp", "corrupt")
        for f in sub.iterdir()
    ]
