"""Rendezvous point state: who is registered under which namespace, until when.

Pure: the shell (`citizen/sync/rendezvous.py`) verifies the signed peer record
and the sender's peer ID, then hands plain values and the current time to a
`Registry`, which answers with the spec's response messages. Also derives
the namespaces friendships meet under, so a rendezvous point learns no
names and cannot link one period's namespace to the next.

Cookies are opaque to clients. Ours are `version | registry instance (8) |
serial (8, big endian) | namespace`: every REGISTER (also a refresh) gets a
fresh serial, and DISCOVER returns registrations with a serial above the
cookie's, so one cookie serves both paging and "only what changed since".
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass

from citizen.errors import LocalProtocolError
from citizen.net.rendezvous.codec import (
    MAX_FRAME_SIZE,
    DiscoverResponse,
    Register,
    RegisterResponse,
    ResponseStatus,
    encoded_registration_size,
)

DEFAULT_TTL = 2 * 3600
MAX_TTL = 72 * 3600
#: go-libp2p-rendezvous's lower bound; anything shorter is churn, not presence.
MIN_TTL = 120
MAX_NAMESPACE_BYTES = 255

NAMESPACE_PREFIX = "citizen/"
FRIENDSHIP_SECRET_BYTES = 32
DEFAULT_EPOCH_SECONDS = 86400

_COOKIE_VERSION = 1
_INSTANCE_BYTES = 8
_COOKIE_HEADER = 1 + _INSTANCE_BYTES + 8
_NAMESPACE_PERSON = b"citizen/rdv-ns"  # BLAKE2b personalisation: this use only


@dataclass(frozen=True, slots=True)
class Limits:
    """What a rendezvous point accepts (defaults follow the spec's recommendations).

    Attributes:
        allow_discover_all: answer a DISCOVER without a namespace with every
            registration. Off by default: a friendship namespace is a
            capability, and listing all of them would show one friend the
            peer IDs and addresses of our other friends.
        max_response_bytes: budget for the registrations in one DISCOVER
            response, so it fits in a frame any peer accepts; the cookie pages
            through the rest.
    """

    default_ttl: int = DEFAULT_TTL
    min_ttl: int = MIN_TTL
    max_ttl: int = MAX_TTL
    max_namespace_bytes: int = MAX_NAMESPACE_BYTES
    max_record_bytes: int = 2048
    max_registrations_per_peer: int = 1000
    max_registrations: int = 5000
    max_discover_limit: int = 1000
    max_response_bytes: int = MAX_FRAME_SIZE - 1024
    allow_discover_all: bool = False


@dataclass(frozen=True, slots=True)
class Registration:
    """One peer's signed peer record under one namespace."""

    ns: str
    peer_id: str
    signed_record: bytes
    expires_at: float
    serial: int


class Registry:
    """The registrations a rendezvous point holds, in memory.

    Times (`now`, `expires_at`) are seconds on any monotonic clock the
    caller uses consistently.
    """

    def __init__(self, limits: Limits | None = None, *, instance: bytes | None = None) -> None:
        """Start empty.

        Args:
            limits: what to accept; `Limits()` if omitted.
            instance: 8 bytes naming this registry in its cookies, so a cookie
                from another rendezvous point or an earlier run is refused
                rather than misread. Random if omitted.
        """
        self.limits = limits if limits is not None else Limits()
        self._instance = instance if instance is not None else secrets.token_bytes(_INSTANCE_BYTES)
        if len(self._instance) != _INSTANCE_BYTES:
            raise LocalProtocolError(f"A registry instance is {_INSTANCE_BYTES} bytes.")
        # ns -> peer_id -> registration, in serial order (a refresh re-inserts).
        self._by_ns: dict[str, dict[str, Registration]] = {}
        self._per_peer: dict[str, int] = {}
        self._count = 0
        self._serial = 0

    def __len__(self) -> int:
        return self._count

    def register(
        self, ns: str, peer_id: str, signed_record: bytes, ttl: int, now: float
    ) -> RegisterResponse:
        """Add or refresh `peer_id`'s registration under `ns`.

        The caller has already checked that `signed_record` is a valid signed
        peer record of `peer_id`, the peer on the other end of the stream.

        Returns:
            OK with the granted TTL (`ttl`, or the default for 0), or the
            spec's error status: E_INVALID_NAMESPACE, E_INVALID_SIGNED_PEER_RECORD
            (empty or too large), E_INVALID_TTL, E_NOT_AUTHORIZED (this peer
            holds too many registrations) or E_UNAVAILABLE (this point is full).
        """
        limits = self.limits
        problem = self._namespace_problem(ns)
        if problem:
            return RegisterResponse(ResponseStatus.E_INVALID_NAMESPACE, problem)
        if not signed_record:
            return RegisterResponse(
                ResponseStatus.E_INVALID_SIGNED_PEER_RECORD, "The signed peer record is missing."
            )
        if len(signed_record) > limits.max_record_bytes:
            return RegisterResponse(
                ResponseStatus.E_INVALID_SIGNED_PEER_RECORD,
                f"The signed peer record is larger than {limits.max_record_bytes} bytes.",
            )
        granted = limits.default_ttl if ttl == 0 else ttl
        if not limits.min_ttl <= granted <= limits.max_ttl:
            return RegisterResponse(
                ResponseStatus.E_INVALID_TTL,
                f"TTL must be between {limits.min_ttl} and {limits.max_ttl} seconds (0: default).",
            )
        self.expire(now)
        peers = self._by_ns.get(ns, {})
        if peer_id not in peers:
            if self._per_peer.get(peer_id, 0) >= limits.max_registrations_per_peer:
                return RegisterResponse(
                    ResponseStatus.E_NOT_AUTHORIZED,
                    f"A peer may hold at most {limits.max_registrations_per_peer} registrations.",
                )
            if self._count >= limits.max_registrations:
                return RegisterResponse(
                    ResponseStatus.E_UNAVAILABLE, "This rendezvous point is full; try later."
                )
        self._remove(ns, peer_id)
        self._serial += 1
        self._by_ns.setdefault(ns, {})[peer_id] = Registration(
            ns=ns,
            peer_id=peer_id,
            signed_record=signed_record,
            expires_at=now + granted,
            serial=self._serial,
        )
        self._per_peer[peer_id] = self._per_peer.get(peer_id, 0) + 1
        self._count += 1
        return RegisterResponse(ResponseStatus.OK, ttl=granted)

    def unregister(self, ns: str, peer_id: str) -> bool:
        """Drop `peer_id`'s registration under `ns`; True if there was one."""
        return self._remove(ns, peer_id)

    def discover(self, ns: str, limit: int, cookie: bytes, now: float) -> DiscoverResponse:
        """Registrations under `ns` newer than `cookie`, oldest first, at most `limit`.

        `limit <= 0` means the maximum. The response also stops before the
        registrations outgrow `Limits.max_response_bytes` (but always holds at
        least one if any match). Its cookie, passed back later, returns only
        registrations made or refreshed after this page.

        Returns:
            OK with registrations (each `ttl` is the time it has left) and the
            next cookie, or E_INVALID_NAMESPACE / E_INVALID_COOKIE.
        """
        limits = self.limits
        if ns or not limits.allow_discover_all:
            problem = self._namespace_problem(ns)
            if problem:
                return DiscoverResponse(
                    status=ResponseStatus.E_INVALID_NAMESPACE, status_text=problem
                )
        after = self._parse_cookie(cookie, ns)
        if after is None:
            return DiscoverResponse(
                status=ResponseStatus.E_INVALID_COOKIE,
                status_text="The cookie is not from this rendezvous point or this namespace; "
                "discover again without it.",
            )
        self.expire(now)
        if limit <= 0 or limit > limits.max_discover_limit:
            limit = limits.max_discover_limit
        candidates = self._newer_than(ns, after)
        page: list[Register] = []
        size = 0
        last = after
        for reg in candidates:
            entry = Register(reg.ns, reg.signed_record, max(1, _ceil(reg.expires_at - now)))
            entry_size = encoded_registration_size(entry)
            if len(page) == limit or (page and size + entry_size > limits.max_response_bytes):
                break
            page.append(entry)
            size += entry_size
            last = reg.serial
        else:
            # Everything that matches was returned, so anything with a serial
            # up to now has been seen: later polls start after all of it.
            last = self._serial
        return DiscoverResponse(registrations=tuple(page), cookie=self._make_cookie(last, ns))

    def expire(self, now: float) -> int:
        """Drop every registration whose TTL has run out; return how many."""
        expired = [
            (reg.ns, reg.peer_id)
            for peers in self._by_ns.values()
            for reg in peers.values()
            if reg.expires_at <= now
        ]
        for ns, peer_id in expired:
            self._remove(ns, peer_id)
        return len(expired)

    def _newer_than(self, ns: str, after: int) -> list[Registration]:
        if ns:
            pool = list(self._by_ns.get(ns, {}).values())
        else:
            pool = sorted(
                (reg for peers in self._by_ns.values() for reg in peers.values()),
                key=lambda reg: reg.serial,
            )
        return [reg for reg in pool if reg.serial > after]

    def _remove(self, ns: str, peer_id: str) -> bool:
        peers = self._by_ns.get(ns)
        if peers is None or peers.pop(peer_id, None) is None:
            return False
        if not peers:
            del self._by_ns[ns]
        remaining = self._per_peer[peer_id] - 1
        if remaining:
            self._per_peer[peer_id] = remaining
        else:
            del self._per_peer[peer_id]
        self._count -= 1
        return True

    def _namespace_problem(self, ns: str) -> str:
        if not ns:
            return "The namespace is empty."
        if len(ns.encode("utf-8")) > self.limits.max_namespace_bytes:
            return f"The namespace is longer than {self.limits.max_namespace_bytes} bytes."
        return ""

    def _make_cookie(self, serial: int, ns: str) -> bytes:
        return (
            bytes([_COOKIE_VERSION])
            + self._instance
            + serial.to_bytes(8, "big")
            + ns.encode("utf-8")
        )

    def _parse_cookie(self, cookie: bytes, ns: str) -> int | None:
        """The serial in `cookie` (0 if empty), or None if it is not ours for `ns`."""
        if not cookie:
            return 0
        if (
            len(cookie) < _COOKIE_HEADER
            or cookie[0] != _COOKIE_VERSION
            or cookie[1 : 1 + _INSTANCE_BYTES] != self._instance
            or cookie[_COOKIE_HEADER:] != ns.encode("utf-8")
        ):
            return None
        serial = int.from_bytes(cookie[1 + _INSTANCE_BYTES : _COOKIE_HEADER], "big")
        return serial if serial <= self._serial else None


def _ceil(seconds: float) -> int:
    whole = int(seconds)
    return whole + 1 if whole < seconds else whole


# -- friendship namespaces -----------------------------------------------------------


def epoch_for(now: float, period: int = DEFAULT_EPOCH_SECONDS) -> int:
    """The period number containing wall-clock time `now` (Unix seconds)."""
    if period <= 0:
        raise LocalProtocolError(f"A namespace period must be positive, not {period}.")
    return int(now // period)


def friendship_namespace(secret: bytes, epoch: int) -> str:
    """The rendezvous namespace both friends use during `epoch`.

    A keyed BLAKE2b of the epoch under the 32-byte friendship secret: only
    the two households can compute it, and namespaces of different epochs
    look unrelated to the rendezvous point.

    Raises:
        LocalProtocolError: the secret is not 32 bytes or the epoch is negative.
    """
    if len(secret) != FRIENDSHIP_SECRET_BYTES:
        raise LocalProtocolError(
            f"A friendship secret is {FRIENDSHIP_SECRET_BYTES} bytes, not {len(secret)}."
        )
    if epoch < 0:
        raise LocalProtocolError(f"A namespace epoch cannot be negative ({epoch}).")
    digest = hashlib.blake2b(
        epoch.to_bytes(8, "big"), key=secret, digest_size=20, person=_NAMESPACE_PERSON
    ).digest()
    return NAMESPACE_PREFIX + base64.b32encode(digest).decode("ascii").lower()


def friendship_namespaces(
    secret: bytes, now: float, period: int = DEFAULT_EPOCH_SECONDS, skew: float = 900.0
) -> tuple[str, ...]:
    """Namespaces to register and discover under at `now`, current epoch first.

    Adds the neighbouring epoch's namespace when `now` is within `skew`
    seconds of a period boundary, so friends whose clocks disagree by less
    than `skew` still meet.
    """
    current = epoch_for(now, period)
    epochs = [current]
    for other in (epoch_for(now - skew, period), epoch_for(now + skew, period)):
        if other != current and other >= 0 and other not in epochs:
            epochs.append(other)
    return tuple(friendship_namespace(secret, epoch) for epoch in epochs)
