"""Embedded mode: run a household node inside the app's process, for a laptop without a daemon.

    async with citizen_sdk.open_embedded_node("~/.myapp/citizen", name="The Okafors") as c:
        ...  # the same Client as connect() gives

The node is the daemon's own `citizen.node.Node`, which is trio code. It runs
on its own trio loop in a helper thread, so the app may use trio or asyncio
(or `connect_sync` style blocking code in that thread's place): the client
talks to it over the Unix socket in the data dir, exactly as to a daemon. The
node's CPU work (erasure coding, SQLite) never blocks the app's loop.

Side effects on the process, as for the daemon: the node sets the process
umask to 077 (files it creates are private) and logs through `logging`.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import trio

from citizen.config import CONFIG_NAME, default_config_text
from citizen.errors import CitizenError, UsageError
from citizen.identity.keystore import Keystore, write_private_file
from citizen.node import Node, NodeOptions
from citizen_sdk._http import DEFAULT_TIMEOUT
from citizen_sdk.client import Client, connect


def create_identity(
    data_dir: Path, name: str, device_name: str | None = None, *, mdns: bool = True
) -> None:
    """Make a new household in `data_dir`, as `citizen init --name NAME` does (no passphrase).

    Raises:
        CitizenError: `data_dir` already has an identity.
    """
    keystore = Keystore(data_dir)
    if keystore.exists():
        raise CitizenError(f"{data_dir} already has an identity; nothing was changed.")
    device_name = device_name or socket.gethostname()
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    keystore.create(device_name, None)
    config = default_config_text(name, device_name)
    if not mdns:
        config = config.replace("mdns = true", "mdns = false")
    config_path = data_dir / CONFIG_NAME
    if not config_path.exists():
        write_private_file(config_path, config.encode())


class _NodeThread:
    """A `Node` on its own trio loop in a daemon thread: start, wait until ready, stop."""

    def __init__(self, options: NodeOptions) -> None:
        self._options = options
        self._ready = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="citizen-node", daemon=True)

    def _main(self) -> None:
        try:
            trio.run(self._run)
        except BaseException as exc:
            self.error = _unwrapped(exc)
        finally:
            self._ready.set()

    async def _run(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._stop = trio.Event()
        async with Node.open_embedded(self._options):
            self._ready.set()
            await self._stop.wait()

    async def start(self) -> None:
        """Start the node and return once its local API answers.

        Raises:
            CitizenError: the node could not start (as `citizen run` would say).
        """
        self._thread.start()
        await anyio.to_thread.run_sync(self._ready.wait, abandon_on_cancel=True)
        if self.error is not None:
            raise self.error

    async def stop(self) -> None:
        """Stop the node and wait for it (a few seconds at most, as the daemon's shutdown)."""
        token, stop = self._token, self._stop
        if token is not None and stop is not None:
            try:
                token.run_sync_soon(stop.set)  # thread-safe, never blocks
            except trio.RunFinishedError:
                pass  # it already ended (crashed): error says why
        await anyio.to_thread.run_sync(self._thread.join)


def _unwrapped(exc: BaseException) -> BaseException:
    """The one real error inside trio's nursery exception groups, if there is one."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


@asynccontextmanager
async def open_embedded_node(
    data_dir: Path | str,
    *,
    name: str | None = None,
    device_name: str | None = None,
    listen: Sequence[str] | None = None,
    offline: bool = False,
    mdns: bool = True,
    passphrase: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> AsyncIterator[Client]:
    """Run a household node in this process and yield a `Client` connected to it.

    Works from trio and asyncio apps alike (the node has its own loop in a
    thread). Leaving the block closes the client and stops the node.

    Args:
        data_dir: the node's data dir; created with a new household identity
            (named `name`) if it has none.
        name: the household's name for a new identity (required then).
        device_name: this device's name for a new identity; default the hostname.
        listen: libp2p listen multiaddresses instead of the config's.
        offline: no network, only the local API.
        mdns: for a new identity, whether to find friends on the LAN.
        passphrase: unseals the household key if it is sealed.
        timeout: the client's timeout for any one answer.

    Raises:
        UsageError: no identity in `data_dir` and no `name` to create one.
        CitizenError: the node could not start (another daemon uses the data
            dir, the listen port is taken, ...).
    """
    home = Path(data_dir).expanduser()
    if not Keystore(home).exists():
        if not name:
            raise UsageError(
                f"{home} has no household identity yet.",
                "Pass name='Your household' to create one.",
            )
        await anyio.to_thread.run_sync(lambda: create_identity(home, name, device_name, mdns=mdns))
    options = NodeOptions(
        data_dir=home,
        listen=tuple(listen) if listen is not None else None,
        offline=offline,
        passphrase=passphrase if passphrase is not None else os.environ.get("CITIZEN_PASSPHRASE"),
    )
    node = _NodeThread(options)
    await node.start()
    try:
        async with connect(home, timeout=timeout) as client:
            yield client
    finally:
        with anyio.CancelScope(shield=True):
            await node.stop()
    if node.error is not None:
        raise node.error
