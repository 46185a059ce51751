"""A blocking client for scripts: `with connect_sync() as c: c.status()`.

It runs the async client on an event loop in a helper thread (an anyio
blocking portal) and waits for each answer, so a script needs no async code
and the two clients can never disagree.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from anyio.from_thread import BlockingPortal, start_blocking_portal

from citizen_sdk._http import DEFAULT_TIMEOUT
from citizen_sdk.client import Client, Friends, Invites, connect
from citizen_sdk.types import Friend, Invite, InviteState, Pairing, RemovedFriend, Status


class SyncFriends:
    """Blocking `Client.friends`."""

    def __init__(self, portal: BlockingPortal, friends: Friends) -> None:
        self._portal = portal
        self._friends = friends

    def list(self) -> builtins.list[Friend]:
        """See `Friends.list`."""
        return self._portal.call(self._friends.list)

    def remove(self, friend: str) -> RemovedFriend:
        """See `Friends.remove`."""
        return self._portal.call(self._friends.remove, friend)


class SyncInvites:
    """Blocking `Client.invites`."""

    def __init__(self, portal: BlockingPortal, invites: Invites) -> None:
        self._portal = portal
        self._invites = invites

    def create(self, expires_s: int = 600) -> Invite:
        """See `Invites.create`."""
        return self._portal.call(self._invites.create, expires_s)

    def status(self, invite_id: str) -> InviteState:
        """See `Invites.status`."""
        return self._portal.call(self._invites.status, invite_id)

    def accept(self, code: str, name: str | None = None) -> Pairing:
        """See `Invites.accept`."""
        return self._portal.call(partial(self._invites.accept, code, name))


class SyncClient:
    """Blocking twin of `Client`: the same areas and methods, without `await`."""

    def __init__(self, portal: BlockingPortal, client: Client) -> None:
        self._portal = portal
        self._client = client
        self.friends = SyncFriends(portal, client.friends)
        self.invites = SyncInvites(portal, client.invites)

    @property
    def where(self) -> str:
        """The socket path or URL this client talks to."""
        return self._client.where

    def status(self) -> Status:
        """See `Client.status`."""
        return self._portal.call(self._client.status)


@contextmanager
def connect_sync(
    data_dir: Path | str | None = None,
    *,
    url: str | None = None,
    token: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Iterator[SyncClient]:
    """Blocking `connect()`, for scripts; the same arguments.

    Raises:
        DaemonNotRunningError: no daemon socket in the data dir.
    """
    with start_blocking_portal() as portal:
        manager = connect(data_dir, url=url, token=token, timeout=timeout)
        with portal.wrap_async_context_manager(manager) as client:
            yield SyncClient(portal, client)
