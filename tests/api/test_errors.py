"""The local API answers our errors with their status and message, also from a nursery's group."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from citizen.api.app import build_app
from citizen.api.context import ApiContext
from citizen.errors import QuotaError, UnreachableError, only_citizen_error

QUOTA = QuotaError("Friend f0 offers no more storage.", "Ask f0 for more, or add friends.")


def _client(exc: BaseException) -> TestClient:
    async def boom(_request: Request) -> Response:
        raise exc

    app = build_app(ApiContext(status=lambda: {}), "token", [Route("/boom", boom)])
    auth = {"Authorization": "Bearer token"}  # the test client looks like TCP
    return TestClient(app, raise_server_exceptions=False, headers=auth)


@pytest.mark.parametrize(
    "exc",
    [QUOTA, ExceptionGroup("put", [QUOTA]), ExceptionGroup("x", [ExceptionGroup("y", [QUOTA])])],
)
def test_a_quota_refusal_is_413_with_its_message_even_inside_a_group(exc: BaseException) -> None:
    answer = _client(exc).get("/boom")
    assert answer.status_code == 413
    assert answer.json() == {"error": "quota", "message": QUOTA.message, "hint": QUOTA.hint}


def test_a_group_with_anything_else_is_an_internal_error() -> None:
    mixed = ExceptionGroup("put", [QUOTA, RuntimeError("bug")])
    answer = _client(mixed).get("/boom")
    assert answer.status_code == 500 and answer.json()["error"] == "internal"


def test_only_citizen_error_unwraps_only_groups_of_ours() -> None:
    other = UnreachableError("gone")
    assert only_citizen_error(QUOTA) is QUOTA
    assert only_citizen_error(ExceptionGroup("g", [QUOTA, other])) is QUOTA
    assert only_citizen_error(ExceptionGroup("g", [QUOTA, ValueError()])) is None
    assert only_citizen_error(BaseExceptionGroup("g", [QUOTA, KeyboardInterrupt()])) is None
    assert only_citizen_error(ValueError()) is None
