"""Daemons inside the namespaces of tests/e2e/netns.py, and the fixtures NAT tests share.

`topo` builds two NATed homes and a public network (skipping with the reason
where that is impossible); `ns_daemons` gives alpha (home A), beta (public) and
gamma (home C), not yet initialised, and kills them afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.daemons import Daemon, pair, wait_until
from tests.e2e.netns import Topology, two_homes_and_public

PORT = 4747


class NsDaemon(Daemon):
    """A `citizen run` inside one namespace; the CLI reaches it over its Unix socket."""

    def __init__(self, data_dir: Path, name: str, topo: Topology, ns: str) -> None:
        super().__init__(data_dir, name)
        self.topo = topo
        self.ns = ns

    def start(self, *extra: str, port: int = PORT) -> None:
        assert self.proc is None
        self.no_mdns()
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        argv = [sys.executable, "-m", "citizen", "run", "--listen", f"/ip4/0.0.0.0/tcp/{port}"]
        self.proc = subprocess.Popen(
            [*self.topo.prefix(self.ns), *argv, *extra], env=self.env(), stdout=log, stderr=log
        )
        self.wait_ready()


@pytest.fixture
def topo() -> Iterator[Topology]:
    with two_homes_and_public() as t:
        yield t


@pytest.fixture
def ns_daemons(tmp_path: Path, topo: Topology) -> Iterator[dict[str, NsDaemon]]:
    made = {
        "alpha": NsDaemon(tmp_path / "alpha", "alpha", topo, "home_a"),
        "beta": NsDaemon(tmp_path / "beta", "beta", topo, "public"),
        "gamma": NsDaemon(tmp_path / "gamma", "gamma", topo, "home_c"),
    }
    try:
        yield made
    finally:
        for d in made.values():
            d.kill()


def online(d: Daemon, name: str) -> bool:
    """Whether `d` lists its friend `name` as online."""
    return any(bool(f["online"]) for f in d.json("friends") if f["name"] == name)


def connection(d: Daemon, name: str) -> str | None:
    """How `d` is connected to friend `name`'s first device: "direct", "relayed" or None."""
    for f in d.json("friends"):
        if f["name"] == name:
            kind = f["devices"][0].get("connection")
            return str(kind) if kind else None
    return None


def doc_value(d: Daemon, doc: str) -> Any:
    """The doc's value at `d`, or None while it does not have it."""
    shown = d.cli("doc", "show", doc, check=False)
    return json.loads(shown.stdout)["value"] if shown.returncode == 0 else None


def homes_paired_through_beta(
    ns_daemons: dict[str, NsDaemon], configs: dict[str, dict[str, object]] | None = None
) -> tuple[NsDaemon, NsDaemon, NsDaemon]:
    """Start alpha, beta and gamma (`configs[name]` set in its config.toml first), pair
    both homes with beta, and once beta's dialback told both homes their public address
    and alpha holds a reservation at beta, pair alpha with gamma: through the relay."""
    a, b, c = ns_daemons["alpha"], ns_daemons["beta"], ns_daemons["gamma"]
    for d in (a, b, c):
        d.init()
        d.configure(**(configs or {}).get(d.name, {}))
        d.start()
    pair(b, a)
    pair(b, c)
    for d in (a, c):
        wait_until(lambda d=d: d.status()["observed_addrs"], f"{d.name}'s observed address")
    wait_until(lambda: a.status().get("relay_addrs"), "alpha's reservation at beta")
    assert pair(a, c)["name"] == "alpha"  # the invite carries only alpha's relayed address
    wait_until(lambda: online(a, "gamma") and online(c, "alpha"), "alpha and gamma online")
    return a, b, c
