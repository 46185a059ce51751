"""A small synchronous client of the local API over the Unix socket, for the CLI.

It uses only the standard library so that `citizen status` starts fast: no
libp2p, no automerge, no httpx. Error bodies become the same `CitizenError`
subclasses the daemon raised, so the CLI prints the daemon's own message.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from citizen import errors
from citizen.config import SOCKET_NAME
from citizen.text import check_utf8

_BY_CODE: dict[str, type[errors.CitizenError]] = {}


def _index(kind: type[errors.CitizenError]) -> None:
    _BY_CODE.setdefault(kind.code, kind)
    for sub in kind.__subclasses__():
        _index(sub)


_index(errors.CitizenError)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(str(self._path))
        self.sock = sock


def quote_path(part: str, what: str = "The argument") -> str:
    """`part` quoted for a URL path or query.

    Raises:
        TextEncodingError: `part` is not valid UTF-8 (a shell argument with a stray byte).
    """
    return quote(check_utf8(part, what), safe="")


class LocalClient:
    """Talks to the daemon that owns `data_dir`."""

    def __init__(self, data_dir: Path, timeout: float = 600.0) -> None:
        self.data_dir = data_dir
        self.socket_path = data_dir / SOCKET_NAME
        self.timeout = timeout

    def _open(self) -> _UnixConnection:
        conn = _UnixConnection(self.socket_path, self.timeout)
        try:
            conn.connect()
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise errors.DaemonNotRunningError(
                f"No citizen daemon is running for {self.data_dir}.",
                "Start it with `citizen run` (or `make run`).",
            ) from exc
        except PermissionError as exc:
            raise errors.NotAuthorizedError(
                f"The daemon's socket {self.socket_path} belongs to another user.",
                "Run the command as the user that runs the daemon.",
            ) from exc
        return conn

    def request(self, method: str, path: str, body: object | None = None) -> object:
        """Send a JSON request and return the decoded JSON response."""
        conn = self._open()
        try:
            payload = None if body is None else json.dumps(body).encode()
            headers = {"Content-Type": "application/json"} if payload is not None else {}
            try:
                conn.request(method, path, body=payload, headers=headers)
            except (BrokenPipeError, ConnectionResetError):
                # the daemon may answer before reading the whole body and close its side;
                # its answer is still there to read (and must not turn into a silent exit)
                pass
            try:
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as exc:
                raise errors.CitizenError(
                    f"The daemon closed the connection without answering: {exc}.",
                    "Check its log; run the command again.",
                ) from exc
            return self._decode(response.status, data)
        finally:
            conn.close()

    def upload(self, path: str, stream: BinaryIO, size: int) -> object:
        """POST a raw byte stream (chunked from a file) and return the JSON response."""
        conn = self._open()
        try:
            conn.putrequest("POST", path)
            conn.putheader("Content-Type", "application/octet-stream")
            conn.putheader("Content-Length", str(size))
            conn.endheaders()
            while chunk := stream.read(256 * 1024):
                conn.send(chunk)
            response = conn.getresponse()
            return self._decode(response.status, response.read())
        finally:
            conn.close()

    def download(self, path: str) -> Iterator[bytes]:
        """GET a raw byte stream; yields chunks."""
        conn = self._open()
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            if response.status >= 400:
                self._decode(response.status, response.read())
            while chunk := response.read(256 * 1024):
                yield chunk
        finally:
            conn.close()

    def open_download(self, path: str) -> tuple[int | None, dict[str, str], Iterator[bytes]]:
        """GET a raw byte stream: (Content-Length, headers, chunks), erroring before any chunk.

        The chunk iterator raises `http.client.IncompleteRead` if the daemon
        stops before Content-Length bytes (a failed remote read).
        """
        conn = self._open()
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            if response.status >= 400:
                self._decode(response.status, response.read())
        except BaseException:
            conn.close()
            raise
        length = response.getheader("Content-Length")
        headers = {k.lower(): v for k, v in response.getheaders()}

        def chunks() -> Iterator[bytes]:
            try:
                while chunk := response.read(256 * 1024):
                    yield chunk
            finally:
                conn.close()

        return (int(length) if length and length.isdigit() else None), headers, chunks()

    @staticmethod
    def _decode(status: int, data: bytes) -> object:
        try:
            value = json.loads(data) if data else None
        except ValueError:
            value = None
        if status >= 400:
            if isinstance(value, dict):
                kind = _BY_CODE.get(str(value.get("error")), errors.CitizenError)
                raise kind(str(value.get("message", "")), str(value.get("hint", "")))
            raise errors.CitizenError(f"The daemon answered HTTP {status}.", "See its log.")
        return value
