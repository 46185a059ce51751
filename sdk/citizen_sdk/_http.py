"""The SDK's one HTTP channel to the daemon: httpx over the Unix socket or 127.0.0.1 with a token.

httpx runs on anyio, so the same code serves trio and asyncio apps. Every
failure leaves here as a `CitizenError` subclass: the daemon's JSON errors by
their code, a missing daemon as `DaemonNotRunningError`, a broken connection
or a timeout as `CitizenError` with a hint.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote, urlsplit

import httpx
import msgspec

from citizen.config import SOCKET_NAME, TOKEN_NAME, default_data_dir
from citizen.errors import (
    CitizenError,
    DaemonNotRunningError,
    NotAuthorizedError,
    UsageError,
)
from citizen_sdk._decode import decode
from citizen_sdk._websocket import Endpoint, WebSocket, connect_websocket
from citizen_sdk.errors import error_for

T = TypeVar("T")

#: requests such as accepting an invite wait for a friend's device, so be patient
DEFAULT_TIMEOUT = 300.0


def path_part(value: str) -> str:
    """`value` quoted as one path segment (a friend's name may hold any character)."""
    return quote(value, safe="")


class Channel:
    """JSON requests to one daemon, in and out as the API's models. Close with `aclose()`."""

    def __init__(
        self, http: httpx.AsyncClient, where: str, timeout: float, endpoint: Endpoint
    ) -> None:
        self._http = http
        self.where = where
        self._timeout = timeout
        self._endpoint = endpoint

    @classmethod
    def open(
        cls,
        data_dir: Path | str | None,
        url: str | None,
        token: str | None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Channel:
        """A channel to the daemon of `data_dir`, or at `url` (TCP) with `token`.

        For a URL without a token, the token is read from DATA_DIR/api.token when
        that file is readable (a local script on the daemon's machine).

        Raises:
            DaemonNotRunningError: no socket in the data dir.
            UsageError: `url` is not an http://127.0.0.1 style URL.
        """
        home = Path(data_dir).expanduser() if data_dir is not None else None
        headers: dict[str, str] = {}
        if url is not None:
            if not url.startswith(("http://", "https://")):
                raise UsageError(f"{url!r} is not an http:// URL.", "Use http://127.0.0.1:PORT.")
            if token is None:
                token_file = (home or default_data_dir()) / TOKEN_NAME
                try:
                    token = token_file.read_text("utf-8").strip()
                except OSError:
                    token = None
            if token:
                headers["Authorization"] = f"Bearer {token}"
            http = httpx.AsyncClient(base_url=url, headers=headers, timeout=timeout)
            parts = urlsplit(url)
            endpoint = Endpoint(
                host=parts.hostname or "127.0.0.1",
                port=parts.port or (443 if parts.scheme == "https" else 80),
                authorization=headers.get("Authorization"),
            )
            return cls(http, url, timeout, endpoint)
        socket_path = (home or default_data_dir()) / SOCKET_NAME
        if not socket_path.exists():
            raise DaemonNotRunningError(
                f"No citizen daemon is running for {socket_path.parent}.",
                "Start it with `citizen run`, or pass the right data_dir.",
            )
        transport = httpx.AsyncHTTPTransport(uds=str(socket_path))
        http = httpx.AsyncClient(
            transport=transport, base_url="http://citizen.local", timeout=timeout
        )
        return cls(http, str(socket_path), timeout, Endpoint(socket_path=socket_path))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def websocket(self, path: str) -> WebSocket:
        """Open a WebSocket to `path` on the daemon (same socket or URL and token as `call`).

        Raises:
            CitizenError: the daemon's refusal (by its code), or the connection failed.
        """
        return await connect_websocket(self._endpoint, path, self.where)

    async def call(
        self, model: type[T], method: str, path: str, body: msgspec.Struct | None = None
    ) -> T:
        """Send `body` (a request model) as JSON; the answer decoded as `model`.

        Raises:
            CitizenError: the daemon's error (by its code), or the connection failed.
            RemoteProtocolError: the answer is not a `model`.
        """
        content = msgspec.json.encode(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if content is not None else None
        with self.translated():
            response = await self._http.request(method, path, content=content, headers=headers)
        return self._answer(model, response, f"{method} {path}")

    async def upload(
        self,
        model: type[T],
        path: str,
        content: AsyncIterator[bytes],
        *,
        params: Mapping[str, str],
        size: int | None,
    ) -> T:
        """POST a streamed body (Content-Length when `size` is known); the answer as `model`.

        Raises:
            CitizenError: the daemon's error (by its code), or the connection failed.
            RemoteProtocolError: the answer is not a `model`.
        """
        headers = {"Content-Type": "application/octet-stream"}
        if size is not None:
            headers["Content-Length"] = str(size)
        with self.translated():
            response = await self._http.post(
                path, content=content, params=dict(params), headers=headers
            )
        return self._answer(model, response, f"POST {path}")

    @asynccontextmanager
    async def download(self, path: str) -> AsyncIterator[httpx.Response]:
        """GET `path` as a stream: the response, its status checked, its body not yet read.

        Reading the body must happen inside `translated()` too (the connection
        can break midway).

        Raises:
            CitizenError: the daemon's error (by its code), or the connection failed.
        """
        with self.translated():
            async with self._http.stream("GET", path) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise error_for(response.status_code, _json_or_none(response.content))
                yield response

    @contextmanager
    def translated(self) -> Iterator[None]:
        """httpx failures inside the block leave as `CitizenError` subclasses."""
        try:
            yield
        except httpx.ConnectError as exc:
            if _caused_by(exc, PermissionError):
                raise NotAuthorizedError(
                    f"The daemon's socket {self.where} belongs to another user.",
                    "Run the app as the user that runs the daemon.",
                ) from exc
            raise DaemonNotRunningError(
                f"No citizen daemon answers at {self.where}.", "Start it with `citizen run`."
            ) from exc
        except httpx.TimeoutException as exc:
            raise CitizenError(
                f"The daemon did not answer within {self._timeout:g} s.",
                "It may be busy reaching friends; try again or raise the timeout.",
            ) from exc
        except httpx.TransportError as exc:
            raise CitizenError(
                f"Lost the connection to the daemon at {self.where}: {exc}.",
                "Check that it is still running (`citizen status`).",
            ) from exc

    def _answer(self, model: type[T], response: httpx.Response, what: str) -> T:
        if response.status_code >= 400:
            raise error_for(response.status_code, _json_or_none(response.content))
        return decode(model, response.content, f"the daemon's answer to {what}")


def _json_or_none(content: bytes) -> object:
    """An error answer's JSON, read leniently: `error_for` falls back on the status."""
    if not content:
        return None
    try:
        value: object = json.loads(content)
    except ValueError:
        return None
    return value


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    for _ in range(16):  # exception chains can loop; a real cause is near
        if seen is None:
            return False
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
