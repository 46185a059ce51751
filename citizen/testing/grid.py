"""An in-process grid: n embedded nodes on loopback in one trio loop, for service-level tests.

Each node gets its own data dir, made the way `citizen init` makes one (the
keystore creates the identity, `config.toml` starts from the documented
defaults), with mDNS and port mapping off so a test never touches the
machine's real network. Nodes run with `Node.open_embedded` on
`/ip4/127.0.0.1/tcp/0` and pair with each other through the friends
service's own invite/accept calls. Tests then drive the services through the
same public methods the local API routes call::

    async with open_grid(3, tmp_path) as grid:
        alpha, beta, gamma = grid.nodes
        doc = (await alpha.docs.create("Shopping"))["doc_id"]
        await alpha.docs.share(doc, "beta", "writer")
        await grid.wait_until(lambda: has_value(beta, doc), "the doc at beta")

Nothing here sleeps for a fixed time: waits are on a condition, polled with a
short `trio.sleep` inside a bounded `trio.fail_after` where the services offer
no event. Each node's log records are kept apart (`GridNode.log()`), like a
daemon's log file.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar, cast, overload

import trio

from citizen.identity.certs import DeviceCertificate
from citizen.identity.keystore import Keystore
from citizen.node import Node, NodeOptions
from citizen.testing.datadir import (
    RecoverySheet,
    configure,
    init_data_dir,
    join_data_dir,
    keep_off_real_network,
)

if TYPE_CHECKING:
    from nacl.signing import SigningKey
    from trio_typing import TaskStatus

    from citizen.backup.service import BackupService
    from citizen.docs.service import DocsService
    from citizen.friends.service import FriendsService
    from citizen.household.service import HouseholdService
    from citizen.objects.service import ObjectsService

T = TypeVar("T")
log = logging.getLogger(__name__)

#: how long a grid wait may take before the test fails (it bounds a hang; it is no delay)
WAIT = 60.0
POLL = 0.02
#: how long the others may take to see a stopped node gone (they learn it from the socket)
STOP_SEEN = 20.0
NAMES = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta")
Pairing = Literal["all", "star", "none"]
#: loggers a daemon keeps at warnings only (py-libp2p logs every refused stream loudly)
QUIET = ("libp2p", "multiaddr", "hypercorn", "async_service")


# -- the services of a node: the one place that knows where node.py keeps them -------------------


def friends_of(node: Node) -> FriendsService:
    """The node's friends service (`Node.friends` once node.py has it, else the API's)."""
    service = getattr(node, "friends", None) or node.api.services.get("friends")
    if service is None:
        raise RuntimeError("the node runs offline: it has no friends service")
    return cast("FriendsService", service)


def docs_of(node: Node) -> DocsService:
    return node.docs


def objects_of(node: Node) -> ObjectsService:
    return node.objects


def backup_of(node: Node) -> BackupService:
    return node.backup


def household_of(node: Node) -> HouseholdService:
    return node.household


# -- per-node logs ----------------------------------------------------------------------------

#: the grid node whose task tree is running; trio tasks inherit it from the task that
#: starts them, so every record a node's services (and its libp2p host) log carries it
_CURRENT: contextvars.ContextVar[str | None] = contextvars.ContextVar("grid_node", default=None)


class _NodeLogs(logging.Handler):
    """Keeps the formatted records of each grid node apart, like each daemon's log file."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: dict[str, list[str]] = {}
        self._exc_format = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        name = _CURRENT.get()
        if name is None:
            return
        try:
            line = f"{record.levelname.lower()} {record.name}: {record.getMessage()}"
        except Exception:
            line = f"{record.levelname.lower()} {record.name}: {record.msg!r}"
        if record.exc_info:
            # as a daemon's log shows it: "Traceback (most recent call last): ..."
            line += " | " + self._exc_format.formatException(record.exc_info).replace("\n", " | ")
        self.lines.setdefault(name, []).append(line)


# -- the grid ---------------------------------------------------------------------------------


