"""This household's devices: enroll a new one, list them, revoke one."""

from __future__ import annotations

from typing import Annotated

import msgspec

from citizen.api.models.base import Model
from citizen.ids import DeviceId

MAX_CODE_SECONDS = 24 * 3600

#: the `{device}` path parameter
DeviceRef = Annotated[str, msgspec.Meta(pattern="^[^/.][^/]*$", description="Device ID or name.")]


class EnrollDevice(Model, frozen=True, kw_only=True):
    """Make a one-time code for a new device of this household."""

    expires_s: Annotated[
        int,
        msgspec.Meta(ge=1, le=MAX_CODE_SECONDS, description="Seconds until the code expires."),
    ] = 600


class Enrollment(Model, frozen=True, kw_only=True):
    """The code for `citizen init --join`."""

    code: str
    expires: Annotated[int, msgspec.Meta(description="Unix time the code expires.")]
    invite_id: str


class HouseholdDevice(Model, frozen=True, kw_only=True):
    """A device of this household; `last_seen` is left out for this device (and never-seen ones)."""

    device: DeviceId
    name: str
    this_device: bool
    holds_household_key: bool
    online: bool
    last_seen: Annotated[
        int | None, msgspec.Meta(description="Unix time it was last connected.")
    ] = None


class RevokedDevice(Model, frozen=True, kw_only=True):
    """A device revoked for good: friends and our devices refuse it from now on."""

    device: DeviceId
    name: str
    revoked: bool
