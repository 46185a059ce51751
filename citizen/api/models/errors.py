"""The error body every failing request of the local API answers with."""

from __future__ import annotations

from typing import Annotated

import msgspec

from citizen.api.models.base import Model


class ErrorBody(Model, frozen=True, kw_only=True):
    """Every error the local API returns. `error` is a stable machine code."""

    error: Annotated[str, msgspec.Meta(examples=["not_found", "usage", "unauthorized"])]
    message: Annotated[str, msgspec.Meta(description="What happened, for a person.")]
    hint: Annotated[str, msgspec.Meta(description="What to do about it (may be empty).")]
