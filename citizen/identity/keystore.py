"""Key files under the data dir: the household key, this device's key and certificate.

Layout (``DATA_DIR/keys``, directory 0700, files 0600):

- ``household.key``: the household Ed25519 seed, plain or sealed with a
  passphrase (argon2id + XSalsa20-Poly1305 secretbox). Absent on a device
  that was enrolled without the household key.
- ``device.key``: this device's Ed25519 seed (also the libp2p host key).
- ``device.cert``: this device's certificate, signed by the household key.

Every file is canonical CBOR carrying its kind and public key, so a
truncated, swapped or tampered file is detected and named, never half-read.
A new identity is written into a temporary directory and renamed into place,
so a crash during `init` leaves either no identity or a whole one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nacl.pwhash
import nacl.secret
import nacl.utils
from nacl.exceptions import CryptoError
from nacl.signing import SigningKey

from citizen import cbor
from citizen.errors import (
    HouseholdKeyMissingError,
    IdentityError,
    KeystoreError,
    PassphraseError,
    RemoteProtocolError,
)
from citizen.identity.certs import DeviceCertificate, decode_certificate, issue_certificate

KEY_FILE_VERSION = 1
# argon2id cost: 64 MiB and 3 passes keeps unsealing under a second on a Pi 4.
ARGON_OPS = 3
ARGON_MEM = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class KeyFile:
    kind: str
    public: bytes
    sealed: bool
    seed: bytes | None  # None when sealed
    salt: bytes | None
    ops: int
    mem: int
    box: bytes | None


def write_private_file(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically with mode 0600 (temp file, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def encode_key_file(
    kind: str,
    key: SigningKey,
    passphrase: str | None,
    *,
    ops: int = ARGON_OPS,
    mem: int = ARGON_MEM,
) -> bytes:
    public = bytes(key.verify_key)
    seed = bytes(key)
    if passphrase is None:
        return cbor.dumps(
            {"v": KEY_FILE_VERSION, "kind": kind, "public": public, "sealed": False, "seed": seed}
        )
    salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
    box_key = nacl.pwhash.argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE, passphrase.encode(), salt, opslimit=ops, memlimit=mem
    )
    box = nacl.secret.SecretBox(box_key).encrypt(seed)
    return cbor.dumps(
        {
            "v": KEY_FILE_VERSION,
            "kind": kind,
            "public": public,
            "sealed": True,
            "salt": salt,
            "ops": ops,
            "mem": mem,
            "box": bytes(box),
        }
    )


def decode_key_file(data: bytes, expected_kind: str, path: Path) -> KeyFile:
    """Parse a key file; raises KeystoreError naming the file on any damage."""
    what = f"key file {path}"
    try:
        m = cbor.as_map(cbor.loads(data, max_size=4096, what=what), what)
        if cbor.field_int(m, "v", what) != KEY_FILE_VERSION:
            raise RemoteProtocolError(f"{what} has an unknown version.")
        kind = cbor.field_str(m, "kind", what)
        public = cbor.field_bytes(m, "public", what, size=32)
        sealed = m.get("sealed")
        if not isinstance(sealed, bool):
            raise RemoteProtocolError(f"{what}: field 'sealed' must be a boolean.")
        if sealed:
            salt = cbor.field_bytes(m, "salt", what, size=nacl.pwhash.argon2id.SALTBYTES)
            ops = cbor.field_int(m, "ops", what)
            mem = cbor.field_int(m, "mem", what)
            box = cbor.field_bytes(m, "box", what)
            parsed = KeyFile(kind, public, True, None, salt, ops, mem, box)
        else:
            seed = cbor.field_bytes(m, "seed", what, size=32)
            parsed = KeyFile(kind, public, False, seed, None, 0, 0, None)
    except RemoteProtocolError as exc:
        raise KeystoreError(
            f"The key file {path} is damaged ({exc.message}).",
            "Restore it from a backup, or rebuild the household key with "
            "`citizen init --recover` on a fresh data dir.",
        ) from exc
    if parsed.kind != expected_kind:
        raise KeystoreError(
            f"The key file {path} holds a {parsed.kind} key, not a {expected_kind} key.",
            "Files in the keys directory were swapped; put them back.",
        )
    if parsed.seed is not None and bytes(SigningKey(parsed.seed).verify_key) != parsed.public:
        raise KeystoreError(
            f"The key file {path} was tampered with (its key does not match its public key).",
            "Restore it from a backup or recover the household from its recovery phrase.",
        )
    return parsed


def open_key_file(parsed: KeyFile, passphrase: str | None, path: Path) -> SigningKey:
    if not parsed.sealed:
        assert parsed.seed is not None
        return SigningKey(parsed.seed)
    if passphrase is None:
        raise PassphraseError(
            f"The household key in {path} is sealed with a passphrase.",
            "Give it with --passphrase or the CITIZEN_PASSPHRASE environment variable.",
        )
    assert parsed.salt is not None and parsed.box is not None
    if not (1 <= parsed.ops <= 64 and 8192 <= parsed.mem <= 2**31):
        raise KeystoreError(f"The key file {path} has implausible argon2id costs.")
    box_key = nacl.pwhash.argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE,
        passphrase.encode(),
        parsed.salt,
        opslimit=parsed.ops,
        memlimit=parsed.mem,
    )
    try:
        seed = nacl.secret.SecretBox(box_key).decrypt(parsed.box)
    except CryptoError as exc:
        raise PassphraseError(
            "Wrong passphrase for the household key.", "Try again; mind the keyboard layout."
        ) from exc
    key = SigningKey(seed)
    if bytes(key.verify_key) != parsed.public:
        raise KeystoreError(f"The key file {path} was tampered with.")
    return key


class Keystore:
    """The identity files of one data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / "keys"

    @property
    def household_path(self) -> Path:
        return self.dir / "household.key"

    @property
    def device_path(self) -> Path:
        return self.dir / "device.key"

    @property
    def cert_path(self) -> Path:
        return self.dir / "device.cert"

    def exists(self) -> bool:
        return self.dir.exists()

    def create(
        self,
        device_name: str,
        passphrase: str | None,
        *,
        household: SigningKey | None = None,
        store_household_key: bool = True,
    ) -> DeviceCertificate:
        """Create a new identity (or, with `household`, a new device of that household).

        Raises:
            IdentityError: an identity already exists in this data dir.
        """
        if self.exists():
            raise IdentityError(
                f"This data dir already has an identity ({self.dir}).",
                "Nothing was changed. Use another --data-dir, or delete the data dir "
                "only if you have the recovery phrase.",
            )
        household = household or SigningKey.generate()
        device = SigningKey.generate()
        cert = issue_certificate(household, bytes(device.verify_key), device_name)
        self.dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".keys-", dir=self.dir.parent))
        try:
            os.chmod(tmp, 0o700)
            if store_household_key:
                write_private_file(
                    tmp / "household.key", encode_key_file("household", household, passphrase)
                )
            write_private_file(tmp / "device.key", encode_key_file("device", device, None))
            write_private_file(tmp / "device.cert", cert.raw)
            os.rename(tmp, self.dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return cert

    def create_enrolled(self, device: SigningKey, cert: DeviceCertificate) -> None:
        """Write a device enrolled by its household: device key and certificate, no household key.

        Raises:
            IdentityError: an identity already exists in this data dir.
        """
        if self.exists():
            raise IdentityError(f"This data dir already has an identity ({self.dir}).")
        self.dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".keys-", dir=self.dir.parent))
        try:
            os.chmod(tmp, 0o700)
            write_private_file(tmp / "device.key", encode_key_file("device", device, None))
            write_private_file(tmp / "device.cert", cert.raw)
            os.rename(tmp, self.dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _read(self, path: Path) -> bytes:
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise KeystoreError(
                f"The key file {path} is missing.",
                "Run `citizen init` first, or restore the data dir from a backup.",
            ) from exc

    def has_household_key(self) -> bool:
        return self.household_path.exists()

    def household_key(self, passphrase: str | None) -> SigningKey:
        """Open the household key (asks for the passphrase if sealed).

        Raises:
            HouseholdKeyMissingError: this device was enrolled without it.
            PassphraseError, KeystoreError.
        """
        if not self.household_path.exists():
            raise HouseholdKeyMissingError(
                "This device does not hold the household key.",
                "Do this on the device that holds it (see `citizen device list`).",
            )
        parsed = decode_key_file(self._read(self.household_path), "household", self.household_path)
        key = open_key_file(parsed, passphrase, self.household_path)
        if bytes(key.verify_key) != self.certificate().household_key:
            raise KeystoreError(
                f"The household key in {self.household_path} is not this device's household.",
                "Files from two data dirs were mixed; restore the right household.key.",
            )
        return key

    def household_key_sealed(self) -> bool:
        if not self.household_path.exists():
            return False
        return decode_key_file(
            self._read(self.household_path), "household", self.household_path
        ).sealed

    def device_key(self) -> SigningKey:
        parsed = decode_key_file(self._read(self.device_path), "device", self.device_path)
        return open_key_file(parsed, None, self.device_path)

    def certificate(self) -> DeviceCertificate:
        """This device's certificate, checked against the device key.

        Raises:
            KeystoreError: missing, damaged, or for another device.
        """
        try:
            cert = decode_certificate(self._read(self.cert_path))
        except IdentityError as exc:
            if isinstance(exc, KeystoreError):
                raise
            raise KeystoreError(
                f"The device certificate {self.cert_path} is not valid: {exc.message}",
                "Re-enroll this device from a device holding the household key.",
            ) from exc
        device_public = decode_key_file(
            self._read(self.device_path), "device", self.device_path
        ).public
        if cert.device_key != device_public:
            raise KeystoreError(
                f"The device certificate {self.cert_path} is for another device.",
                "Files from two data dirs were mixed; restore this device's certificate.",
            )
        return cert
