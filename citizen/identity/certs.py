"""Device certificates: a household key vouches for a device key.

Wire form: canonical CBOR ``[payload, signature]`` where payload is the
canonical CBOR map {v, household, device, name, issued, expires} and the
signature is Ed25519 by the household key over the payload bytes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from citizen import cbor
from citizen.errors import CertificateError, RemoteProtocolError
from citizen.identity.fingerprints import device_id, household_id
from citizen.ids import DeviceId, HouseholdId

CERT_VERSION = 1
MAX_CERT_SIZE = 1024
_WHAT = "device certificate"


@dataclass(frozen=True, slots=True)
class DeviceCertificate:
    household_key: bytes
    device_key: bytes
    name: str
    issued: int
    expires: int | None
    raw: bytes  # the exact signed bytes, to pass on unchanged

    @property
    def household(self) -> HouseholdId:
        return household_id(self.household_key)

    @property
    def device(self) -> DeviceId:
        return device_id(self.device_key)


def issue_certificate(
    household: SigningKey,
    device_key: bytes,
    name: str,
    *,
    issued: int | None = None,
    expires: int | None = None,
) -> DeviceCertificate:
    """Sign a certificate for `device_key` with the household key."""
    issued = int(time.time()) if issued is None else issued
    payload = cbor.dumps(
        {
            "v": CERT_VERSION,
            "household": bytes(household.verify_key),
            "device": device_key,
            "name": name,
            "issued": issued,
            "expires": expires,
        }
    )
    sig = household.sign(payload).signature
    return decode_certificate(cbor.dumps([payload, sig]), now=issued)


def decode_certificate(data: bytes, *, now: float | None = None) -> DeviceCertificate:
    """Decode and verify a certificate's signature and validity period.

    Raises:
        CertificateError: malformed, badly signed, or expired.
    """
    try:
        outer = cbor.loads(data, max_size=MAX_CERT_SIZE, what=_WHAT)
        if not isinstance(outer, list) or len(outer) != 2:
            raise RemoteProtocolError(f"{_WHAT} must be [payload, signature].")
        payload, sig = outer
        if not isinstance(payload, bytes) or not isinstance(sig, bytes) or len(sig) != 64:
            raise RemoteProtocolError(f"{_WHAT} must hold a payload and a 64-byte signature.")
        m = cbor.as_map(cbor.loads(payload, max_size=MAX_CERT_SIZE, what=_WHAT), _WHAT)
        if cbor.field_int(m, "v", _WHAT) != CERT_VERSION:
            raise RemoteProtocolError(f"{_WHAT} has an unknown version.")
        hh = cbor.field_bytes(m, "household", _WHAT, size=32)
        dev = cbor.field_bytes(m, "device", _WHAT, size=32)
        name = cbor.field_str(m, "name", _WHAT, max_len=128)
        issued = cbor.field_int(m, "issued", _WHAT)
        expires = cbor.field_opt_int(m, "expires", _WHAT)
    except RemoteProtocolError as exc:
        raise CertificateError(
            f"The device certificate is malformed: {exc.message}",
            "Re-enroll the device or ask the friend to update citizen.",
        ) from exc
    try:
        VerifyKey(hh).verify(payload, sig)
    except (BadSignatureError, ValueError) as exc:
        raise CertificateError(
            "The device certificate's signature does not match its household key.",
            "The certificate was tampered with; re-enroll the device.",
        ) from exc
    current = time.time() if now is None else now
    if expires is not None and current > expires:
        raise CertificateError(
            f"The device certificate for {name!r} expired.",
            "Renew it on a device that holds the household key.",
        )
    return DeviceCertificate(hh, dev, name, issued, expires, bytes(data))


def verify_certificate_for(
    data: bytes, *, household_key: bytes | None, device: DeviceId | None, now: float | None = None
) -> DeviceCertificate:
    """Decode a certificate and check it names the expected household and/or device.

    Raises:
        CertificateError: as `decode_certificate`, or from another household/device.
    """
    cert = decode_certificate(data, now=now)
    if household_key is not None and cert.household_key != household_key:
        raise CertificateError(
            "The device certificate is from another household.",
            "Only devices of your friends' households can connect.",
        )
    if device is not None and cert.device != device:
        raise CertificateError(
            "The device certificate is for another device than the one connected.",
            "The peer presented someone else's certificate; it was refused.",
        )
    return cert
