"""The exceptions the SDK raises: the daemon's own `citizen.errors` classes, found by error code.

An error body `{"error": "not_found", ...}` from the daemon is raised as
`citizen.errors.NotFoundError` with the daemon's message and hint, so
`except citizen_sdk.NotFoundError` and `except citizen_sdk.CitizenError` work
as they read. A code this SDK does not know becomes the nearest class by
HTTP status (or `CitizenError`), never a bare HTTP error.
"""

from __future__ import annotations

from citizen.errors import (
    CitizenError,
    ConfigError,
    DaemonNotRunningError,
    IdentityError,
    InviteError,
    NotAuthorizedError,
    NotFoundError,
    ProtocolError,
    QuotaError,
    RemoteProtocolError,
    UnreachableError,
    UsageError,
)

__all__ = [
    "CitizenError",
    "ConfigError",
    "DaemonNotRunningError",
    "DocClosedError",
    "IdentityError",
    "InviteError",
    "NotAuthorizedError",
    "NotFoundError",
    "ProtocolError",
    "QuotaError",
    "RemoteProtocolError",
    "UnreachableError",
    "UsageError",
    "error_for",
]


class DocClosedError(CitizenError):
    """An open doc's handle was closed, or its connection to the daemon ended."""

    code = "doc_closed"


# Codes the API's own layer uses, not tied to one exception class.
_API_CODES: dict[str, type[CitizenError]] = {
    "unauthorized": NotAuthorizedError,
    "internal": CitizenError,
}


def _class_for(code: str) -> type[CitizenError] | None:
    """Walk the CitizenError tree now, so subclasses defined after import are found too."""
    pending: list[type[CitizenError]] = [CitizenError]
    while pending:
        kind = pending.pop(0)
        if kind.code == code:
            return kind
        pending.extend(kind.__subclasses__())
    return _API_CODES.get(code)


_BY_STATUS: dict[int, type[CitizenError]] = {
    400: UsageError,
    401: NotAuthorizedError,
    403: NotAuthorizedError,
    404: NotFoundError,
    409: UnreachableError,
    413: QuotaError,
    502: RemoteProtocolError,
}


def error_for(status: int, body: object) -> CitizenError:
    """The exception for an HTTP error answer with JSON `body` (any decoded value)."""
    if isinstance(body, dict):
        code, message, hint = body.get("error"), body.get("message"), body.get("hint")
        if isinstance(code, str) and isinstance(message, str):
            kind = _class_for(code) or _BY_STATUS.get(status, CitizenError)
            return kind(message, hint if isinstance(hint, str) else "")
    kind = _BY_STATUS.get(status, CitizenError)
    return kind(f"The daemon answered HTTP {status}.", "See the daemon's log.")