@dataclass(eq=False)
class GridNode:
    """One household device of the grid: its data dir and, while it runs, its `Node`."""

    name: str
    data_dir: Path
    grid: Grid
    _node: Node | None = None
    _stop: trio.Event = field(default_factory=trio.Event)
    _stopped: trio.Event = field(default_factory=trio.Event)

    @property
    def running(self) -> bool:
        return self._node is not None

    @property
    def node(self) -> Node:
        assert self._node is not None, f"{self.name} is not running"
        return self._node

    @property
    def friends(self) -> FriendsService:
        return friends_of(self.node)

    @property
    def docs(self) -> DocsService:
        return docs_of(self.node)

    @property
    def objects(self) -> ObjectsService:
        return objects_of(self.node)

    @property
    def backup(self) -> BackupService:
        return backup_of(self.node)

    @property
    def household(self) -> HouseholdService:
        return household_of(self.node)

    @functools.cached_property
    def cert(self) -> DeviceCertificate:
        """This device's certificate (read once: an identity does not change)."""
        return Keystore(self.data_dir).certificate()

    @property
    def household_id(self) -> str:
        return self.cert.household

    @property
    def device(self) -> str:
        return self.cert.device

    @property
    def has_network(self) -> bool:
        """Whether the node runs with its network (not `--offline`)."""
        return self.running and not self.node.options.offline

    @property
    def listen(self) -> list[str]:
        """The addresses the node listens on now (as `citizen status` shows them)."""
        return [str(a) for a in self.node.listen_addrs]

    @property
    def port(self) -> int:
        """The TCP port the node listens on now (to come back on the same one)."""
        assert self.listen, f"{self.name} listens nowhere (offline?)"
        return int(self.listen[0].split("/tcp/")[1].split("/")[0])

    def log(self) -> str:
        """What this node logged so far (info and up), one record a line."""
        return "\n".join(self.grid.logs.lines.get(self.name, []))

    def configure(self, **values: object) -> None:
        """Edit `config.toml` (see `configure`); takes effect at the next start."""
        configure(self.data_dir, **values)

    async def recovery_sheet(self) -> RecoverySheet:
        """The household's recovery sheet, as `citizen key backup --sheet` writes it now."""
        from citizen.identity.phrase import seed_to_phrase

        phrase = seed_to_phrase(bytes(Keystore(self.data_dir).household_key(None)))
        peers = {
            str(d["device"]): [str(a) for a in d["addrs"]]
            for f in await self.friends.list_json()
            for d in f["devices"]  # type: ignore[attr-defined]
        }
        return RecoverySheet(self.household_id, phrase, peers)

    async def friend(self, name: str) -> dict[str, object] | None:
        """This node's listing of the friend called `name` (None if it has no such friend)."""
        for f in await self.friends.list_json():
            if f["name"] == name:
                return f
        return None

    async def is_online(self, other: GridNode | str) -> bool:
        """Whether `other` is connected now: a friend household called so (any of its
        devices), or a grid node's own device (a friend's, or one of our household's)."""
        if isinstance(other, str):
            f = await self.friend(other)
            return bool(f and f["online"])
        if other.household_id == self.household_id:
            devices = await self.household.list_devices()
        else:
            devices = [
                d
                for f in await self.friends.list_json()
                if f["household"] == other.household_id
                for d in f["devices"]  # type: ignore[attr-defined]
            ]
        return any(d["online"] and d["device"] == other.device for d in devices)

    async def doc_value(self, doc_id: str) -> object:
        """The doc's value as JSON, or None if this node has no such doc."""
        from citizen.errors import NotFoundError

        try:
            shown = await self.docs.show(doc_id)
        except NotFoundError:
            return None
        return shown["value"]

    async def put_bytes(self, data: bytes, name: str = "file.bin") -> dict[str, object]:
        """Store `data` as a new object (as `citizen put`); returns its listing."""
        chunk = 256 * 1024

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(data), chunk):
                yield data[start : start + chunk]

        return await self.objects.put(chunks(), name, len(data))

    async def get_bytes(self, object_id: str) -> bytes:
        """An object's plaintext, from the local copy or from friends (as `citizen get`)."""
        _entry, chunks = await self.objects.open_read(object_id)
        parts = [chunk async for chunk in chunks]
        return b"".join(parts)


