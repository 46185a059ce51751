"""PortMapper against a fake NAT-PMP router on 127.0.0.1 (never the machine's real gateway).

The router is a trio task speaking `natpmp_codec`; trio's autojump clock runs
lease renewals and retry backoffs without waiting for them.
"""

from __future__ import annotations

import itertools
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio

from citizen.net.nat import natpmp_codec as npc
from citizen.net.nat.portmap import (
    PortMapOptions,
    PortMapper,
    PortMapStatus,
    default_gateway,
    is_lan_only,
    mappable_ports,
)

WILDCARD = ["/ip4/0.0.0.0/tcp/4747"]


@dataclass
class FakeRouter:
    """Answers NAT-PMP like a home router; `silent` drops requests, `result` refuses them."""

    external_ip: str = "198.51.100.2"
    lifetime: int = 600  # what it grants, whatever is asked
    taken: set[int] = field(default_factory=set)  # external ports it will not give
    silent: bool = False
    result: int = 0
    requests: list[npc.Request] = field(default_factory=list)
    port: int = 0
    changed: trio.Event = field(default_factory=trio.Event)

    def answer(self, request: npc.Request) -> bytes:
        if self.result:
            opcode = request.protocol if isinstance(request, npc.MapRequest) else 0
            return npc.encode_error(opcode, self.result, 1)
        match request:
            case npc.ExternalAddressRequest():
                return npc.encode(npc.ExternalAddressResponse(1, self.external_ip))
            case npc.MapRequest(lifetime=0):
                return npc.encode(npc.MapResponse(request.protocol, 1, request.internal_port, 0, 0))
            case npc.MapRequest():
                ext = request.external_port
                while ext in self.taken:
                    ext += 1
                reply = npc.MapResponse(
                    request.protocol, 1, request.internal_port, ext, self.lifetime
                )
                return npc.encode(reply)

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            await sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
            task_status.started()
            while True:
                data, peer = await sock.recvfrom(2048)
                request = npc.decode_request(data)
                self.requests.append(request)
                self.changed.set()
                self.changed = trio.Event()
                if not self.silent:
                    await sock.sendto(self.answer(request), peer)

    def maps(self) -> list[npc.MapRequest]:
        return [r for r in self.requests if isinstance(r, npc.MapRequest) and r.lifetime]

    def deletes(self) -> list[npc.MapRequest]:
        return [r for r in self.requests if isinstance(r, npc.MapRequest) and not r.lifetime]


@asynccontextmanager
async def running(
    router: FakeRouter, listen: list[str] = WILDCARD, gateway: str | None = "127.0.0.1"
) -> AsyncIterator[PortMapper]:
    async with trio.open_nursery() as nursery:
        await nursery.start(router.serve)
        options = PortMapOptions(upnp=False, natpmp_port=router.port, gateway=lambda: gateway)
        mapper = PortMapper(lambda: listen, options)
        mapper_scope = trio.CancelScope()
        stopped = trio.Event()

        async def run_mapper() -> None:
            try:
                with mapper_scope:
                    await mapper.run()
            finally:
                stopped.set()

        nursery.start_soon(run_mapper)
        yield mapper
        mapper_scope.cancel()
        await stopped.wait()  # its shielded cleanup is over: now stop the router
        nursery.cancel_scope.cancel()


async def until(mapper: PortMapper, check: Callable[[], object]) -> None:
    with trio.fail_after(24 * 3600):  # fake time: only bounds a hung test
        while not check():
            await mapper.wait_changed()


def error(mapper: PortMapper) -> Any:
    return mapper.statistics().error


async def test_maps_renews_at_half_life_and_deletes_on_shutdown(autojump_clock: object) -> None:
    router = FakeRouter(lifetime=600)
    async with running(router) as mapper:
        await until(mapper, mapper.addrs)
        assert mapper.addrs() == ["/ip4/198.51.100.2/tcp/4747"]
        status = mapper.statistics()
        assert status == PortMapStatus(
            enabled=True,
            method="natpmp",
            external_addrs=("/ip4/198.51.100.2/tcp/4747",),
            error=None,
        )
        first = router.maps()[0]
        assert (first.internal_port, first.external_port) == (4747, 4747)
        assert first.protocol is npc.Protocol.TCP and 0 < first.lifetime < 24 * 3600
        start = trio.current_time()
        while len(router.maps()) < 3:
            await router.changed.wait()
        assert trio.current_time() - start == pytest.approx(600, abs=1)  # two renewals at 300 s
        assert router.deletes() == []
    assert router.deletes() == [npc.MapRequest(npc.Protocol.TCP, 4747, 0, 0)]
    assert mapper.addrs() == []


