"""Objects (put, list, evict, restore, remove, verify, repair) and storage both ways."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from citizen.api.models.base import Model, UnixTime
from citizen.ids import HouseholdId, ObjectId

ObjectState = Literal["complete", "under-replicated"]
#: how protected an object is: no friend holds any of it, not yet at the target, at it
Protection = Literal["local only", "spreading", "protected"]

#: the `{object_id}` path parameter
ObjectIdText = Annotated[str, msgspec.Meta(description="Object ID (base58 of 16 bytes).")]
#: the `name` query parameter of a put
ObjectName = Annotated[str, msgspec.Meta(description="What to call the object.")]


# -- requests --------------------------------------------------------------------------


class ObjectSelector(Model, frozen=True, kw_only=True):
    """One object (by ID), or every object when `object_id` is null or left out."""

    object_id: str | None = None


#: the longest one wait request lasts; clients that want longer ask again
MAX_WAIT = 60.0


class ProtectionWait(Model, frozen=True, kw_only=True):
    """How long to wait for an object to reach the household's target protection.

    One request waits at most `MAX_WAIT` seconds (a long poll); ask again to wait longer.
    """

    timeout: Annotated[
        float, msgspec.Meta(ge=0, le=MAX_WAIT, description="Seconds, at most 60.")
    ] = MAX_WAIT


# -- responses -------------------------------------------------------------------------


class ObjectRef(Model, frozen=True, kw_only=True, omit_defaults=False):
    """A file stored across friends, as the household index records it.

    Every field is always sent (`protection` and `survives` have defaults only so
    that older records decode).
    """

    object_id: ObjectId
    name: str
    size: Annotated[int, msgspec.Meta(description="Bytes.")]
    segments: int
    k: int
    n: int
    created: UnixTime
    state: Annotated[
        ObjectState, msgspec.Meta(description='"under-replicated" until repair places every share.')
    ]
    protection: Annotated[
        Protection,
        msgspec.Meta(
            description='"local only" while no friend holds any of it, "spreading" until it'
            ' survives `target_survives` friend losses, then "protected".'
        ),
    ] = "local only"
    survives: Annotated[
        int | None,
        msgspec.Meta(
            description="Friend households it survives the loss of (besides every own"
            " device); null: it lives only on this household's devices."
        ),
    ] = None
    target_survives: Annotated[
        int, msgspec.Meta(description="The household's target for `survives` now.")
    ] = 0
    local: Annotated[bool, msgspec.Meta(description="This device keeps a plaintext copy.")]
    placement: Annotated[
        dict[int, HouseholdId],
        msgspec.Meta(description="Share number -> the friend household holding it."),
    ]
    bad: Annotated[
        dict[HouseholdId, tuple[int, ...]],
        msgspec.Meta(description="Friend household -> share numbers it lost or damaged."),
    ]


class EvictedObject(ObjectRef, frozen=True, kw_only=True):
    """The object after an evict, and whether a local copy was dropped."""

    evicted: bool

    @property
    def ref(self) -> ObjectRef:
        """The object, as `GET /v1/objects` lists it."""
        return ObjectRef(
            object_id=self.object_id,
            name=self.name,
            size=self.size,
            segments=self.segments,
            k=self.k,
            n=self.n,
            created=self.created,
            state=self.state,
            protection=self.protection,
            survives=self.survives,
            target_survives=self.target_survives,
            local=self.local,
            placement=self.placement,
            bad=self.bad,
        )


class RestoredObject(Model, frozen=True, kw_only=True):
    """The object's local copy is back (`restored` is false if it was there already)."""

    object_id: ObjectId
    restored: bool
    size: int


class RemovedObject(Model, frozen=True, kw_only=True):
    """An object deleted here and (signed) at the friends holding its shares."""

    object_id: ObjectId
    removed: bool
    deleted: Annotated[
        dict[HouseholdId, int], msgspec.Meta(description="Friend household -> shares deleted.")
    ]
    unreachable: Annotated[
        tuple[HouseholdId, ...],
        msgspec.Meta(description="Holders that were offline; a later repair reclaims theirs."),
    ]


class ShareProblem(Model, frozen=True, kw_only=True):
    """A share (number) of one segment that a holder lacks or holds damaged."""

    share_number: int
    segment: int


