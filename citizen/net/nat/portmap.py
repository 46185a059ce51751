"""Port mapping on the home router for the libp2p listen ports: UPnP IGD first, else NAT-PMP.

`PortMapper` asks the default gateway to forward each TCP port the libp2p host
listens on (never the local API, never mDNS, never anything else) and offers
the resulting `/ip4/EXT_IP/tcp/EXT_PORT` addresses through `addrs()`, so
friends can dial us directly and their dialback checks find us public.

- UPnP IGD through `miniupnpc` (SSDP discovery, then SOAP calls). Its calls
  block, so each runs in `trio.to_thread`, one at a time. py-libp2p's
  `UpnpManager` is not used: it asks for permanent mappings, logs tracebacks
  for routine failures, and treats documentation ranges as private.
- NAT-PMP (RFC 6886) over UDP to the gateway of the default route (read from
  /proc/net/route), with `natpmp_codec`.

A mapping is asked for with a finite lease (`LEASE`) and renewed at half its
granted lifetime; after a failure the router is looked for again with
exponential backoff; on shutdown the mappings are deleted (best effort,
bounded by `DELETE_TIMEOUT`). The external port equals the internal one when
the router allows it; otherwise whatever it gives is used.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import trio

from citizen.errors import CitizenError
from citizen.net.backoff import Backoff
from citizen.net.nat import natpmp_codec as npc

log = logging.getLogger(__name__)

Method = Literal["upnp", "natpmp"]

LEASE = 2 * 3600  # seconds asked for; renewed at half the granted lifetime
MIN_RENEW = 30.0  # never renew more often than this, whatever the router grants
RETRY_FIRST = 30.0  # first wait after a failure, doubled up to RETRY_MAX
RETRY_MAX = 30 * 60.0
DELETE_TIMEOUT = 3.0  # whole best-effort cleanup on shutdown
UPNP_DISCOVER_MS = 2000  # how long SSDP discovery listens for answers
NATPMP_FIRST_WAIT = 0.25  # RFC 6886: 250 ms, doubled on each retransmission
NATPMP_TRIES = 4  # 0.25 + 0.5 + 1 + 2 s, far fewer than the RFC's 9: a gateway answers fast
OTHER_PORT_TRIES = 4  # random external ports tried when ours is taken at the router
DESCRIPTION = "citizen libp2p"
HINT = (
    "Turn on UPnP or NAT-PMP on the home router, or set network.port_mapping = false;"
    " meanwhile friends reach this device through a relay."
)
ROUTE_TABLE = Path("/proc/net/route")

# Addresses behind which a mapping cannot reach the internet (double NAT) and
# listen addresses worth mapping. Not `ipaddress.is_private`: that also covers
# the documentation ranges, which are routable in test networks.
_LAN_ONLY = tuple(
    ipaddress.IPv4Network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)


class PortMappingError(CitizenError):
    """The home router did not map a port (none answers, it refuses, or it is useless)."""

    code = "port_mapping"


@dataclass(frozen=True, slots=True)
class Mapping:
    """One live port mapping on the router."""

    method: Method
    internal_port: int
    external_ip: str
    external_port: int
    lifetime: int  # seconds granted; 0 = permanent (router only offers those)

    @property
    def addr(self) -> str:
        return f"/ip4/{self.external_ip}/tcp/{self.external_port}"


@dataclass(frozen=True, slots=True)
class Port:
    """A TCP port the host listens on, and the LAN address it listens on (None = every one)."""

    port: int
    ip: str | None


@dataclass(frozen=True, slots=True)
class PortMapOptions:
    """Where and how to ask; the defaults are the real home router (tests inject theirs)."""

    lease: int = LEASE
    upnp: bool = True
    natpmp: bool = True
    natpmp_port: int = npc.PORT
    gateway: Callable[[], str | None] = field(default=lambda: system_gateway())


# -- pure helpers -----------------------------------------------------------------------


def is_lan_only(ip: str) -> bool:
    """Whether `ip` is a private or carrier-grade-NAT IPv4 address (not reachable from outside)."""
    try:
        addr = ipaddress.IPv4Address(ip)
    except ValueError:
        return False
    return any(addr in net for net in _LAN_ONLY)


def mappable_ports(listen_addrs: list[str]) -> list[Port]:
    """The TCP ports worth mapping: IPv4 listeners on every interface or on a LAN address.

    Loopback, link-local, public and IPv6 listeners, relayed and non-TCP
    addresses are skipped: a router cannot forward to them, or need not.
    """
    out: list[Port] = []
    for addr in listen_addrs:
        parts = addr.split("/")
        if len(parts) < 5 or parts[1] != "ip4" or parts[3] != "tcp" or "p2p-circuit" in parts:
            continue
        try:
            port = int(parts[4])
        except ValueError:
            continue
        if not 0 < port < 65536:
            continue
        ip = None if parts[2] == "0.0.0.0" else parts[2]
        if ip is not None and not is_lan_only(ip):
            continue
        if all(p.port != port for p in out):
            out.append(Port(port, ip))
    return out


def default_gateway(route_table: str) -> str | None:
    """The IPv4 gateway of the default route in /proc/net/route's text, else None."""
    for line in route_table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4 or fields[1] != "00000000":
            continue
        try:
            flags = int(fields[3], 16)
            gateway = int(fields[2], 16)
        except ValueError:
            continue
        if flags & 0x1 and flags & 0x2 and gateway:  # RTF_UP and RTF_GATEWAY
            return str(ipaddress.IPv4Address(gateway.to_bytes(4, "little")))
    return None


