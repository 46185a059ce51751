"""The drift guard: an answer that does not fit its declared model fails; so does a bad request.

`citizen.api.bodies` converts a service's dict into the route's model with
`msgspec.convert`; since every model refuses unknown fields, a field a
service adds without the model (and so without the OpenAPI document and the
SDK) raises instead of going out. tests/api/test_contract.py then runs every
real route and decodes each answer with its declared model.
"""

from __future__ import annotations

import logging

import msgspec
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.testclient import TestClient

from citizen.api.app import build_app
from citizen.api.bodies import ResponseShapeError, decode_as, encode_as
from citizen.api.context import ApiContext
from citizen.api.models import AcceptInvite, CreateInvite, Friend, ObjectRef, Pairing
from citizen.api.operations import BodyOperation
from citizen.errors import UsageError

DEVICE: dict[str, object] = {
    "device": "12D4",
    "name": "beta-pi",
    "online": True,
    "connection": "direct",
    "last_seen": 5,
    "addrs": ["/ip4/127.0.0.1/tcp/4001"],
}
FRIEND: dict[str, object] = {
    "household": "HH2",
    "name": "beta",
    "online": True,
    "last_seen": 5,
    "paired_at": 1700000000,
    "sas": ["a", "b", "c", "d"],
    "offer_bytes": None,
    "devices": [DEVICE],
}


def test_an_answer_that_fits_is_encoded_as_it_came() -> None:
    assert msgspec.json.decode(encode_as([FRIEND], list[Friend])) == [FRIEND]
    # JSON has text keys where a model has share numbers; both ways
    ref = {
        "object_id": "o",
        "name": "a",
        "size": 1,
        "segments": 1,
        "k": 1,
        "n": 1,
        "created": 1,
        "state": "complete",
        "local": True,
        "placement": {"0": "HH2"},
        "bad": {},
        "protection": "local only",
        "survives": None,
        "target_survives": 0,
    }
    assert msgspec.json.decode(encode_as(ref, ObjectRef)) == ref


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ({**FRIEND, "nickname": "b"}, "unknown field `nickname`"),
        ({**FRIEND, "devices": [{**DEVICE, "rtt_ms": 3}]}, r"unknown field `rtt_ms`.*devices\[0\]"),
        ({k: v for k, v in FRIEND.items() if k != "sas"}, "missing required field `sas`"),
        ({**FRIEND, "devices": [{**DEVICE, "connection": "carrier pigeon"}]}, "connection"),
        ({**FRIEND, "paired_at": "yesterday"}, "paired_at"),
        ({**FRIEND, "online": 1}, "online"),
    ],
)
def test_an_answer_off_its_model_raises(answer: dict[str, object], problem: str) -> None:
    with pytest.raises(ResponseShapeError, match=problem):
        encode_as(answer, Friend)
    with pytest.raises(ResponseShapeError, match=problem):
        encode_as([answer], list[Friend])


PAIR = BodyOperation(
    method="POST",
    path="/pair",
    operation_id="pair",
    tag="test",
    summary="A route whose service grew a field the model lacks.",
    request=AcceptInvite,
    response=Pairing,
    ok="Paired.",
)


def _client(answer: dict[str, object]) -> TestClient:
    async def pair(request: Request) -> Response:
        body = await PAIR.read(request)
        return PAIR.respond({**answer, "name": body.name or "beta"})

    app = build_app(ApiContext(status=lambda: {}), "token", [PAIR.route(pair)])
    auth = {"Authorization": "Bearer token"}  # the test client looks like TCP
    return TestClient(app, raise_server_exceptions=False, headers=auth)


def test_a_route_answering_a_field_its_model_lacks_fails(caplog: pytest.LogCaptureFixture) -> None:
    good: dict[str, object] = {"household": "HH2", "sas": ["a", "b", "c", "d"]}
    ok = _client(good).post("/pair", json={"code": "CC1X"})
    assert ok.status_code == 200 and ok.json() == {**good, "name": "beta"}
    with caplog.at_level(logging.ERROR):
        drifted = _client({**good, "trust_level": 3}).post("/pair", json={"code": "CC1X"})
    assert drifted.status_code == 500 and drifted.json()["error"] == "internal"
    assert "trust_level" not in drifted.text  # nothing of the answer leaks out
    assert "unknown field `trust_level`" in caplog.text  # the daemon's log names it


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"code": "CC1X", "expires": 3}', "unknown field `expires`"),
        (b'{"code": "   "}', "code"),
        (b'{"code": 5}', "code"),
        (b'{"name": "x"}', "missing required field `code`"),
        (b'{"code": "CC1X", "name": "' + b"n" * 129 + b'"}', "name"),
        (b"[]", "object"),
        (b"{", "not valid JSON"),
        (b"x" * (1024 * 1024 + 1), "larger than"),
    ],
)
def test_a_request_off_its_model_is_a_usage_error(body: bytes, problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        decode_as(body, AcceptInvite)


def test_a_request_gets_its_defaults_and_its_constraints() -> None:
    assert decode_as(b"", CreateInvite) == CreateInvite(expires_s=600, qr_svg=False)
    assert decode_as(b'{"expires_s": 60, "qr_svg": true}', CreateInvite).qr_svg
    for bad in (b'{"expires_s": 0}', b'{"expires_s": 604801}', b'{"expires_s": true}'):
        with pytest.raises(UsageError, match="expires_s"):
            decode_as(bad, CreateInvite)