class HolderCheck(Model, frozen=True, kw_only=True):
    """What one friend household proved about the shares of one object."""

    household: HouseholdId
    share_numbers: tuple[int, ...]
    ok: int
    missing: tuple[ShareProblem, ...]
    bad: tuple[ShareProblem, ...]
    unreachable: Annotated[
        str | None, msgspec.Meta(description="Why it could not be asked, or null.")
    ]
    proofs_checked: Annotated[
        bool,
        msgspec.Meta(
            description="Proofs were compared with our local copy (else only answered ones "
            "could be told from refusals)."
        ),
    ]
    healthy: bool


class ObjectCheck(Model, frozen=True, kw_only=True):
    """One object's verification: every holder's answer."""

    object_id: ObjectId
    name: str
    holders: tuple[HolderCheck, ...]
    healthy: bool


class ShareMove(Model, frozen=True, kw_only=True):
    """A share number given a new holder."""

    from_: Annotated[str, msgspec.Meta(description='The old holder, or "" if none.')] = (
        msgspec.field(name="from")
    )
    to: HouseholdId


class RepairedObject(Model, frozen=True, kw_only=True):
    """What repair did to one object: `state`, `moved`, `resent` and `failed`; or only `error`.

    The fields of the other case are left out of the JSON (`msgspec.UNSET` here,
    which is falsy): ``if r.error: ...`` tells a failed object from a repaired one.
    """

    object_id: ObjectId
    state: ObjectState | msgspec.UnsetType = msgspec.UNSET
    moved: (
        Annotated[dict[int, ShareMove], msgspec.Meta(description="Share number -> its move.")]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    resent: (
        Annotated[dict[int, int], msgspec.Meta(description="Share number -> segments re-sent.")]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    failed: (
        Annotated[
            tuple[int, ...], msgspec.Meta(description="Share numbers that could not be re-made.")
        ]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    error: (
        Annotated[str, msgspec.Meta(description="Why repairing this object failed.")]
        | msgspec.UnsetType
    ) = msgspec.UNSET


class RepairReport(Model, frozen=True, kw_only=True):
    """What repair did."""

    objects: tuple[RepairedObject, ...]
    reclaimed: Annotated[
        dict[HouseholdId, int],
        msgspec.Meta(description="Friend household -> orphan shares (interrupted puts) deleted."),
    ]


class HeldForFriend(Model, frozen=True, kw_only=True):
    """Storage we give one friend household: bytes of its shares here, and its quota."""

    household: HouseholdId
    name: str
    used: int
    quota: int


class HeldByFriend(Model, frozen=True, kw_only=True):
    """Bytes of our shares one friend household holds."""

    household: HouseholdId
    name: str
    bytes: int


class ProtectionCounts(Model, frozen=True, kw_only=True, omit_defaults=False):
    """How many objects are in each protection state."""

    local_only: int = msgspec.field(name="local only", default=0)
    spreading: int = 0
    protected: int = 0


class EncodingTarget(Model, frozen=True, kw_only=True):
    """The k-of-n that fits the friends now, and the friend losses it survives once placed."""

    k: int
    n: int
    survives: int


class UnheardFriend(Model, frozen=True, kw_only=True):
    """A friend household, by ID and name."""

    household: HouseholdId
    name: str


class Storage(Model, frozen=True, kw_only=True, omit_defaults=False):
    """Storage both ways."""

    held_for_friends: tuple[HeldForFriend, ...]
    held_by_friends: tuple[HeldByFriend, ...]
    under_replicated: Annotated[
        tuple[ObjectId, ...], msgspec.Meta(description="Objects repair still has to complete.")
    ]
    under_protected: Annotated[
        tuple[ObjectId, ...],
        msgspec.Meta(
            description="Objects below the target protection (counting no holder that was"
            " removed or unheard of past the grace period)."
        ),
    ] = ()
    protection: ProtectionCounts = msgspec.field(default_factory=ProtectionCounts)
    target: EncodingTarget | None = None
    unheard: Annotated[
        tuple[UnheardFriend, ...],
        msgspec.Meta(
            description="Friends unheard of past the grace period: their shares do not count."
        ),
    ] = ()
    objects: Annotated[int, msgspec.Meta(description="Objects this household stores.")]
    local_bytes: Annotated[int, msgspec.Meta(description="Bytes of plaintext copies here.")]
