"""The async client apps use: `async with connect() as c:` then `c.friends`, `c.invites`, ....

Works under trio and asyncio alike (httpx on anyio). Each area of the
daemon is one attribute holding a small class (`c.friends`, `c.invites`,
`c.docs`, `c.objects`), so `c.friends.list()` reads as what it does;
`c.events()` streams what happens.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from anyio.abc import TaskGroup

from citizen.api.models import AcceptInvite, CreateInvite, SetOffer
from citizen_sdk._http import DEFAULT_TIMEOUT, Channel, path_part
from citizen_sdk.docs import Docs
from citizen_sdk.events import EventStream
from citizen_sdk.folders import Folders
from citizen_sdk.objects import Objects
from citizen_sdk.types import (
    Friend,
    FriendOffer,
    Health,
    Invite,
    InviteState,
    Pairing,
    RemovedFriend,
    Status,
)


class Friends:
    """Friend households: list them, offer them storage, stop being friends."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel

    async def list(self) -> builtins.list[Friend]:
        """Every friend household with its devices and whether they are online."""
        return await self._channel.call(builtins.list[Friend], "GET", "/v1/friends")

    async def remove(self, friend: str) -> RemovedFriend:
        """Stop being friends with `friend` (household ID or exact name).

        Raises:
            NotFoundError: no such friend, or the name is ambiguous.
        """
        path = f"/v1/friends/{path_part(friend)}"
        return await self._channel.call(RemovedFriend, "DELETE", path)

    async def offer(self, friend: str, mib: int | None) -> int | None:
        """Offer `friend` `mib` MiB of storage for its shares (None: the configured default).

        Shares it already stores stay; new ones past the offer are refused.
        Returns the offer now in force, in bytes (None: the default).

        Raises:
            UsageError: `mib` is negative or too large.
            NotFoundError: no such friend, or the name is ambiguous.
        """
        path = f"/v1/friends/{path_part(friend)}/offer"
        answer = await self._channel.call(FriendOffer, "PUT", path, SetOffer(offer_mib=mib))
        return answer.offer_bytes


class Invites:
    """Invites: make one for a friend's household, or accept theirs."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel

    async def create(self, expires_s: int = 600) -> Invite:
        """A new invite valid for `expires_s` seconds, with its code and an SVG QR code.

        Raises:
            UsageError: `expires_s` is not between 1 second and a week.
        """
        body = CreateInvite(expires_s=expires_s, qr_svg=True)
        return await self._channel.call(Invite, "POST", "/v1/invites", body)

    async def status(self, invite_id: str) -> InviteState:
        """Whether the invite `invite_id` has been used, and by whom.

        Raises:
            NotFoundError: no such invite.
        """
        path = f"/v1/invites/{path_part(invite_id)}"
        return await self._channel.call(InviteState, "GET", path)

    async def accept(self, code: str, name: str | None = None) -> Pairing:
        """Pair with the household that made `code`; `name` is what we call them.

        Compare the returned `sas` words with the friend before trusting the pairing.

        Raises:
            InviteError: garbled, expired, forged or already used code.
            UnreachableError: the inviting device could not be reached.
        """
        body = AcceptInvite(code=code, name=name)
        return await self._channel.call(Pairing, "POST", "/v1/invites/accept", body)


class Client:
    """One connection to a household daemon.

    Attributes:
        friends: friend households.
        invites: pairing by invite code.
        docs: shared CRDT documents.
        objects: files stored across friends.
        folders: directories the daemon's device protects, their history, restores.
    """

    def __init__(self, channel: Channel, tasks: TaskGroup) -> None:
        self._channel = channel
        self.friends = Friends(channel)
        self.invites = Invites(channel)
        self.docs = Docs(channel, tasks)
        self.objects = Objects(channel)
        self.folders = Folders(channel)
        self._event_streams: set[EventStream] = set()

    @property
    def where(self) -> str:
        """The socket path or URL this client talks to."""
        return self._channel.where

    async def status(self) -> Status:
        """This device: household, device, listen addresses, uptime, friend count."""
        return await self._channel.call(Status, "GET", "/v1/status")

    async def health(self) -> Health:
        """What `citizen doctor` prints: each check's verdict (ok, warn, fail) and what to do."""
        return await self._channel.call(Health, "GET", "/v1/health")

    def events(self) -> EventStream:
        """Events as they happen: friends online/offline, docs changed.

        ``async for event in c.events():``, or ``async with c.events() as events:``
        to be connected before the block starts (no later event is missed).
        See `citizen_sdk.events`.
        """
        stream = EventStream(self._channel, self._event_streams.discard)
        self._event_streams.add(stream)
        return stream

    async def aclose(self) -> None:
        """Close open docs, event streams and the connection (done by `async with connect()`)."""
        for stream in list(self._event_streams):
            await stream.aclose()
        await self.docs.aclose()
        await self._channel.aclose()


@asynccontextmanager
async def connect(
    data_dir: Path | str | None = None,
    *,
    url: str | None = None,
    token: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> AsyncIterator[Client]:
    """Connect to the local daemon.

    Args:
        data_dir: the daemon's data dir; default `$CITIZEN_HOME`, else the
            platform's user data dir. Its Unix socket needs no token.
        url: talk TCP instead, e.g. "http://127.0.0.1:4748" (`[api] tcp_port`).
        token: the bearer token for `url`; default read from DATA_DIR/api.token.
        timeout: seconds to wait for any one answer.

    Raises:
        DaemonNotRunningError: no daemon socket in the data dir.
    """
    channel = Channel.open(data_dir, url, token, timeout)
    failure: BaseException | None = None
    # Open docs sync in tasks of this group. The app's own exception is kept out
    # of the group (it would come out wrapped in an ExceptionGroup) and
    # re-raised as itself once the group has ended.
    async with anyio.create_task_group() as tasks:
        client = Client(channel, tasks)
        try:
            yield client
        except BaseException as exc:
            failure = exc
        finally:
            with anyio.CancelScope(shield=True):
                await client.aclose()
            tasks.cancel_scope.cancel()
    if failure is not None:
        raise failure
