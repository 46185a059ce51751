from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from citizen.errors import (
    HouseholdKeyMissingError,
    IdentityError,
    KeystoreError,
    PassphraseError,
)
from citizen.identity.keystore import (
    Keystore,
    decode_key_file,
    encode_key_file,
)


def test_plain_identity_round_trip(tmp_path: Path) -> None:
    ks = Keystore(tmp_path)
    cert = ks.create("pi", None)
    assert ks.certificate() == cert
    assert bytes(ks.household_key(None).verify_key) == cert.household_key
    assert bytes(ks.device_key().verify_key) == cert.device_key
    with pytest.raises(IdentityError, match="already has an identity"):
        ks.create("pi", None)


def test_sealed_household_key(tmp_path: Path) -> None:
    ks = Keystore(tmp_path)
    cert = ks.create("pi", "s3cret")
    assert ks.household_key_sealed()
    assert b"s3cret" not in ks.household_path.read_bytes()
    with pytest.raises(PassphraseError, match="sealed"):
        ks.household_key(None)
    with pytest.raises(PassphraseError, match="Wrong passphrase"):
        ks.household_key("S3cret")
    assert bytes(ks.household_key("s3cret").verify_key) == cert.household_key


def test_device_without_household_key(tmp_path: Path) -> None:
    household = SigningKey.generate()
    ks = Keystore(tmp_path)
    ks.create("laptop", None, household=household, store_household_key=False)
    with pytest.raises(HouseholdKeyMissingError, match="does not hold the household key"):
        ks.household_key(None)


def test_swapped_and_truncated_files_are_named(tmp_path: Path) -> None:
    ks = Keystore(tmp_path)
    ks.create("pi", None)
    household = ks.household_path.read_bytes()
    device = ks.device_path.read_bytes()
    ks.device_path.write_bytes(household)
    with pytest.raises(KeystoreError, match="holds a household key"):
        ks.device_key()
    ks.device_path.write_bytes(device[:-3])
    with pytest.raises(KeystoreError, match="damaged"):
        ks.device_key()
    ks.device_path.write_bytes(device)
    # a cert from another data dir is refused against this device key
    other = Keystore(tmp_path / "other")
    other.create("x", None)
    ks.cert_path.write_bytes(other.cert_path.read_bytes())
    with pytest.raises(KeystoreError, match="another device"):
        ks.certificate()


def test_tampered_seed_is_detected(tmp_path: Path) -> None:
    data = bytearray(encode_key_file("device", SigningKey.generate(), None))
    data[-1] ^= 1  # last byte of the seed
    with pytest.raises(KeystoreError, match="tampered"):
        decode_key_file(bytes(data), "device", tmp_path / "device.key")


@settings(max_examples=200)
@given(st.binary(max_size=512))
def test_arbitrary_key_file_bytes_raise_keystore_error(data: bytes) -> None:
    try:
        decode_key_file(data, "device", Path("device.key"))
    except KeystoreError:
        pass
