from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nacl.signing import SigningKey

from citizen import cbor
from citizen.errors import CertificateError, CitizenError
from citizen.identity.certs import decode_certificate, issue_certificate, verify_certificate_for


def _pair() -> tuple[SigningKey, SigningKey]:
    return SigningKey.generate(), SigningKey.generate()


def test_round_trip_and_ids() -> None:
    household, device = _pair()
    cert = issue_certificate(household, bytes(device.verify_key), "kitchen-pi", issued=100)
    again = decode_certificate(cert.raw)
    assert again == cert
    assert again.name == "kitchen-pi" and again.issued == 100
    assert again.household_key == bytes(household.verify_key)


def test_bad_signature_is_refused() -> None:
    household, device = _pair()
    cert = issue_certificate(household, bytes(device.verify_key), "pi")
    payload, sig = cbor.loads(cert.raw)  # type: ignore[misc]
    forged = cbor.dumps([payload, bytes(64)])
    with pytest.raises(CertificateError, match="signature"):
        decode_certificate(forged)
    # a payload re-signed by another household's key no longer matches its household field
    other = SigningKey.generate()
    with pytest.raises(CertificateError, match="signature"):
        decode_certificate(cbor.dumps([payload, other.sign(payload).signature]))
    assert sig != bytes(64)


def test_expired_and_foreign() -> None:
    household, device = _pair()
    cert = issue_certificate(household, bytes(device.verify_key), "pi", issued=1, expires=10)
    with pytest.raises(CertificateError, match="expired"):
        decode_certificate(cert.raw, now=11)
    assert decode_certificate(cert.raw, now=9).expires == 10
    valid = issue_certificate(household, bytes(device.verify_key), "pi")
    with pytest.raises(CertificateError, match="another household"):
        verify_certificate_for(
            valid.raw, household_key=bytes(SigningKey.generate().verify_key), device=None
        )
    with pytest.raises(CertificateError, match="another device"):
        verify_certificate_for(valid.raw, household_key=None, device=valid.device + "x")  # type: ignore[arg-type]


@given(st.binary(max_size=2048))
def test_arbitrary_bytes_raise_only_certificate_error(data: bytes) -> None:
    try:
        decode_certificate(data)
    except CertificateError:
        pass


@given(st.binary(min_size=1, max_size=64), st.integers(min_value=0, max_value=400))
def test_mutated_certificate_never_decodes_to_something_else(patch: bytes, at: int) -> None:
    household, device = _pair()
    cert = issue_certificate(household, bytes(device.verify_key), "pi", issued=5)
    raw = bytearray(cert.raw)
    at = at % len(raw)
    mutated = bytes(raw[:at] + patch + raw[at + len(patch) :])
    try:
        got = decode_certificate(mutated)
    except CitizenError:
        return
    # whatever still decodes carries the signed payload unchanged
    assert (got.household_key, got.device_key, got.name, got.issued, got.expires) == (
        cert.household_key,
        cert.device_key,
        cert.name,
        cert.issued,
        cert.expires,
    )