def system_gateway() -> str | None:
    """The default route's gateway of this network namespace, from /proc/net/route."""
    try:
        return default_gateway(ROUTE_TABLE.read_text())
    except OSError:
        return None


def _check_external(ip: str, method: str) -> str:
    try:
        ipaddress.IPv4Address(ip)
    except ValueError as exc:
        raise PortMappingError(f"the {method} router gave no usable external address") from exc
    if is_lan_only(ip):
        raise PortMappingError(
            f"the {method} router's external address {ip} is private (double NAT): "
            "a mapping there does not reach the internet"
        )
    return ip


# -- the two ways of asking -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PortMapStatus:
    """Port mapping at the home router: on or off, by which method, to where, or why not."""

    enabled: bool
    method: Method | None
    external_addrs: tuple[str, ...]
    error: str | None


class _Router(Protocol):
    method: Method
    external_ip: str

    async def map(self, port: Port, external_port: int, lease: int) -> Mapping: ...
    async def unmap(self, port: Port, mapping: Mapping) -> None: ...


class _Upnp:
    """An UPnP IGD found by SSDP; every miniupnpc call runs in a worker thread, one at a time."""

    method: Method = "upnp"

    def __init__(self) -> None:
        import miniupnpc  # type: ignore[import-not-found]  # a C extension without stubs

        self._u: Any = miniupnpc.UPnP()
        self._lock = threading.Lock()  # an abandoned call may still be running
        self.external_ip = ""

    async def _call(self, fn: Callable[[], Any]) -> Any:
        def locked() -> Any:
            with self._lock:
                return fn()

        # abandoned on cancel: shutdown never waits for a router that stopped answering
        # (trio-stubs predate abandon_on_cancel)
        return await trio.to_thread.run_sync(locked, abandon_on_cancel=True)  # type: ignore[call-arg]

    @classmethod
    async def discover(cls) -> _Upnp:
        router = cls()
        router._u.discoverdelay = UPNP_DISCOVER_MS
        router.external_ip = await router._call(router._discover_blocking)
        return router

    def _discover_blocking(self) -> str:
        try:
            self._u.discover()
        except Exception as exc:  # miniupnpc says "Success" when nothing answered
            log.debug("SSDP discovery: %s", exc)
        try:
            self._u.selectigd()
            ip = self._u.externalipaddress()
        except Exception as exc:
            raise PortMappingError(f"no UPnP IGD answered ({exc})") from exc
        return _check_external(str(ip or ""), "UPnP")

    async def map(self, port: Port, external_port: int, lease: int) -> Mapping:
        ext, granted = await self._call(lambda: self._map_blocking(port, external_port, lease))
        return Mapping("upnp", port.port, self.external_ip, ext, granted)

    def _map_blocking(self, port: Port, external_port: int, lease: int) -> tuple[int, int]:
        internal_ip = port.ip or str(self._u.lanaddr)
        candidates = [external_port] + [
            random.randint(20000, 60999) for _ in range(OTHER_PORT_TRIES)
        ]
        errors: list[str] = []
        for ext in candidates:
            try:
                return ext, self._add(ext, internal_ip, port.port, lease)
            except Exception as exc:
                errors.append(f"{ext}: {exc}")
                if "Conflict" not in str(exc):  # only a taken port is worth another try
                    break
        raise PortMappingError(f"the UPnP router refused to map port {port.port}: {errors[-1]}")

    def _add(self, ext: int, internal_ip: str, internal: int, lease: int) -> int:
        try:
            self._u.addportmapping(ext, "TCP", internal_ip, internal, DESCRIPTION, "", lease)
        except Exception as exc:
            if "OnlyPermanentLeasesSupported" not in str(exc):
                raise
            # an old IGDv1: permanent it is; we still delete it on shutdown
            self._u.addportmapping(ext, "TCP", internal_ip, internal, DESCRIPTION, "", 0)
            return 0
        try:  # the router may shorten the lease: renew by what it granted
            entry = self._u.getspecificportmapping(ext, "TCP")
            granted = int(entry[4]) if entry else lease
        except Exception:
            granted = lease
        return granted if 0 < granted <= lease else lease

    async def unmap(self, port: Port, mapping: Mapping) -> None:
        await self._call(lambda: self._u.deleteportmapping(mapping.external_port, "TCP"))


