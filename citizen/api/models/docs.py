"""Docs: create, list, show, edit by path, history, share and unshare, delete."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from citizen.api.models.base import JsonValue, Model, Text
from citizen.ids import DocId, HouseholdId

#: the `{doc}` path parameter
DocIdText = Annotated[
    str,
    msgspec.Meta(
        pattern="^[^/.][^/]{0,199}$",
        description="Doc ID (base58 of 16 bytes), its title, or a unique prefix of either.",
    ),
]
DocRole = Literal["owner", "writer", "reader"]
AutomergeUrl = Annotated[
    str,
    msgspec.Meta(
        description="The doc's automerge-repo URL (`automerge:` + base58check of its 16 bytes),"
        " for `repo.find()` over /v1/automerge-repo."
    ),
]
Heads = Annotated[
    tuple[str, ...], msgspec.Meta(description="The doc's heads (change hashes, hex), sorted.")
]


# -- requests --------------------------------------------------------------------------


class CreateDoc(Model, frozen=True, kw_only=True):
    """A new doc owned by this household."""

    title: Annotated[str, msgspec.Meta(max_length=200)]


class ChangeDoc(Model, frozen=True, kw_only=True):
    """One edit at a dotted path (``items.0.done``); "set" and "append" need a `value`."""

    op: Literal["set", "del", "append"]
    path: Text = ""
    value: JsonValue | msgspec.UnsetType = msgspec.UNSET


class ShareDoc(Model, frozen=True, kw_only=True):
    """Share a doc with a friend household (ID or name)."""

    friend: Text
    role: Literal["reader", "writer"]


class UnshareDoc(Model, frozen=True, kw_only=True):
    """Stop sharing a doc with a friend household (ID or name)."""

    friend: Text


# -- responses -------------------------------------------------------------------------


class CreatedDoc(Model, frozen=True, kw_only=True):
    """The new doc."""

    doc_id: DocId
    title: str
    owner: HouseholdId
    url: AutomergeUrl


class DocShare(Model, frozen=True, kw_only=True):
    """A friend household one of our docs is shared with, and as what."""

    friend: HouseholdId
    role: Literal["reader", "writer"]


class DocInfo(Model, frozen=True, kw_only=True):
    """A doc this household holds: its own, or one a friend shared with it."""

    doc_id: DocId
    title: str
    owner: HouseholdId
    url: AutomergeUrl
    role: Annotated[DocRole, msgspec.Meta(description="What this household may do with it.")]
    updated: Annotated[str, msgspec.Meta(description="When it last changed here (ISO 8601).")]
    changes_since_snapshot: int
    shared_with: Annotated[
        tuple[DocShare, ...], msgspec.Meta(description="For our own docs: who it is shared with.")
    ]


class DocPeer(Model, frozen=True, kw_only=True):
    """A friend household that syncs the doc: in sync (same heads), behind, or offline."""

    household: HouseholdId
    name: Annotated[str, msgspec.Meta(description="The friend's display name.")]
    state: Literal["in sync", "behind", "offline"]


class DocView(Model, frozen=True, kw_only=True):
    """The doc as JSON (or the value at `path`), its heads and its peers' sync state."""

    doc_id: DocId
    title: str
    owner: HouseholdId
    url: AutomergeUrl
    role: DocRole
    heads: Heads
    value: JsonValue
    peers: tuple[DocPeer, ...]


class DocHeads(Model, frozen=True, kw_only=True):
    """An edit committed: the doc's new heads."""

    doc_id: DocId
    heads: Heads


class DocChange(Model, frozen=True, kw_only=True):
    """One change of a doc's history."""

    hash: str
    actor: str
    seq: int
    time: Annotated[str | None, msgspec.Meta(description="When it was made (ISO 8601).")]
    message: str | None


class SharedDoc(Model, frozen=True, kw_only=True):
    """A doc shared: with which friend household, named what, as what role."""

    doc_id: DocId
    friend: HouseholdId
    name: str
    role: Literal["reader", "writer"]


class UnsharedDoc(Model, frozen=True, kw_only=True):
    """A doc no longer shared with a friend household."""

    doc_id: DocId
    friend: HouseholdId
    unshared: bool


class DeletedDoc(Model, frozen=True, kw_only=True):
    """A doc deleted here (friends keep their replicas)."""

    doc_id: DocId
    deleted: bool