async def test_takes_the_external_port_the_router_gives(autojump_clock: object) -> None:
    router = FakeRouter(taken={4747})
    async with running(router) as mapper:
        await until(mapper, mapper.addrs)
        assert mapper.addrs() == ["/ip4/198.51.100.2/tcp/4748"]
        while len(router.maps()) < 2:
            await router.changed.wait()
        assert router.maps()[1].external_port == 4748  # renewals ask for the same one


async def test_no_answer_then_retries_with_backoff_until_the_router_answers(
    autojump_clock: object,
) -> None:
    router = FakeRouter(silent=True)
    async with running(router) as mapper:
        await until(mapper, lambda: error(mapper))
        status = mapper.statistics()
        assert status.method is None and status.external_addrs == ()
        assert status.error is not None and "no NAT-PMP answer from 127.0.0.1" in status.error
        asked_at: list[float] = []
        while len(asked_at) < 3:
            before = len(router.requests)
            await router.changed.wait()
            if before % 4 == 0:  # the first of each round of 4 retransmissions
                asked_at.append(trio.current_time())
        gaps = [b - a for a, b in itertools.pairwise(asked_at)]
        assert gaps[1] > gaps[0]  # the wait doubles
        router.silent = False
        await until(mapper, mapper.addrs)
        assert error(mapper) is None


async def test_a_refusal_is_reported_with_what_to_do(autojump_clock: object) -> None:
    router = FakeRouter(result=2)
    async with running(router) as mapper:
        await until(mapper, lambda: error(mapper))
        message = error(mapper)
        assert "refuses port mappings" in message and "port_mapping = false" in message
    assert router.deletes() == []  # nothing was mapped, nothing to delete


async def test_double_nat_is_not_mapped(autojump_clock: object) -> None:
    router = FakeRouter(external_ip="192.168.1.1")
    async with running(router) as mapper:
        await until(mapper, lambda: error(mapper))
        assert "double NAT" in error(mapper)
    assert router.maps() == []


async def test_without_gateway_or_lan_listener_nothing_is_sent(autojump_clock: object) -> None:
    router = FakeRouter()
    async with running(router, gateway=None) as mapper:
        await until(mapper, lambda: error(mapper))
        assert "No default route" in error(mapper)
    async with running(router, listen=["/ip4/127.0.0.1/tcp/4747"]) as mapper:
        await until(mapper, lambda: error(mapper))
        assert "Nothing to map" in error(mapper)
    assert router.requests == []


def test_default_gateway_from_proc_net_route() -> None:
    table = (
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "eth0\t0001000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
        "eth0\t00000000\t0101000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
    )
    assert default_gateway(table) == "10.0.1.1"
    assert default_gateway(table.replace("\t0003\t", "\t0002\t")) is None  # route down
    assert default_gateway(table.splitlines()[0] + "\n" + table.splitlines()[1]) is None
    assert default_gateway("") is None


def test_only_lan_and_wildcard_tcp_listeners_are_mapped() -> None:
    listen = [
        "/ip4/0.0.0.0/tcp/4747",
        "/ip4/10.0.1.2/tcp/4748",
        "/ip4/10.0.1.2/tcp/4747",  # the same port again
        "/ip4/127.0.0.1/tcp/4749",
        "/ip4/169.254.1.1/tcp/4750",
        "/ip4/198.51.100.2/tcp/4751",  # already public: nothing to forward
        "/ip6/::/tcp/4752",
        "/ip4/0.0.0.0/udp/4753/quic-v1",
        "/ip4/10.0.1.2/tcp/4754/p2p/QmRelay/p2p-circuit",
        "/ip4/10.0.1.2/tcp/0",
        "garbage",
    ]
    assert [(p.port, p.ip) for p in mappable_ports(listen)] == [(4747, None), (4748, "10.0.1.2")]
    assert is_lan_only("100.64.0.1") and is_lan_only("172.31.0.1")
    assert not is_lan_only("198.51.100.2") and not is_lan_only("nonsense")
