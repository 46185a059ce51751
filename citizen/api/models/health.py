"""`GET /v1/health`: the doctor's verdicts, one per line of `citizen doctor`."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from citizen.api.models.base import Model

Level = Literal["ok", "warn", "fail"]


class HealthCheck(Model, frozen=True, kw_only=True):
    """One verdict: which check, how bad, what is wrong, and what to do about it."""

    check: Annotated[
        Literal["clock", "disk", "reachability", "friends", "data", "config", "daemon"],
        msgspec.Meta(description="The area checked."),
    ]
    level: Level
    message: str
    hint: Annotated[str, msgspec.Meta(description="What to do; empty when all is well.")] = ""


class Health(Model, frozen=True, kw_only=True):
    """Every check's verdicts and the worst level among them."""

    level: Annotated[Level, msgspec.Meta(description="The worst verdict.")]
    checks: tuple[HealthCheck, ...]
