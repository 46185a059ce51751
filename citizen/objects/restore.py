"""Bringing objects back onto this device from friends (after a recovery, or on demand).

`keep_local` streams the object from its holders (verified, decrypted) into a
temp file and commits it as the local copy only once every byte arrived, so a
broken restore never leaves a partial copy that a later read would trust.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from citizen.errors import CitizenError

if TYPE_CHECKING:
    from citizen.objects.service import ObjectsService


async def keep_local(svc: ObjectsService, object_id: str) -> dict[str, object]:
    """Fetch one object from friends into its local copy (no-op if already local).

    Raises:
        NotFoundError: no such object in the household index.
        UnreachableError: too few holders online.
    """
    entry = await svc.entry(object_id)
    if svc.local.has(entry.object_id):
        return {"object_id": entry.object_id, "restored": False, "size": entry.manifest.size}
    entry, chunks = await svc.open_read(object_id)
    temp, f = await trio.to_thread.run_sync(svc.local.open_temp, entry.object_id)
    try:
        async for chunk in chunks:
            await trio.to_thread.run_sync(f.write, chunk)
        await trio.to_thread.run_sync(svc.local.commit, temp, f, entry.object_id)
    except BaseException:
        svc.local.discard(temp, f)
        raise
    svc.local_changed.set()  # the events socket reports the local copy
    svc.local_changed = trio.Event()
    return {"object_id": entry.object_id, "restored": True, "size": entry.manifest.size}


async def restore_all(svc: ObjectsService) -> dict[str, object]:
    """Fetch every object that has no local copy; report which could not be fetched yet."""
    restored: list[str] = []
    failed: dict[str, str] = {}
    for item in await svc.list():
        if item["local"]:
            continue
        object_id = str(item["object_id"])
        try:
            await keep_local(svc, object_id)
            restored.append(object_id)
        except CitizenError as exc:
            failed[object_id] = exc.message
    return {"restored": restored, "failed": failed}
