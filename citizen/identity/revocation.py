"""Device revocations: the household key declares a device's certificate void, forever.

Wire form: canonical CBOR ``[payload, signature]``, payload {v, household,
device, revoked}, signed by the household key. Friends and the household's
other devices keep every revocation they see and refuse that device from then on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from citizen import cbor
from citizen.errors import RemoteProtocolError
from citizen.identity.fingerprints import device_id, household_id
from citizen.ids import DeviceId, HouseholdId

MAX_REVOCATION_SIZE = 512
_WHAT = "device revocation"


@dataclass(frozen=True, slots=True)
class Revocation:
    household_key: bytes
    device_key: bytes
    revoked: int
    raw: bytes

    @property
    def device(self) -> DeviceId:
        return device_id(self.device_key)

    @property
    def household(self) -> HouseholdId:
        return household_id(self.household_key)


def sign_revocation(household: SigningKey, device_key: bytes) -> Revocation:
    payload = cbor.dumps(
        {
            "v": 1,
            "household": bytes(household.verify_key),
            "device": device_key,
            "revoked": int(time.time()),
        }
    )
    raw = cbor.dumps([payload, household.sign(payload).signature])
    return verify_revocation(raw, bytes(household.verify_key))


def verify_revocation(data: bytes, household_key: bytes) -> Revocation:
    """Decode a revocation and check the household key signed it.

    Raises:
        RemoteProtocolError: malformed, for another household, or badly signed.
    """
    outer = cbor.loads(data, max_size=MAX_REVOCATION_SIZE, what=_WHAT)
    if not isinstance(outer, list) or len(outer) != 2:
        raise RemoteProtocolError(f"{_WHAT} must be [payload, signature].")
    payload, sig = outer
    if not isinstance(payload, bytes) or not isinstance(sig, bytes):
        raise RemoteProtocolError(f"{_WHAT} must hold bytes.")
    m = cbor.as_map(cbor.loads(payload, max_size=MAX_REVOCATION_SIZE, what=_WHAT), _WHAT)
    if cbor.field_int(m, "v", _WHAT) != 1:
        raise RemoteProtocolError(f"{_WHAT} has an unknown version.")
    key = cbor.field_bytes(m, "household", _WHAT, size=32)
    if key != household_key:
        raise RemoteProtocolError(f"{_WHAT} is from another household.")
    try:
        VerifyKey(key).verify(payload, sig)
    except (BadSignatureError, ValueError) as exc:
        raise RemoteProtocolError(f"{_WHAT} has a bad signature.") from exc
    return Revocation(
        key,
        cbor.field_bytes(m, "device", _WHAT, size=32),
        cbor.field_int(m, "revoked", _WHAT),
        bytes(data),
    )
