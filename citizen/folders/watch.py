"""Watch a folder's tree for filesystem events (watchfiles: Rust notify, under trio via anyio).

An event only says "look again": the caller marks the folder due and the
next scan, cheap thanks to the scan cache, finds what changed. The Rust
watcher fails on an event for a name that is not UTF-8 ("Unable to decode
path"): that failure counts as an event too, and the watcher is started
again after a pause that grows while it keeps failing, then the folder is
marked due once more for what changed while no watcher ran. A root that is
gone ends the watching (the next scan pauses the folder).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import trio
import watchfiles

log = logging.getLogger(__name__)

DEBOUNCE_MS = 500
#: a cancelled watch ends within this many ms (the Rust watcher's poll of its stop flag)
STOP_WITHIN_MS = 500


async def watch_folder(root: bytes, changed: Callable[[], None], name: str) -> None:
    """Call `changed()` after filesystem events under `root`, until cancelled or it is gone."""
    failures = 0
    while os.path.isdir(root):
        try:
            async for _changes in watchfiles.awatch(
                os.fsdecode(root),
                watch_filter=None,
                debounce=DEBOUNCE_MS,
                rust_timeout=STOP_WITHIN_MS,
                ignore_permission_denied=True,
            ):
                failures = 0
                changed()
        except Exception as exc:
            failures += 1
            changed()
            if failures in (1, 10):
                log.info("folder %s: watcher restarted after %s", name, _leaf(exc))
            await trio.sleep(min(60.0, 0.25 * 2 ** min(failures, 8)))
            changed()


def _leaf(exc: BaseException) -> str:
    """The first error inside exception groups, as text for the log."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"