class Grid:
    """The nodes of one test, run in one nursery. Make it with `open_grid`."""

    def __init__(self, root: Path, nursery: trio.Nursery, logs: _NodeLogs) -> None:
        self.root = root
        self.nodes: list[GridNode] = []
        self.logs = logs
        self._nursery = nursery

    def __getitem__(self, name: str) -> GridNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    # -- making and running nodes ----------------------------------------------------------

    def make(
        self,
        name: str,
        config: Mapping[str, object] | None = None,
        *,
        household: SigningKey | None = None,
    ) -> GridNode:
        """A new node's data dir (`citizen init`) with `config` set; not started yet."""
        gn = GridNode(name, self.root / name, self)
        init_data_dir(gn.data_dir, name, household=household)
        if config:
            gn.configure(**config)
        self.nodes.append(gn)
        return gn

    def adopt(self, name: str, data_dir: Path) -> GridNode:
        """A node for a data dir made elsewhere (`join_data_dir`, a recovery); not started yet."""
        gn = GridNode(name, data_dir, self)
        keep_off_real_network(data_dir)
        self.nodes.append(gn)
        return gn

    async def add(self, name: str, config: Mapping[str, object] | None = None) -> GridNode:
        """Make a node and start it."""
        gn = self.make(name, config)
        await self.start(gn)
        return gn

    async def enroll(self, parent: GridNode, name: str) -> GridNode:
        """Enroll and start a new device of `parent`'s household (`device add`, `init --join`)."""
        code = str((await parent.household.create_enrollment(600))["code"])
        await join_data_dir(self.root / name, code, name)
        gn = self.adopt(name, self.root / name)
        await self.start(gn)
        return gn

    async def start(self, gn: GridNode, *, offline: bool = False, port: int = 0) -> None:
        """Start `gn` on loopback (on `port`, else a free one); returns once its network
        and local API are up."""
        assert gn._node is None, f"{gn.name} is already running"
        gn._stop, gn._stopped = trio.Event(), trio.Event()
        listen = f"/ip4/127.0.0.1/tcp/{port}"
        await self._nursery.start(
            self._run, gn, NodeOptions(gn.data_dir, listen=(listen,), offline=offline)
        )

    async def _run(
        self, gn: GridNode, options: NodeOptions, *, task_status: TaskStatus[None]
    ) -> None:
        _CURRENT.set(gn.name)
        try:
            async with Node.open_embedded(options) as node:
                gn._node = node
                task_status.started()
                await gn._stop.wait()
        finally:
            gn._node = None
            gn._stopped.set()

    async def stop(self, gn: GridNode) -> None:
        """Stop `gn` cleanly (as SIGTERM would); its data dir stays for `start`.

        Returns once every running node that knew `gn` online lists it offline.
        """
        watchers = [o for o in self.nodes if o is not gn and o.running and o.has_network]
        knew = [o for o in watchers if await o.is_online(gn)]
        gn._stop.set()
        with trio.fail_after(WAIT):
            await gn._stopped.wait()
        # The stopped node closed its connections (Network.listening); the others close
        # their ends too rather than wait to read that, as a process exit would look.
        for other in watchers:
            await _drop_peer(other.node, gn.device)
        for other in knew:
            await self.wait_until(
                lambda other=other: _not(other.is_online(gn)),  # type: ignore[misc]
                f"{other.name} to list {gn.name} offline after it stopped",
                STOP_SEEN,
            )

    async def restart(self, gn: GridNode, *, offline: bool = False, port: int = 0) -> None:
        await self.stop(gn)
        await self.start(gn, offline=offline, port=port)

    # -- pairing and waiting -----------------------------------------------------------------

    async def pair(self, inviter: GridNode, acceptor: GridNode) -> dict[str, object]:
        """Pair two running nodes (invite at one, accept at the other), and wait until
        both see each other online. Returns the acceptor's result (household, name, sas)."""
        invite = await inviter.friends.create_invite(600)
        accepted = await acceptor.friends.accept(str(invite["code"]), None)
        await self.wait_connected(inviter, acceptor)
        return accepted

    async def wait_connected(self, a: GridNode, b: GridNode, timeout: float = WAIT) -> None:
        """Until `a` and `b` each list the other online (friends, or devices of one household)."""

        async def both() -> bool:
            return await a.is_online(b) and await b.is_online(a)

        await self.wait_until(both, f"{a.name} and {b.name} to be connected", timeout)

    async def wait_disconnected(self, a: GridNode, b: GridNode, timeout: float = WAIT) -> None:
        """Until neither of the running ones of `a` and `b` lists the other online."""

        async def neither() -> bool:
            for x, y in ((a, b), (b, a)):
                if x.running and await x.is_online(y):
                    return False
            return True

        await self.wait_until(neither, f"{a.name} and {b.name} to be disconnected", timeout)

    @overload
    async def wait_until(
        self, check: Callable[[], Awaitable[T]], what: str, timeout: float = WAIT
    ) -> T: ...

    @overload
    async def wait_until(self, check: Callable[[], T], what: str, timeout: float = WAIT) -> T: ...

    async def wait_until(
        self, check: Callable[[], object], what: str, timeout: float = WAIT
    ) -> object:
        """Until `check()` (awaited if it is async) is truthy; returns that value."""
        return await wait_until(check, what, timeout)


