"""/v1/automerge-repo: the codec, bad frames, and the real automerge-repo JS client vs daemons."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import base58
import pytest
from citizen_sdk._websocket import Closed, Endpoint, connect_websocket
from hypothesis import given
from hypothesis import strategies as st

from citizen import cbor
from citizen.api.routes_automerge_repo import (
    Ignored,
    Join,
    RepoSync,
    decode_client_message,
    doc_id_of,
    document_id,
)
from citizen.config import SOCKET_NAME
from citizen.errors import RemoteProtocolError
from citizen.ids import DocId, new_doc_id
from tests.api.tcp_daemon import start_with_tcp
from tests.daemons import Daemon, friend_named, pair, wait_until

ROOT = Path(__file__).resolve().parents[2]
CLIENT = Path(__file__).with_name("automerge_repo_client.mjs")
JS_DIR = ROOT / ".venv" / "automerge-repo-js"  # cached across runs, outside the tree
PACKAGES = (
    "@automerge/automerge-repo@2.5.6",
    "@automerge/automerge-repo-network-websocket@2.5.6",
    "ws@8",
)
LIVE = 90  # bounds a hung test only

# -- the codec (pure) ----------------------------------------------------------------


def test_document_id_is_base58check_of_the_same_bytes() -> None:
    doc = new_doc_id()
    text = document_id(doc)
    assert base58.b58decode_check(text) == base58.b58decode(doc)
    assert doc_id_of(text) == doc
    with pytest.raises(RemoteProtocolError):
        doc_id_of(doc)  # plain base58 has no check bytes
    with pytest.raises(RemoteProtocolError):
        doc_id_of(base58.b58encode_check(b"\x01" * 8).decode())  # not 16 bytes


def test_decodes_what_the_js_client_sends() -> None:
    doc = new_doc_id()
    join = {
        "type": "join",
        "senderId": "peer-1",
        "peerMetadata": {"isEphemeral": True},
        "supportedProtocolVersions": ["1"],
    }
    assert decode_client_message(cbor.dumps(join)) == Join("peer-1", ("1",))
    request = {
        "type": "request",
        "senderId": "peer-1",
        "targetId": "citizen-daemon",
        "documentId": document_id(doc),
        "data": b"\x42\x00",
    }
    assert decode_client_message(cbor.dumps(request)) == RepoSync("request", doc, b"\x42\x00")
    ephemeral = {"type": "ephemeral", "count": 1, "sessionId": "s", "data": b"x"}
    assert decode_client_message(cbor.dumps(ephemeral)) == Ignored("ephemeral")
    for bad in (
        {"type": "nonsense"},
        {"type": "sync", "documentId": document_id(doc), "data": b""},
        {"type": "sync", "documentId": doc, "data": b"\x42"},
        {"type": "join", "senderId": "p", "supportedProtocolVersions": [1]},
        ["type", "join"],
    ):
        with pytest.raises(RemoteProtocolError):
            decode_client_message(cbor.dumps(bad))


@given(st.binary(max_size=512))
def test_arbitrary_bytes_only_raise_remote_protocol_error(data: bytes) -> None:
    try:
        decode_client_message(data)
    except RemoteProtocolError:
        pass


@given(
    st.dictionaries(
        st.sampled_from(["type", "senderId", "documentId", "data"]),
        st.one_of(st.text(max_size=30), st.binary(max_size=30), st.integers(), st.none()),
    )
)
def test_arbitrary_maps_only_raise_remote_protocol_error(m: dict[str, object]) -> None:
    try:
        decode_client_message(cbor.dumps(m))
    except RemoteProtocolError:
        pass


# -- bad frames against a daemon -----------------------------------------------------


async def _bad_frames(d: Daemon, doc: str) -> None:
    where = Endpoint(socket_path=d.data_dir / SOCKET_NAME)
    join = cbor.dumps({"type": "join", "senderId": "t", "supportedProtocolVersions": ["1"]})
    sync = {"type": "sync", "senderId": "t", "targetId": "citizen-daemon"}
    cases: list[tuple[list[bytes | str], int]] = [
        ([b"\x00garbage"], 1008),
        (["a text frame"], 1003),
        ([cbor.dumps({"type": "join", "senderId": "t", "supportedProtocolVersions": ["0"]})], 1008),
        ([cbor.dumps(sync | {"documentId": document_id(DocId(doc)), "data": b"\x42"})], 1008),
        (
            [join, cbor.dumps(sync | {"documentId": document_id(DocId(doc)), "data": b"\x42\xff"})],
            1008,
        ),
    ]
    for frames, code in cases:
        ws = await connect_websocket(where, "/v1/automerge-repo", "test")
        for frame in frames:
            if isinstance(frame, bytes):
                await ws.send_bytes(frame)
            else:
                await ws.send_text(frame)
        with anyio.fail_after(LIVE):
            while not isinstance(reply := await ws.receive(), Closed):
                pass
        assert reply.code == code, (frames, reply)
        await ws.aclose()
    # an unknown doc is doc-unavailable, the socket stays usable
    ws = await connect_websocket(where, "/v1/automerge-repo", "test")
    await ws.send_bytes(join)
    peer = cbor.as_map(cbor.loads(_bytes(await ws.receive())), "peer")
    assert peer["type"] == "peer" and peer["selectedProtocolVersion"] == "1"
    assert peer["targetId"] == "t"
    unknown = document_id(new_doc_id())
    await ws.send_bytes(cbor.dumps(sync | {"documentId": unknown, "data": b"\x42\x00\x00\x00\x00"}))
    answer = cbor.as_map(cbor.loads(_bytes(await ws.receive())), "answer")
    assert (answer["type"], answer["documentId"]) == ("doc-unavailable", unknown)
    await ws.aclose()


def _bytes(frame: bytes | str | Closed) -> bytes:
    assert isinstance(frame, bytes), frame
    return frame


def test_bad_frames_close_the_socket_not_the_daemon(make_daemon: Callable[[str], Daemon]) -> None:
    d = make_daemon("alpha")
    d.init()
    d.start()
    doc = d.json("doc", "new", "Target")["doc_id"]
    d.json("doc", "set", doc, "kept", "true")
    anyio.run(_bad_frames, d, doc)
    assert d.json("doc", "show", doc)["value"] == {"kept": True}
    assert d.status()


# -- the real JS client --------------------------------------------------------------


def _js_client_dir() -> Path:
    """npm-install the automerge-repo packages once (cached); skip if that cannot be done."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to run the automerge-repo JS client")
    marker = JS_DIR / "node_modules" / "@automerge" / "automerge-repo-network-websocket"
    if not (marker / "package.json").exists():
        JS_DIR.mkdir(parents=True, exist_ok=True)
        install = [npm, "install", "--prefix", str(JS_DIR), "--no-audit", "--no-fund", *PACKAGES]
        result = subprocess.run(install, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            pytest.skip(
                f"npm install of the automerge-repo packages failed: {result.stderr[-500:]}"
            )
    shutil.copy(CLIENT, JS_DIR / CLIENT.name)
    return JS_DIR


def _value(d: Daemon, doc: str) -> Any:
    result = d.cli("doc", "show", doc, check=False)
    return json.loads(result.stdout)["value"] if result.returncode == 0 else None


def test_automerge_repo_js_client_reads_and_edits_a_doc(
    make_daemon: Callable[[str], Daemon],
) -> None:
    js = _js_client_dir()
    a = make_daemon("alpha")
    api = start_with_tcp(a)
    b = make_daemon("beta")
    b.init()
    b.start()
    pair(a, b)
    wait_until(lambda: (friend_named(a, "beta") or {}).get("online"), "beta online")

    doc = a.json("doc", "new", "Shopping")["doc_id"]
    a.json("doc", "set", doc, "items", '["milk"]')
    a.json("doc", "share", doc, "beta", "--role", "writer")
    wait_until(lambda: _value(b, doc) == {"items": ["milk"]}, "beta has the doc")

    url = f"ws://127.0.0.1:{api.port}/v1/automerge-repo"
    node = subprocess.Popen(
        ["node", str(js / CLIENT.name), url, api.token, f"automerge:{document_id(doc)}"],
        cwd=js,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert node.stdout is not None and node.stdin is not None
        read = json.loads(node.stdout.readline() or "null")
        assert read == {"read": {"items": ["milk"]}}, node.stderr.read() if node.stderr else ""
        changed = json.loads(node.stdout.readline() or "null")
        edited = {"items": ["milk", "eggs"], "fromNode": "hello"}
        assert changed == {"changed": edited}
        wait_until(lambda: _value(a, doc) == edited, "the JS edit on alpha")
        wait_until(lambda: _value(b, doc) == edited, "the JS edit on beta")
        node.stdin.close()
        assert node.wait(timeout=LIVE) == 0
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()
