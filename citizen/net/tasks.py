"""One friend's task never stops the daemon: run it, log what it raises with whom, carry on.

Per-friend and per-stream tasks run in long-lived nurseries (a service's, or
py-libp2p's per connection); an exception escaping one of them would cancel
every sibling and, through the root nursery, stop the daemon. `run_contained`
logs it at info (with the traceback, it is a bug or a peer's doing) and
returns. Only cancellation and the process's own exits pass
(`must_propagate`), also inside an exception group; a Rust panic of a
binding, a `BaseException`, is contained like any error.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio

log = logging.getLogger(__name__)

_PROPAGATE = (trio.Cancelled, KeyboardInterrupt, SystemExit, GeneratorExit)


def must_propagate(exc: BaseException) -> bool:
    """Whether `exc` is (or is a group holding) cancellation or an exit: never contained."""
    if isinstance(exc, _PROPAGATE):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return any(must_propagate(e) for e in exc.exceptions)
    return False


async def run_contained(what: str, fn: Callable[..., Awaitable[object]], *args: object) -> None:
    """Await ``fn(*args)``; log what it raises as "`what` failed" and return instead.

    Raises:
        trio.Cancelled, KeyboardInterrupt, SystemExit: never contained.
    """
    try:
        await fn(*args)
    except BaseException as exc:
        if must_propagate(exc):
            raise
        log.info("%s failed: %s", what, exc, exc_info=True)
