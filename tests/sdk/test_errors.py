"""The daemon's error bodies become the matching `citizen.errors` classes."""

from __future__ import annotations

import pytest
from citizen_sdk.errors import error_for

from citizen import errors


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("not_found", errors.NotFoundError),
        ("usage", errors.UsageError),
        ("invite", errors.InviteError),
        ("certificate", errors.CertificateError),
        ("unreachable", errors.UnreachableError),
        ("remote_protocol", errors.RemoteProtocolError),
        ("unauthorized", errors.NotAuthorizedError),
        ("not_authorized", errors.NotAuthorizedError),
        ("internal", errors.CitizenError),
    ],
)
def test_codes_map_to_classes(code: str, kind: type[errors.CitizenError]) -> None:
    exc = error_for(418, {"error": code, "message": "It broke.", "hint": "Fix it."})
    assert type(exc) is kind
    assert (exc.message, exc.hint) == ("It broke.", "Fix it.")


def test_a_subclass_defined_later_is_found() -> None:
    class LaterError(errors.NotFoundError):
        code = "later_test_only"

    assert type(error_for(404, {"error": "later_test_only", "message": "m"})) is LaterError


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (404, {"error": "brand_new_code", "message": "m", "hint": "h"}, errors.NotFoundError),
        (413, {"error": "brand_new_code", "message": "m"}, errors.QuotaError),
        (418, {"error": "brand_new_code", "message": "m"}, errors.CitizenError),
        (404, None, errors.NotFoundError),
        (400, [1, 2], errors.UsageError),
        (500, {"error": 5, "message": "m"}, errors.CitizenError),
        (401, "text", errors.NotAuthorizedError),
    ],
)
def test_unknown_or_garbled_bodies_fall_back_by_status(
    status: int, body: object, kind: type[errors.CitizenError]
) -> None:
    exc = error_for(status, body)
    assert type(exc) is kind
    assert exc.message
