"""Connection facts, the one home of each: who is on the other end, relayed or direct, open or not.

py-libp2p exposes these through its connection and muxer objects, whose
methods raise once a connection is half torn down; every question here
answers from what it can read and treats an unreadable connection as gone.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID

from citizen.ids import DeviceId

log = logging.getLogger(__name__)

Kind = Literal["direct", "relayed"]
CIRCUIT = "/p2p-circuit"


def peer_id(device: str) -> ID:
    """The libp2p peer ID of a device ID (its base58 text)."""
    return ID.from_base58(device)


def is_circuit(addr: str) -> bool:
    """Whether a multiaddr text goes through a relay."""
    return CIRCUIT in addr


def conn_kind(conn: Any) -> Kind:
    """Whether a libp2p connection (or muxed connection) runs through a relay."""
    try:
        addrs = conn.get_transport_addresses()
    except Exception:
        addrs = []
    return "relayed" if any(is_circuit(str(a)) for a in addrs) else "direct"


def remote_device(stream: Any) -> DeviceId:
    """The device on the other end of a libp2p stream."""
    return DeviceId(stream.muxed_conn.peer_id.to_base58())


def stream_relayed(stream: Any) -> bool:
    """Whether a libp2p stream runs over a relayed connection."""
    try:
        return conn_kind(stream.muxed_conn) == "relayed"
    except Exception:
        return False


def open_connections(host: IHost, device: str) -> list[Any]:
    """Our open connections to `device`."""
    return [c for c in host.get_network().get_connections(peer_id(device)) if not c.is_closed]


def connection_kind(host: IHost, device: str) -> Kind | None:
    """How we are connected to `device` now: "direct" wins over "relayed"; None if not."""
    kinds = {conn_kind(c) for c in host.get_network().get_connections(peer_id(device))}
    if "direct" in kinds:
        return "direct"
    return "relayed" if kinds else None


def has_direct_connection(host: IHost, device: str) -> bool:
    """Whether an open, direct (not relayed) connection to `device` exists now."""
    return any(conn_kind(c) == "direct" for c in open_connections(host, device))


async def reset_quietly(stream: Any) -> None:
    """Reset a stream, giving up after 2 s and ignoring a stream that is already gone."""
    with trio.move_on_after(2):
        try:
            await stream.reset()
        except Exception as exc:
            log.debug("reset failed: %s", exc)


async def close_quietly(stream: Any) -> None:
    """Close a stream, giving up after 2 s and ignoring a stream that is already gone."""
    with trio.move_on_after(2):
        try:
            await stream.close()
        except Exception as exc:
            log.debug("close failed: %s", exc)
