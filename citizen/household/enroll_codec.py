"""Wire messages of `/citizen/enroll/1`: a new device asks to join its household.

The new device sends `EnrollRequest` (its device key, a name, and a MAC over
the transcript proving it holds the code's secret); the household's
key-holding device answers `EnrollAccept` with a certificate it signed and
the household's devices, or `EnrollReject`.
"""

from __future__ import annotations

from dataclasses import dataclass

from citizen import cbor
from citizen.errors import RemoteProtocolError

PROTOCOL = "/citizen/enroll/1"
MAX_FRAME = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class EnrollRequest:
    invite_id: str
    device_key: bytes
    name: str
    mac: bytes


@dataclass(frozen=True, slots=True)
class KnownDevice:
    device: str
    name: str
    cert: bytes
    addrs: tuple[str, ...]
    holds_key: bool


@dataclass(frozen=True, slots=True)
class EnrollAccept:
    cert: bytes
    household_name: str
    devices: tuple[KnownDevice, ...]
    mac: bytes
    state: bytes = b""  # the household's friends, as `citizen.store.backup_state` encodes them


@dataclass(frozen=True, slots=True)
class EnrollReject:
    message: str


Message = EnrollRequest | EnrollAccept | EnrollReject


def encode(msg: Message) -> bytes:
    match msg:
        case EnrollRequest():
            body: dict[str, object] = {
                "t": "request",
                "invite": msg.invite_id,
                "key": msg.device_key,
                "name": msg.name,
                "mac": msg.mac,
            }
        case EnrollAccept():
            body = {
                "t": "accept",
                "cert": msg.cert,
                "name": msg.household_name,
                "devices": [
                    {
                        "device": d.device,
                        "name": d.name,
                        "cert": d.cert,
                        "addrs": list(d.addrs),
                        "key": d.holds_key,
                    }
                    for d in msg.devices
                ],
                "mac": msg.mac,
                "state": msg.state,
            }
        case EnrollReject():
            body = {"t": "reject", "message": msg.message}
    return cbor.dumps(body)


def decode(data: bytes) -> Message:
    """Decode one message; raises only RemoteProtocolError."""
    what = "enrollment message"
    m = cbor.as_map(cbor.loads(data, max_size=MAX_FRAME, what=what), what)
    match cbor.field_str(m, "t", what, max_len=16):
        case "request":
            return EnrollRequest(
                cbor.field_str(m, "invite", what, max_len=64),
                cbor.field_bytes(m, "key", what, size=32),
                cbor.field_str(m, "name", what, max_len=128),
                cbor.field_bytes(m, "mac", what, size=32),
            )
        case "accept":
            devices = []
            for raw in cbor.field_list(m, "devices", what, max_len=64):
                d = cbor.as_map(raw, what)
                addrs = cbor.field_list(d, "addrs", what, max_len=32)
                holds = d.get("key")
                if not isinstance(holds, bool):
                    raise RemoteProtocolError(f"{what}: 'key' must be a boolean.")
                devices.append(
                    KnownDevice(
                        cbor.field_str(d, "device", what, max_len=128),
                        cbor.field_str(d, "name", what, max_len=128),
                        cbor.field_bytes(d, "cert", what),
                        tuple(str(a) for a in addrs if isinstance(a, str)),
                        holds,
                    )
                )
            return EnrollAccept(
                cbor.field_bytes(m, "cert", what),
                cbor.field_str(m, "name", what, max_len=128),
                tuple(devices),
                cbor.field_bytes(m, "mac", what, size=32),
                cbor.field_bytes(m, "state", what) if "state" in m else b"",
            )
        case "reject":
            return EnrollReject(cbor.field_str(m, "message", what, max_len=1024))
        case other:
            raise RemoteProtocolError(f"unknown {what} type {other!r}")
