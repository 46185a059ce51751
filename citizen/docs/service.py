"""The household's docs: local operations for the API, and who may sync what.

Local edits go through `DocCache.mutate` (committed before the call
returns) and are then pushed live by the `Replicator`. Sharing signs a grant
with the household key and sends it to the friend at once; a friend's grant
to us opens a local replica that sync fills. A doc we only hold as a reader
refuses local edits here, so a reader never diverges from the owner.

Text from the caller (paths, keys, values, titles, friend names) that is not
valid UTF-8 is refused before it reaches the bindings (`TextEncodingError`),
and a panic of the bindings in one doc is that call's `AutomergePanicError`:
the doc is reloaded from disk and the daemon carries on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

import trio
from automerge.core import ROOT, Document, ScalarType
from nacl.signing import SigningKey

from citizen.docs import values as docvalues
from citizen.docs.codec import DocInfo, DocMessage, Granted
from citizen.docs.replication import Link, Replicator
from citizen.docs.session import Effects, PeerRole
from citizen.errors import (
    AutomergePanicError,
    CitizenError,
    NotAuthorizedError,
    NotFoundError,
    UsageError,
)
from citizen.identity.fingerprints import household_id
from citizen.identity.grants import Grant, Role, sign_grant, verify_grant
from citizen.ids import DocId, HouseholdId, pick_one
from citizen.net.network import Net
from citizen.net.peers import Peers
from citizen.store.docs import DocCache, DocStore
from citizen.text import check_utf8

if TYPE_CHECKING:
    from trio_typing import TaskStatus

log = logging.getLogger(__name__)


class DocsService:
    """The docs of one household: local operations, sharing, and live replication.

    Serves doc replication on `net` and follows `peers` from construction on;
    links open once `run` has started. Offline (`OfflineNetwork`, `StoredPeers`)
    every local operation works the same; sharing asks for the network.

    Args:
        store: docs, their change logs and grants on disk.
        cache: the live docs, shared with the local API.
        household_key: our household public key.
        signer: the household signing key (asked for only when signing a grant).
        net: streams to and from devices.
        peers: friends and our own devices, and who of them is online.
        internal: docs the daemon keeps for itself (the household index): synced
            like any other, never listed among the user's docs.
    """

    def __init__(
        self,
        store: DocStore,
        cache: DocCache,
        household_key: bytes,
        signer: Callable[[], SigningKey],
        *,
        net: Net,
        peers: Peers,
        internal: Collection[DocId] = (),
    ) -> None:
        self.store = store
        self._internal = frozenset(internal)
        self.cache = cache
        self.household_key = household_key
        self.household = household_id(household_key)
        self._signer = signer
        self._net = net
        self._peers = peers
        self.replicator = Replicator(
            cache,
            household_key,
            net,
            access_for=self._access_for,
            grants_for=self._grants_for,
            on_effects=self._on_effects,
            household_key_of=self._household_key_of,
            household_of=peers.household_of,
            own=(self.household, self._intro, self._on_intro),
            friend_info=(self._titles_for, self._on_friend_info),
            name_of=self._name_of,
        )
        self._changed = trio.Event()
        self.change_counter = 0
        cache.on_local_change.append(self._local_change)
        peers.on_peer_ready(self.replicator.peer_ready)
        peers.on_peer_gone(self.replicator.peer_gone)
        peers.on_friend_removed(self._friend_removed)

    async def _local_change(self, doc_id: DocId) -> None:
        """Any local commit (CLI, SDK, the objects index): tell listeners, push to peers."""
        self._notify()
        await self.replicator.changed(doc_id)

    # -- running ---------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self.replicator.run(task_status=task_status)

    async def _name_of(self, household: HouseholdId) -> str:
        if household == self.household:
            return "our own device"
        return (await self._peers.friend(household)).name

    async def _household_key_of(self, household: HouseholdId) -> bytes:
        if household == self.household:
            return self.household_key
        return (await self._peers.friend(household)).household_key

    async def _intro(self) -> list[DocMessage]:
        """For our other devices: every doc's owner and title, and the grants we issued."""
        out: list[DocMessage] = [
            DocInfo(info.doc_id, info.owner, info.title) for info in await self.store.list_docs()
        ]
        out += [
            Granted(g.raw)
            for g in await self.store.list_grants(include_revoked=True)
            if g.owner_household == self.household
        ]
        return out

    async def _on_intro(self, msg: DocMessage) -> None:
        match msg:
            case DocInfo(doc_id=doc_id, owner=owner, title=title):
                try:
                    await self.store.info(doc_id)
                except NotFoundError:
                    await self.store.create(HouseholdId(owner), title, doc_id=doc_id)
            case Granted(grant=raw):
                try:
                    grant = verify_grant(raw, self.household_key)
                except CitizenError as exc:
                    log.warning("a household device sent a bad grant: %s", exc)
                    return
                await self.store.put_grant(grant)

    async def _titles_for(self, household: HouseholdId) -> list[DocMessage]:
        """For a friend: the titles of our docs shared with it (sync carries no title)."""
        out: list[DocMessage] = []
        for grant in await self.store.list_grants(friend=household):
            if grant.owner_household != self.household or grant.revoked:
                continue
            try:
                info = await self.store.info(grant.doc_id)
            except NotFoundError:
                continue
            out.append(DocInfo(info.doc_id, self.household, info.title))
        return out

    async def _on_friend_info(self, household: HouseholdId, msg: DocInfo) -> None:
        """A friend's title for a doc it owns and shared with us names our replica."""
        if msg.owner != household:
            log.info("%s sent a title for a doc it does not own; ignored", household)
            return
        try:
            info = await self.store.info(msg.doc_id)
        except NotFoundError:
            return  # not shared with us (yet): the grant comes first
        if info.owner != household or info.title == msg.title:
            return
        try:
            await self.store.set_title(msg.doc_id, msg.title)
        except CitizenError as exc:
            log.info("title of doc %s from %s not taken: %s", msg.doc_id, household, exc)
            return
        self._notify()

    async def _friend_removed(self, household: HouseholdId) -> None:
        await self.store.delete_friend_grants(household)

    # -- who may sync what ----------------------------------------------------------------

    async def _access_for(self, household: HouseholdId) -> dict[DocId, PeerRole]:
        if household == self.household:  # our own other devices sync every doc
            return {info.doc_id: "household" for info in await self.store.list_docs()}
        out: dict[DocId, PeerRole] = {}
        for grant in await self.store.list_grants(friend=household):
            out[grant.doc_id] = grant.role  # docs we own, shared with them
        for grant in await self.store.list_grants(friend=self.household):
            if grant.owner_household == household:
                out[grant.doc_id] = "writer"  # their docs: the owner's changes are accepted
        return out

    async def _grants_for(self, household: HouseholdId) -> list[bytes]:
        return [g.raw for g in await self.store.list_grants(friend=household)]

    async def _on_effects(self, link: Link, fx: Effects) -> None:
        for grant in fx.grants:
            await self._receive_grant(grant)
            await self.replicator.refresh_access(link)
            await self.replicator.changed(grant.doc_id)
        for refusal in fx.refused:
            log.warning(
                "refused changes to doc %s from %s: %s", refusal.doc_id, link.device, refusal.reason
            )
        if fx.persist:
            self._notify()

    async def _receive_grant(self, grant: Grant) -> None:
        """A friend (the owner) shared a doc with us, or withdrew it."""
        await self.store.put_grant(grant)
        if grant.revoked:
            log.info("friend %s withdrew doc %s", grant.owner_household, grant.doc_id)
            return
        try:
            await self.store.info(grant.doc_id)
        except NotFoundError:
            try:
                name = (await self._peers.friend(grant.owner_household)).name
            except NotFoundError:
                name = grant.owner_household
            await self.store.create(grant.owner_household, f"shared by {name}", doc_id=grant.doc_id)
            log.info("opened a replica of doc %s shared by %s", grant.doc_id, name)

    def _notify(self) -> None:
        self.change_counter += 1
        self._changed.set()
        self._changed = trio.Event()

    async def wait_changed(self) -> None:
        """Return at the next committed change of any doc (for events and live views)."""
        await self._changed.wait()

    # -- local operations (the API calls these) -------------------------------------------

    async def _role_here(self, doc_id: DocId) -> str:
        """'owner', 'writer' or 'reader': what this household may do with the doc."""
        info = await self.store.info(doc_id)
        if info.owner == self.household:
            return "owner"
        grant = await self.store.get_grant(doc_id, self.household)
        if grant is None or grant.revoked:
            return "reader"
        return grant.role

    async def create(self, title: str) -> dict[str, object]:
        check_utf8(title, "The doc title")
        doc_id = await self.store.create(self.household, title)
        # automerge-repo counts a peer as having a doc only once it has heads (its own
        # Repo.create makes an empty first change): without one an app's find() waits forever
        await self.cache.mutate(doc_id, _first_change)
        self._notify()
        await self._announce(doc_id, title)
        return {"doc_id": doc_id, "title": title, "owner": self.household}

    async def list_docs(self) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for info in await self.store.list_docs():
            if info.doc_id in self._internal:
                continue
            shared = await self.store.list_grants(doc_id=info.doc_id)
            out.append(
                {
                    "doc_id": info.doc_id,
                    "title": info.title,
                    "owner": info.owner,
                    "role": await self._role_here(info.doc_id),
                    "updated": info.updated.isoformat(),
                    "changes_since_snapshot": info.n_changes,
                    "shared_with": [
                        {"friend": g.friend_household, "role": g.role}
                        for g in shared
                        if g.owner_household == self.household
                    ],
                }
            )
        return out

    async def resolve(self, doc_text: str) -> DocId:
        """The doc `doc_text` names: its ID, its title, or a unique prefix of either.

        Raises:
            NotFoundError: no such doc here.
            AmbiguousError: several docs fit (the message lists them).
        """
        docs = [(info.doc_id, info.title) for info in await self.store.list_docs()]
        return DocId(pick_one(doc_text, docs, "doc", "See `citizen doc list`."))

    async def show(self, doc_text: str, path: str = "") -> dict[str, object]:
        doc_id = await self.resolve(doc_text)
        info = await self.store.info(doc_id)
        with docvalues.panics_contained(doc_id, "Reading"):
            doc = await self.cache.get(doc_id)
            heads = sorted(h.hex() for h in doc.get_heads())
            value = docvalues.to_json(doc, path)
        return {
            "doc_id": doc_id,
            "title": info.title,
            "owner": info.owner,
            "role": await self._role_here(doc_id),
            "heads": heads,
            "value": value,
            "peers": await self.peers(doc_id, info.owner),
        }

    async def peers(self, doc_id: DocId, owner: HouseholdId) -> list[dict[str, object]]:
        """Per friend household that syncs this doc: in sync (same heads), behind, or offline."""
        households = {
            g.friend_household
            for g in await self.store.list_grants(doc_id=doc_id)
            if g.owner_household == self.household
        }
        if owner != self.household:
            households.add(owner)
        out: list[dict[str, object]] = []
        with docvalues.panics_contained(doc_id, "Reading"):
            ours = frozenset((await self.cache.get(doc_id)).get_heads())
        for household in sorted(households):
            links = [
                link
                for link in self.replicator.links.values()
                if link.household == household and doc_id in link.docs
            ]
            if not links:
                state = "offline"
            elif any(link.their_heads.get(doc_id) == ours for link in links):
                state = "in sync"
            else:
                state = "behind"
            try:
                name = (await self._peers.friend(household)).name
            except NotFoundError:
                name = household  # no longer a friend
            out.append({"household": household, "name": name, "state": state})
        return out

    async def _edit(self, doc_text: str, edit: Callable[[Any], list[bytes]]) -> dict[str, object]:
        doc_id = await self.resolve(doc_text)
        role = await self._role_here(doc_id)
        if role == "reader":
            raise NotAuthorizedError(
                "You may only read this doc; its owner shared it read-only.",
                "Ask the owner to share it with you as writer.",
            )
        try:
            with docvalues.panics_contained(doc_id, "Changing"):
                await self.cache.mutate(doc_id, edit)  # pushed on by _local_change
        except CitizenError as exc:
            if isinstance(exc, AutomergePanicError):
                await self._reload(doc_id)  # a panic in a transaction poisons the live doc
            raise
        with docvalues.panics_contained(doc_id, "Reading"):
            doc = await self.cache.get(doc_id)
            return {"doc_id": doc_id, "heads": sorted(h.hex() for h in doc.get_heads())}

    async def _reload(self, doc_id: DocId) -> None:
        """Forget the live doc after a panic: the next use loads it from disk again."""
        log.warning("doc %s is reloaded from disk after a panic of the bindings", doc_id)
        self.cache.evict(doc_id)
        for link in list(self.replicator.links.values()):
            if doc_id in link.docs:
                await self.replicator.refresh_access(link)

    async def set(self, doc_text: str, path: str, value: object) -> dict[str, object]:
        return await self._edit(doc_text, lambda doc: docvalues.set_path(doc, path, value))

    async def delete_path(self, doc_text: str, path: str) -> dict[str, object]:
        return await self._edit(doc_text, lambda doc: docvalues.delete_path(doc, path))

    async def append(self, doc_text: str, path: str, value: object) -> dict[str, object]:
        return await self._edit(doc_text, lambda doc: docvalues.append_path(doc, path, value))

    async def history(self, doc_text: str) -> list[dict[str, object]]:
        doc_id = await self.resolve(doc_text)
        with docvalues.panics_contained(doc_id, "Reading the history of"):
            changes = docvalues.history(await self.cache.get(doc_id))
        return [
            {
                "hash": c.hash,
                "actor": c.actor,
                "seq": c.seq,
                "time": c.time.isoformat() if c.time else None,
                "message": c.message,
            }
            for c in changes
        ]

    async def share(self, doc_text: str, friend: str, role: str) -> dict[str, object]:
        doc_id = await self.resolve(doc_text)
        if role == "reader":
            checked: Role = "reader"
        elif role == "writer":
            checked = "writer"
        else:
            raise UsageError(f"Role must be reader or writer, not {role!r}.")
        check_utf8(friend, "The friend")
        info = await self.store.info(doc_id)
        if info.owner != self.household:
            raise NotAuthorizedError(
                "Only the household that owns a doc can share it.",
                "Ask its owner to share it.",
            )
        if not self._net.online:
            raise CitizenError("Sharing needs the network.", "Run the daemon without --offline.")
        target = await self._peers.resolve(friend)
        signed = sign_grant(self._signer(), doc_id, target.household_key, checked)
        await self.store.put_grant(_verified(signed))
        await self._push_grant(target.household, doc_id, signed)
        return {"doc_id": doc_id, "friend": target.household, "name": target.name, "role": role}

    async def unshare(self, doc_text: str, friend: str) -> dict[str, object]:
        doc_id = await self.resolve(doc_text)
        if not self._net.online:
            raise CitizenError("Unsharing needs the network.", "Run the daemon without --offline.")
        check_utf8(friend, "The friend")
        target = await self._peers.resolve(friend)
        current = await self.store.get_grant(doc_id, target.household)
        if current is None or current.revoked:
            raise NotFoundError(f"Doc {doc_id} is not shared with {target.name}.")
        signed = sign_grant(
            self._signer(), doc_id, target.household_key, current.role, revoked=True
        )
        await self.store.put_grant(_verified(signed))
        await self._push_grant(target.household, doc_id, signed)
        return {"doc_id": doc_id, "friend": target.household, "unshared": True}

    async def _announce(self, doc_id: DocId, title: str) -> None:
        """Tell our other devices about a new doc so they sync it too."""
        await self.replicator.send_to_household(
            self.household, [DocInfo(doc_id, self.household, title)]
        )
        for link in list(self.replicator.links.values()):
            if link.household == self.household:
                await self.replicator.refresh_access(link)
        await self.replicator.changed(doc_id)

    async def _push_grant(self, household: HouseholdId, doc_id: DocId, signed: bytes) -> None:
        self._notify()
        await self.replicator.send_to_household(self.household, [Granted(signed)])
        await self.replicator.send_to_household(household, [Granted(signed)])
        await self.replicator.send_to_household(household, await self._titles_for(household))
        for link in list(self.replicator.links.values()):
            if link.household == household:
                await self.replicator.refresh_access(link)
        await self.replicator.changed(doc_id)

    async def delete(self, doc_text: str) -> dict[str, object]:
        doc_id = await self.resolve(doc_text)
        info = await self.store.info(doc_id)
        if info.owner != self.household:
            raise NotAuthorizedError("Only the owning household can delete a doc.")
        await self.store.delete(doc_id)
        self.cache.evict(doc_id)
        for link in list(self.replicator.links.values()):
            await self.replicator.refresh_access(link)
        return {"doc_id": doc_id, "deleted": True}


def _first_change(doc: Document) -> list[bytes]:
    """A first change that leaves the root map empty (the bindings make no empty change)."""
    heads = doc.get_heads()
    with doc.transaction() as tx:
        tx.put(ROOT, "_", ScalarType.Null, None)
        tx.delete(ROOT, "_")
    return docvalues.new_changes(doc, heads)


def _verified(signed: bytes) -> Grant:
    return verify_grant(signed)
