"""Serving the local API with hypercorn's trio worker on the Unix socket (and 127.0.0.1)."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import trio
from hypercorn.config import Config as HyperConfig
from hypercorn.trio import serve
from starlette.applications import Starlette

from citizen.identity.keystore import write_private_file

if TYPE_CHECKING:
    from trio_typing import TaskStatus

log = logging.getLogger(__name__)


def load_or_create_token(path: Path) -> str:
    """The bearer token for the TCP listener, created 0600 on first use."""
    if path.exists():
        return path.read_text("utf-8").strip()
    token = secrets.token_urlsafe(32)
    write_private_file(path, token.encode())
    return token


async def serve_api(
    app: Starlette,
    socket_path: Path,
    tcp_port: int,
    *,
    task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled. The socket file is created mode 0600 and removed afterwards."""
    config = HyperConfig()
    if socket_path.exists():
        socket_path.unlink()  # left by a daemon that died; the lock file proved it is gone
    config.bind = [f"unix:{socket_path}"]
    if tcp_port:
        config.bind.append(f"127.0.0.1:{tcp_port}")
    config.umask = 0o177
    config.accesslog = None
    config.errorlog = logging.getLogger("citizen.api.server")
    config.graceful_timeout = 1.0
    config.keep_alive_timeout = 30
    try:
        await serve(app, config, task_status=task_status)  # type: ignore[arg-type]
    finally:
        if socket_path.exists():
            os.unlink(socket_path)
