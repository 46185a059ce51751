"""The household backup at friends: which version, which friends hold it, recovery."""

from __future__ import annotations

from typing import Annotated

import msgspec

from citizen.api.models.base import Model
from citizen.ids import HouseholdId


class BackupFriend(Model, frozen=True, kw_only=True):
    """A friend household holding a version of our backup."""

    household: HouseholdId
    name: str
    version: int
    current: Annotated[bool, msgspec.Meta(description="It holds the latest version.")]


class BackupStatus(Model, frozen=True, kw_only=True):
    """The household backup: its version, and which friends hold it."""

    enabled: Annotated[
        bool, msgspec.Meta(description="This device holds the household key, so it backs up.")
    ]
    version: int | None
    size: Annotated[int | None, msgspec.Meta(description="Bytes of the sealed backup.")]
    friends: tuple[BackupFriend, ...]
    recovering: bool
    recovered_version: int | None
    recovery_error: str
