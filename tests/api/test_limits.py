"""Bodies are bounded while read, deep nesting is a 400, and no route failure escapes the app.

Each of these took the daemon down or let it balloon before: a 50 MB body was
read whole before the 1 MiB check (RSS 105 → 258 MB), deeply nested JSON was a
500 `RecursionError`, and an Automerge panic (a `BaseException`) went past
``except Exception`` to the daemon's root nursery.
"""

from __future__ import annotations

import errno

import pytest
from automerge.core import ROOT, Document, ScalarType
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from citizen.api.app import build_app
from citizen.api.bodies import MAX_JSON_BODY, read_body
from citizen.api.context import ApiContext
from citizen.api.models import ChangeDoc


def _panic_type() -> type[BaseException]:
    """pyo3's PanicException, got the way the daemon met it: a key that is not UTF-8."""
    doc = Document()
    try:
        with doc.transaction() as tx:
            tx.put(ROOT, "k\udcff", ScalarType.Int, 1)
    except BaseException as exc:
        assert not isinstance(exc, Exception)
        return type(exc)
    raise AssertionError("the bindings no longer panic on a lone surrogate")


PANIC = _panic_type()


async def _change(request: Request) -> Response:
    body = await read_body(request, ChangeDoc)
    return Response(body.op)


async def _panics(_request: Request) -> Response:
    raise PANIC("not yet implemented")


async def _disk_full(_request: Request) -> Response:
    raise OSError(errno.ENOSPC, "No space left on device")


async def _ws_panics(ws: WebSocket) -> None:
    await ws.accept()
    await ws.receive_bytes()
    raise PANIC("not yet implemented")


def _client() -> TestClient:
    routes: list[BaseRoute] = [
        Route("/change", _change, methods=["POST"]),
        Route("/panic", _panics),
        Route("/full", _disk_full),
        WebSocketRoute("/ws", _ws_panics),
    ]
    app = build_app(ApiContext(status=lambda: {}), "token", routes)
    return TestClient(app, raise_server_exceptions=False, headers={"Authorization": "Bearer token"})


def test_deeply_nested_json_is_a_400_not_a_500() -> None:
    deep = b'{"op":"set","path":"m","value":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    answer = _client().post("/change", content=deep)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "usage" and "nested" in answer.json()["message"]


def test_a_declared_length_past_the_limit_is_refused_with_413() -> None:
    answer = _client().post("/change", content=b" " * (MAX_JSON_BODY + 1))
    assert answer.status_code == 413
    assert answer.json()["error"] == "too_large" and answer.json()["hint"]


async def test_a_body_without_length_is_refused_once_it_passes_the_limit_not_read_whole() -> None:
    app = _client().app
    chunk = b" " * 65536
    total_chunks = 50 * 16  # 50 MiB, as the daemon was sent
    received = 0
    answer: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        nonlocal received
        received += 1
        more = received < total_chunks
        return {"type": "http.request", "body": chunk, "more_body": more}

    async def send(message: dict[str, object]) -> None:
        answer.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/change",
        "raw_path": b"/change",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"transfer-encoding", b"chunked")],
        "client": None,
        "server": None,  # the Unix socket: no token
    }
    await app(scope, receive, send)
    assert answer[0]["type"] == "http.response.start" and answer[0]["status"] == 413
    assert b"too_large" in b"".join(bytes(m.get("body", b"")) for m in answer[1:])  # type: ignore[arg-type]
    # it stopped reading soon after 1 MiB: the rest never went into memory
    assert received <= MAX_JSON_BODY // len(chunk) + 2


@pytest.mark.parametrize(
    "body",
    [
        b'{"op":"set","path":"m","value":{"\\ud800":1}}',
        b'{"op":"set","path":"k\\udcff","value":1}',
    ],
)
def test_a_lone_surrogate_in_a_body_is_refused_as_not_utf8(body: bytes) -> None:
    answer = _client().post("/change", content=body)
    assert answer.status_code == 400
    assert answer.json()["error"] == "not_utf8" and "UTF-8" in answer.json()["hint"]


def test_a_panic_in_a_route_is_a_500_and_the_app_keeps_answering() -> None:
    client = _client()
    answer = client.get("/panic")
    assert answer.status_code == 500 and answer.json()["error"] == "automerge_panic"
    assert client.post("/change", content=b'{"op":"del","path":"x"}').text == "del"


def test_a_panic_in_a_websocket_closes_that_socket_only() -> None:
    client = _client()
    with client.websocket_connect("/ws") as ws:
        ws.send_bytes(b"hello")
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_bytes()
    assert closed.value.code == 1011
    assert client.post("/change", content=b'{"op":"del","path":"x"}').text == "del"


def test_a_full_disk_is_a_typed_507() -> None:
    answer = _client().get("/full")
    assert answer.status_code == 507
    assert answer.json()["error"] == "disk_full" and "Free space" in answer.json()["hint"]