class _NatPmp:
    """A NAT-PMP gateway: one UDP request at a time, retransmitted with doubling waits."""

    method: Method = "natpmp"

    def __init__(self, gateway: str, port: int) -> None:
        self.gateway = gateway
        self.port = port
        self.external_ip = ""

    @classmethod
    async def discover(cls, gateway: str, port: int) -> _NatPmp:
        router = cls(gateway, port)
        reply = await router._ask(npc.ExternalAddressRequest(), None)
        assert isinstance(reply, npc.ExternalAddressResponse)
        router.external_ip = _check_external(reply.address, "NAT-PMP")
        return router

    async def map(self, port: Port, external_port: int, lease: int) -> Mapping:
        request = npc.MapRequest(npc.Protocol.TCP, port.port, external_port, lease)
        reply = await self._ask(request, port.ip)
        assert isinstance(reply, npc.MapResponse)
        return Mapping("natpmp", port.port, self.external_ip, reply.external_port, reply.lifetime)

    async def unmap(self, port: Port, mapping: Mapping) -> None:
        # lifetime 0 deletes; the router knows whose mapping it is by the source address
        await self._ask(npc.MapRequest(npc.Protocol.TCP, port.port, 0, 0), port.ip)

    async def _ask(self, request: npc.Request, source_ip: str | None) -> npc.Response:
        packet = npc.encode(request)
        try:
            with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                if source_ip is not None:
                    await sock.bind((source_ip, 0))
                await sock.connect((self.gateway, self.port))  # replies from elsewhere are dropped
                wait = NATPMP_FIRST_WAIT
                for _ in range(NATPMP_TRIES):
                    await sock.send(packet)
                    with trio.move_on_after(wait):
                        while True:
                            data = await sock.recv(npc.MAX_PACKET + 1)
                            try:
                                return npc.decode_response(data, request)
                            except npc.NatPmpRefusedError as exc:
                                raise PortMappingError(exc.message.rstrip(".")) from exc
                            except npc.NatPmpError as exc:
                                log.debug("ignoring a NAT-PMP packet: %s", exc)
                    wait *= 2
        except OSError as exc:  # e.g. ICMP port unreachable: no NAT-PMP server there
            raise PortMappingError(f"no NAT-PMP at {self.gateway} ({exc.strerror})") from exc
        raise PortMappingError(f"no NAT-PMP answer from {self.gateway}")


# -- the service ------------------------------------------------------------------------