async def _drop_peer(node: Node, device: str) -> None:
    """Close `node`'s connections to `device`, which has just stopped."""
    if node.net is not None:
        await node.net.disconnect(device, "it stopped")


async def _not(value: Awaitable[bool]) -> bool:
    return not await value


@overload
async def wait_until(check: Callable[[], Awaitable[T]], what: str, timeout: float = WAIT) -> T: ...


@overload
async def wait_until(check: Callable[[], T], what: str, timeout: float = WAIT) -> T: ...


async def wait_until(check: Callable[[], object], what: str, timeout: float = WAIT) -> object:
    """Poll `check()` until it is truthy and return it; `timeout` only bounds a hang.

    `check` may be a plain or an async function (a coroutine result is awaited).

    Raises:
        TimeoutError: `check()` stayed falsy for `timeout` seconds (naming `what`).
    """
    started = time.monotonic()
    try:
        with trio.fail_after(timeout):
            while True:
                value = check()
                if inspect.isawaitable(value):
                    value = await value
                if value:
                    return value
                await trio.sleep(POLL)
    except trio.TooSlowError:
        raise TimeoutError(
            f"timed out after {time.monotonic() - started:.0f} s waiting for {what}"
        ) from None


@asynccontextmanager
async def open_grid(
    n: int,
    tmp_path: Path,
    *,
    names: Iterable[str] | None = None,
    pairing: Pairing = "all",
    config: Mapping[str, object] | None = None,
    configs: Mapping[str, Mapping[str, object]] | None = None,
) -> AsyncIterator[Grid]:
    """Start `n` embedded nodes in data dirs under `tmp_path`, paired, in this trio loop.

    Args:
        n: how many nodes (households, one device each).
        tmp_path: where their data dirs go (`tmp_path / name`).
        names: their household names (default alpha, beta, gamma, ...).
        pairing: "all" pairs every two nodes; "star" pairs the first with each
            other one; "none" leaves pairing to the test (`Grid.pair`).
        config: `config.toml` keys set on every node before it starts (`k=1`).
        configs: per node name, keys set on that node only (`{"beta": {"offer_mib": 1}}`).

    Leaving the block stops every node.
    """
    chosen = list(names) if names is not None else _default_names(n)
    assert len(chosen) == n, "give one name per node"
    logs = _NodeLogs()
    # the levels a daemon runs with (citizen.logs.setup_logging at "info")
    levels = {"citizen": logging.INFO, **dict.fromkeys(QUIET, logging.WARNING)}
    levels["libp2p"] = logging.CRITICAL
    old_levels = {name: logging.getLogger(name).level for name in levels}
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    logging.getLogger().addHandler(logs)
    try:
        async with trio.open_nursery() as nursery:
            grid = Grid(tmp_path, nursery, logs)
            for name in chosen:
                grid.make(name, {**(config or {}), **((configs or {}).get(name, {}))})
            for gn in grid.nodes:
                await grid.start(gn)
            if pairing == "all":
                for i, a in enumerate(grid.nodes):
                    for b in grid.nodes[i + 1 :]:
                        await grid.pair(a, b)
            elif pairing == "star":
                for b in grid.nodes[1:]:
                    await grid.pair(grid.nodes[0], b)
            try:
                yield grid
            finally:
                for gn in grid.nodes:
                    gn._stop.set()
    finally:
        logging.getLogger().removeHandler(logs)
        for name, level in old_levels.items():
            logging.getLogger(name).setLevel(level)


def _default_names(n: int) -> list[str]:
    return list(NAMES[:n]) if n <= len(NAMES) else [f"n{i}" for i in range(n)]
