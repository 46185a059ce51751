"""Wire messages of `/citizen/dialback/1` (reachability check against a friend): bytes <-> typed.

The asking device sends `DialRequest` with the addresses it listens on; the
friend answers `DialResult` with the address it sees the connection come
from and which of the candidate addresses it could open a fresh connection
to (or `DialRefused`). Canonical CBOR {"t": type, ...} in a length-prefixed frame.

`dialback_candidates` is the pure rule for what a friend dials: only the
address the request came from, combined with each TCP port the asker listens
on, so a dialback can never be aimed at a third machine.
"""

from __future__ import annotations

from dataclasses import dataclass

from citizen import cbor
from citizen.errors import RemoteProtocolError

PROTOCOL = "/citizen/dialback/1"
MAX_FRAME = 8 * 1024
MAX_ADDRS = 16
MAX_ADDR_LEN = 256


@dataclass(frozen=True, slots=True)
class DialRequest:
    addrs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DialResult:
    observed: str  # "" when the friend could not tell (e.g. a relayed connection)
    reached: tuple[str, ...]
    tried: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DialRefused:
    message: str


Message = DialRequest | DialResult | DialRefused


def encode(msg: Message) -> bytes:
    match msg:
        case DialRequest():
            body: dict[str, object] = {"t": "dial-request", "addrs": list(msg.addrs)}
        case DialResult():
            body = {
                "t": "dial-result",
                "observed": msg.observed,
                "reached": list(msg.reached),
                "tried": list(msg.tried),
            }
        case DialRefused():
            body = {"t": "dial-refused", "message": msg.message}
    return cbor.dumps(body)


def decode(data: bytes) -> Message:
    """Decode one message. Raises only RemoteProtocolError."""
    what = "dialback message"
    m = cbor.as_map(cbor.loads(data, max_size=MAX_FRAME, what=what), what)
    kind = cbor.field_str(m, "t", what, max_len=32)
    match kind:
        case "dial-request":
            return DialRequest(_addrs(m, "addrs", what))
        case "dial-result":
            return DialResult(
                observed=cbor.field_str(m, "observed", what, max_len=MAX_ADDR_LEN),
                reached=_addrs(m, "reached", what),
                tried=_addrs(m, "tried", what),
            )
        case "dial-refused":
            return DialRefused(cbor.field_str(m, "message", what, max_len=1024))
        case _:
            raise RemoteProtocolError(f"unknown {what} type {kind!r}")


def _addrs(m: dict[str, object], key: str, what: str) -> tuple[str, ...]:
    items = cbor.field_list(m, key, what, max_len=MAX_ADDRS)
    if not all(isinstance(a, str) and len(a) <= MAX_ADDR_LEN for a in items):
        raise RemoteProtocolError(f"{what}: {key} must be short text addresses")
    return tuple(str(a) for a in items)


def tcp_port(addr: str) -> int | None:
    """The TCP port of a plain `/ip4|ip6/HOST/tcp/PORT` address, else None (relayed, other)."""
    parts = addr.split("/")
    if len(parts) < 5 or parts[0] != "" or parts[1] not in ("ip4", "ip6") or parts[3] != "tcp":
        return None
    if "p2p-circuit" in parts:
        return None
    try:
        port = int(parts[4])
    except ValueError:
        return None
    return port if 0 < port < 65536 else None


def observed_host(observed: str) -> tuple[str, str] | None:
    """("ip4"|"ip6", host) of an observed `/ip4|ip6/HOST/tcp/PORT` address, else None."""
    parts = observed.split("/")
    if len(parts) < 3 or parts[0] != "" or parts[1] not in ("ip4", "ip6") or not parts[2]:
        return None
    return parts[1], parts[2]


def dialback_candidates(observed: str, addrs: tuple[str, ...]) -> tuple[str, ...]:
    """The addresses a friend dials back: the observed host at each advertised TCP port.

    Never any other host than the one the request came from (so a friend
    cannot make us connect to a third machine), at most `MAX_ADDRS` addresses.
    """
    host = observed_host(observed)
    if host is None:
        return ()
    family, ip = host
    out: list[str] = []
    for addr in addrs:
        port = tcp_port(addr)
        if port is None:
            continue
        candidate = f"/{family}/{ip}/tcp/{port}"
        if candidate not in out:
            out.append(candidate)
    return tuple(out[:MAX_ADDRS])
