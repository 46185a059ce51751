"""A small WebSocket client on anyio streams (Unix socket or TCP), using wsproto's state machine.

Enough for the daemon's doc sync sockets: binary and text messages, pings
answered, close handshakes, and a refused handshake turned into the daemon's
typed error (its HTTP answer carries the usual JSON error body). One task
may `receive` while others `send_*`; sends are serialised here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import anyio
from anyio.abc import ByteStream
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

from citizen.errors import (
    CitizenError,
    DaemonNotRunningError,
    NotAuthorizedError,
    RemoteProtocolError,
)
from citizen_sdk.errors import error_for

#: the largest message accepted from the daemon (a whole doc can travel in one)
MAX_MESSAGE = 256 * 1024 * 1024
_READ = 65536


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the daemon listens: a Unix socket path, or 127.0.0.1 host and port."""

    socket_path: Path | None = None
    host: str = "127.0.0.1"
    port: int = 0
    authorization: str | None = None


@dataclass(frozen=True, slots=True)
class Closed:
    """The connection ended: the close code and reason (1006 if it just dropped)."""

    code: int
    reason: str


class WebSocket:
    """One open WebSocket. Use `connect_websocket` to make one."""

    def __init__(
        self, stream: ByteStream, ws: WSConnection, where: str, early: list[Event] | None = None
    ) -> None:
        self._stream = stream
        self._ws = ws
        self._where = where
        self._send_lock = anyio.Lock()
        self._parts: list[bytes | str] = []
        self._size = 0
        self._pending: list[Event] = list(early or ())  # arrived with the handshake
        self.closed: Closed | None = None

    async def _write(self, event: Event) -> None:
        async with self._send_lock:
            data = self._ws.send(event)
            try:
                await self._stream.send(data)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                raise CitizenError(
                    f"Lost the connection to the daemon at {self._where}.",
                    "Check that it is still running (`citizen status`).",
                ) from exc

    async def send_bytes(self, data: bytes) -> None:
        """Send one binary message.

        Raises:
            CitizenError: the connection is closed or broken.
        """
        if self.closed is not None:
            raise CitizenError(
                f"The daemon closed the connection ({self.closed.code}: {self.closed.reason}).",
                "Open the doc again.",
            )
        await self._write(BytesMessage(data))

    async def send_text(self, text: str) -> None:
        """Send one text message.

        Raises:
            CitizenError: the connection is closed or broken.
        """
        if self.closed is not None:
            raise CitizenError("The connection to the daemon is closed.", "Open it again.")
        await self._write(TextMessage(text))

    async def receive(self) -> bytes | str | Closed:
        """The next whole message, or `Closed` once the connection has ended."""
        while True:
            if self.closed is not None:
                return self.closed
            if not self._pending:
                try:
                    data = await self._stream.receive(_READ)
                except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                    self.closed = Closed(1006, "connection lost")
                    continue
                except anyio.ClosedResourceError:
                    self.closed = Closed(1006, "connection closed here")
                    continue
                self._ws.receive_data(data)
                try:
                    self._pending.extend(self._ws.events())
                except Exception as exc:  # wsproto raises its own errors for bad frames
                    self.closed = Closed(1002, f"bad frame from the daemon: {exc}")
                    continue
                continue
            event = self._pending.pop(0)
            message = await self._on_event(event)
            if message is not None:
                return message

    async def _on_event(self, event: Event) -> bytes | str | None:
        match event:
            case BytesMessage(data=data, message_finished=done):
                return self._gather(bytes(data), done)
            case TextMessage(data=text, message_finished=done):
                return self._gather(text, done)
            case Ping():
                await self._write(event.response())
            case CloseConnection(code=code, reason=reason):
                self.closed = Closed(code, reason or "")
                try:
                    await self._write(event.response())
                except CitizenError:
                    pass
            case _:
                pass
        return None

    def _gather(self, part: bytes | str, done: bool) -> bytes | str | None:
        self._parts.append(part)
        self._size += len(part)
        if self._size > MAX_MESSAGE:
            self.closed = Closed(1009, "message from the daemon is too large")
            return None
        if not done:
            return None
        parts, self._parts, self._size = self._parts, [], 0
        if isinstance(parts[0], str):
            return "".join(p for p in parts if isinstance(p, str))
        return b"".join(p for p in parts if isinstance(p, bytes))

    async def aclose(self, code: int = 1000) -> None:
        """Close politely if still open, then drop the connection."""
        if self.closed is None:
            self.closed = Closed(code, "closed by the app")
            try:
                with anyio.move_on_after(2):
                    await self._write(CloseConnection(code))
            except CitizenError:
                pass
        await self._stream.aclose()


async def connect_websocket(endpoint: Endpoint, target: str, where: str) -> WebSocket:
    """Open a WebSocket to `target` (a path like /v1/docs/X/sync) at the daemon.

    Raises:
        DaemonNotRunningError: nothing listens there.
        NotAuthorizedError: the socket belongs to another user, or a wrong token.
        CitizenError: the daemon refused (its typed error), or the handshake failed.
    """
    stream = await _dial(endpoint, where)
    ws = WSConnection(ConnectionType.CLIENT)
    headers = []
    if endpoint.authorization:
        headers.append((b"authorization", endpoint.authorization.encode()))
    try:
        await stream.send(
            ws.send(Request(host="citizen.local", target=target, extra_headers=headers))
        )
        early = await _handshake(stream, ws, where)
    except BaseException:
        await stream.aclose()
        raise
    return WebSocket(stream, ws, where, early)


async def _dial(endpoint: Endpoint, where: str) -> ByteStream:
    try:
        if endpoint.socket_path is not None:
            return await anyio.connect_unix(endpoint.socket_path)
        return await anyio.connect_tcp(endpoint.host, endpoint.port)
    except PermissionError as exc:
        raise NotAuthorizedError(
            f"The daemon's socket {where} belongs to another user.",
            "Run the app as the user that runs the daemon.",
        ) from exc
    except OSError as exc:
        raise DaemonNotRunningError(
            f"No citizen daemon answers at {where}.", "Start it with `citizen run`."
        ) from exc


async def _handshake(stream: ByteStream, ws: WSConnection, where: str) -> list[Event]:
    """Read the handshake answer; the events that arrived right behind it (first messages)."""
    status = 0
    body = b""
    while True:
        try:
            data = await stream.receive(_READ)
        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError) as exc:
            raise CitizenError(
                f"The daemon at {where} hung up during the WebSocket handshake.",
                "Check its log; update citizen_sdk or the daemon.",
            ) from exc
        ws.receive_data(data)
        try:
            events = list(ws.events())
        except Exception as exc:
            raise RemoteProtocolError(
                f"The daemon's WebSocket handshake is malformed: {exc}.",
                "Update citizen_sdk or the daemon.",
            ) from exc
        for i, event in enumerate(events):
            match event:
                case AcceptConnection():
                    return events[i + 1 :]
                case RejectConnection(status_code=code, has_body=has_body):
                    status = code
                    if not has_body:
                        raise error_for(status, None)
                case RejectData(data=chunk, body_finished=finished):
                    body += bytes(chunk)
                    if finished:
                        raise error_for(status, _json_or_none(body))
                    if len(body) > 1024 * 1024:
                        raise error_for(status, None)
                case _:
                    pass


def _json_or_none(body: bytes) -> object:
    try:
        value: object = json.loads(body)
    except ValueError:
        return None
    return value