class PortMapper:
    """Keeps the libp2p listen ports mapped on the home router while it runs.

    Args:
        listen_addrs: the host's listen multiaddresses (after binding), as text.
        options: lease and where to ask; the defaults ask the real gateway.
    """

    def __init__(
        self, listen_addrs: Callable[[], list[str]], options: PortMapOptions | None = None
    ) -> None:
        self._listen_addrs = listen_addrs
        self.options = options or PortMapOptions()
        self._router: _Router | None = None
        self._ports: list[Port] = []
        self._mappings: dict[int, Mapping] = {}
        self._external_ports: dict[int, int] = {}  # ask for the same one again after a failure
        self._error: str | None = None
        self._changed = trio.Event()

    def addrs(self) -> list[str]:
        """`/ip4/EXT_IP/tcp/EXT_PORT` of every live mapping."""
        return [m.addr for m in self._mappings.values()]

    def statistics(self) -> PortMapStatus:
        """Whether and how the router forwards our port, and why not."""
        method = self._router.method if self._router is not None and self._mappings else None
        return PortMapStatus(True, method, tuple(self.addrs()), self._error)

    async def wait_changed(self) -> None:
        """Wait until the mappings or the error change."""
        await self._changed.wait()

    def _set(self, mappings: dict[int, Mapping], error: str | None) -> None:
        if mappings != self._mappings or error != self._error:
            self._mappings, self._error = mappings, error
            self._changed.set()
            self._changed = trio.Event()

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            await self._keep_mapped()
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(DELETE_TIMEOUT):
                await self._unmap_all()

    async def _keep_mapped(self) -> None:
        self._ports = ports = mappable_ports(self._listen_addrs())
        if not ports:
            self._set({}, "Nothing to map: the libp2p host listens on no LAN address.")
            log.info("port mapping: %s", self._error)
            await trio.sleep_forever()
        backoff = Backoff(RETRY_FIRST, RETRY_MAX)
        while True:
            try:
                if self._router is None:
                    self._router = await self._find_router()
                renew = await self._map(self._router, ports)
                backoff.succeeded()
            except PortMappingError as exc:
                self._router = None
                error = f"{exc.message} {exc.hint or HINT}"
                # one line per new reason, not one per retry
                say = log.info if error != self._error else log.debug
                renew = backoff.failed()
                say("port mapping: none. %s Trying again in %.0f s.", error, renew)
                self._set({}, error)
            await trio.sleep(renew)

    async def _find_router(self) -> _Router:
        gateway = self.options.gateway()
        if gateway is None:
            raise PortMappingError(
                "No default route, so there is no home router to ask.",
                "Friends reach this device through a relay; network.port_mapping = false"
                " stops looking.",
            )
        errors: list[str] = []
        if self.options.upnp:
            try:
                return await _Upnp.discover()
            except PortMappingError as exc:
                errors.append(exc.message)
        if self.options.natpmp:
            try:
                return await _NatPmp.discover(gateway, self.options.natpmp_port)
            except PortMappingError as exc:
                errors.append(exc.message)
        raise PortMappingError(f"gateway {gateway}: {'; '.join(errors) or 'no method enabled'}.")

    async def _map(self, router: _Router, ports: list[Port]) -> float:
        """Map (or renew) every port; seconds until the next renewal."""
        mappings: dict[int, Mapping] = {}
        for port in ports:
            wanted = self._external_ports.get(port.port, port.port)
            mapping = await router.map(port, wanted, self.options.lease)
            mappings[port.port] = mapping
            self._external_ports[port.port] = mapping.external_port
            if self._mappings.get(port.port) != mapping:
                log.info(
                    "port mapping: TCP %s -> %s:%s by %s (lease %s)",
                    port.port,
                    mapping.external_ip,
                    mapping.external_port,
                    "UPnP IGD" if mapping.method == "upnp" else "NAT-PMP",
                    f"{mapping.lifetime} s" if mapping.lifetime else "permanent",
                )
        self._set(mappings, None)
        lifetimes = [m.lifetime or self.options.lease for m in mappings.values()]
        return max(MIN_RENEW, min(lifetimes) / 2)

    async def _unmap_all(self) -> None:
        router = self._router
        if router is None or not self._mappings:
            return
        for port in self._ports:
            mapping = self._mappings.get(port.port)
            if mapping is None:
                continue
            try:
                await router.unmap(port, mapping)
                log.info("port mapping: removed %s", mapping.addr)
            except Exception as exc:  # best effort: the lease ends it anyway
                log.info("port mapping: could not remove %s: %s", mapping.addr, exc)
        self._mappings = {}
