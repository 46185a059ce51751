"""A browser's automerge-repo app: the token as a WebSocket subprotocol, a doc fresh from
`citizen doc new`, a doc the daemon lacks, and the doc's `automerge:` URL from the CLI."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
from collections.abc import Callable

import base58

from citizen.api.routes_automerge_repo import document_id
from citizen.ids import DocId, new_doc_id
from tests.api.tcp_daemon import start_with_tcp
from tests.api.test_automerge_repo import CLIENT, LIVE, _js_client_dir, _value
from tests.daemons import Daemon, wait_until


def _handshake(port: int, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    """A browser's WebSocket upgrade to /v1/automerge-repo: the status and response headers."""
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        "GET /v1/automerge-repo HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        "Origin: http://localhost:3000",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            assert chunk, "connection closed before the response head"
            head += chunk
    status_line, *fields = head.split(b"\r\n\r\n")[0].decode().split("\r\n")
    parsed = {k.strip().lower(): v.strip() for k, v in (f.split(":", 1) for f in fields)}
    return int(status_line.split(" ", 2)[1]), parsed


def test_a_browser_handshake_sends_the_token_as_a_subprotocol(
    make_daemon: Callable[[str], Daemon],
) -> None:
    d = make_daemon("alpha")
    api = start_with_tcp(d)
    offered = f"citizen, citizen.token.{api.token}"
    status, headers = _handshake(api.port, {"Sec-WebSocket-Protocol": offered})
    assert status == 101 and headers["sec-websocket-protocol"] == "citizen"
    # only the token offered: the daemon answers with it (a browser wants one it offered)
    only = f"citizen.token.{api.token}"
    status, headers = _handshake(api.port, {"Sec-WebSocket-Protocol": only})
    assert status == 101 and headers["sec-websocket-protocol"] == only
    near = (f"citizen, citizen.token.{api.token}x", f"citizen.token.{api.token[:-1]}")
    for wrong in ("citizen", *near):
        assert _handshake(api.port, {"Sec-WebSocket-Protocol": wrong})[0] == 401, wrong
    assert _handshake(api.port, {})[0] == 401


def test_automerge_repo_finds_a_new_doc_from_a_browser_style_client(
    make_daemon: Callable[[str], Daemon],
) -> None:
    js = _js_client_dir()
    a = make_daemon("alpha")
    api = start_with_tcp(a)
    doc = a.json("doc", "new", "Fresh")["doc_id"]  # no change made to it after `doc new`
    shown = a.json("doc", "show", doc)
    url = shown["url"]
    assert url == f"automerge:{document_id(DocId(doc))}" and shown["value"] == {}
    assert base58.b58decode_check(url.removeprefix("automerge:")) == base58.b58decode(doc)
    assert [x["url"] for x in a.json("doc", "list") if x["doc_id"] == doc] == [url]
    assert a.json("doc", "show", "Fresh")["doc_id"] == doc  # by its title
    assert a.json("doc", "show", doc[:6])["doc_id"] == doc  # by a unique prefix
    assert [x["title"] for x in a.json("doc", "list")] == ["Fresh"]  # not the household index
    missing = f"automerge:{document_id(new_doc_id())}"
    node = subprocess.Popen(
        [
            "node",
            str(js / CLIENT.name),
            f"ws://127.0.0.1:{api.port}/v1/automerge-repo",
            api.token,
            url,
            missing,
        ],
        cwd=js,
        env={**os.environ, "CITIZEN_AUTH": "subprotocol"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert node.stdout is not None and node.stdin is not None
        first = json.loads(node.stdout.readline() or "null")
        assert first and "unavailable" in first, node.stderr.read() if node.stderr else ""
        assert first["unavailable"] and "unavailable" in first["unavailable"].lower()
        read = json.loads(node.stdout.readline() or "null")
        assert read == {"read": {}}, node.stderr.read() if node.stderr else ""
        changed = json.loads(node.stdout.readline() or "null")
        assert changed == {"changed": {"fromNode": "hello"}}
        wait_until(lambda: _value(a, doc) == {"fromNode": "hello"}, "the JS edit on alpha")
        node.stdin.close()
        assert node.wait(timeout=LIVE) == 0
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()
