"""Every HTTP route of real daemons answers exactly its declared model: the contract, end to end.

Two paired households (and a laptop joining the first) go through every
operation in `citizen.api.routes.OPERATIONS` once, over the Unix socket. Each
success answer must have the operation's status and decode with
``msgspec.json.decode(body, type=op.response)``: the models refuse unknown
fields, so a field a service sends that its model (and so the OpenAPI
document and the SDK) lacks fails here, as does a missing one. The test also
fails when an operation is added without being exercised here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from citizen.api import routes_backup as backup
from citizen.api import routes_devices as devices
from citizen.api import routes_docs as docs
from citizen.api import routes_folders as folders
from citizen.api import routes_friends as friends
from citizen.api import routes_health as health_routes
from citizen.api import routes_meta as meta
from citizen.api import routes_objects as objects
from citizen.api.models import (
    AcceptInvite,
    ChangeDoc,
    CreateDoc,
    CreateInvite,
    EnrollDevice,
    ObjectSelector,
    ProtectionWait,
    SetOffer,
    ShareDoc,
    UnshareDoc,
)
from citizen.api.models.folders import AddFolder, RestoreFolder
from citizen.api.operations import Operation, Raw
from citizen.api.routes import OPERATIONS
from tests.api.tcp_daemon import unix_client
from tests.daemons import Daemon, wait_until


class Caller:
    """One daemon's API, called by `Operation`; remembers which operations answered."""

    def __init__(self, http: httpx.Client, seen: set[str]) -> None:
        self._http = http
        self._seen = seen

    def __call__(
        self,
        op: Operation,
        body: msgspec.Struct | None = None,
        *,
        content: bytes | None = None,
        query: dict[str, str] | None = None,
        **path: str,
    ) -> Any:
        url = op.path.format(**{k: quote(v, safe="") for k, v in path.items()})
        headers = {}
        if body is not None:
            content = msgspec.json.encode(body)
            headers["Content-Type"] = "application/json"
        answer = self._http.request(op.method, url, content=content, params=query, headers=headers)
        assert answer.status_code == op.status, f"{op.method} {url}: {answer.text}"
        self._seen.add(op.operation_id)
        if isinstance(op.response, Raw):
            assert answer.headers["content-type"].startswith(op.response.media_type)
            return answer.content
        assert answer.headers["content-type"] == "application/json"
        return msgspec.json.decode(answer.content, type=op.response)


@contextmanager
def _callers(*daemons: Daemon) -> Iterator[tuple[list[Caller], set[str]]]:
    seen: set[str] = set()
    clients = [unix_client(d) for d in daemons]
    try:
        yield [Caller(c, seen) for c in clients], seen
    finally:
        for c in clients:
            c.close()


def test_every_route_answers_its_model(make_daemon: Callable[[str], Daemon]) -> None:
    a, b = make_daemon("alpha"), make_daemon("beta")
    for d in (a, b):
        d.init()
    a.configure(k=1, n=1, happiness=1)  # beta alone can hold an object's share
    for d in (a, b):
        d.start()
    with _callers(a, b) as ([alpha, beta], seen):
        status = alpha(meta.STATUS)
        assert (status.household_name, status.offline, status.friends) == ("alpha", False, 0)
        assert alpha(meta.OPENAPI)["openapi"] == "3.1.0"
        assert b"citizen_friends" in alpha(meta.METRICS)
        health = alpha(health_routes.HEALTH)
        assert {c.check for c in health.checks} >= {"clock", "disk", "friends", "config"}

        # invites and friends
        invite = alpha(friends.CREATE_INVITE, CreateInvite(expires_s=600, qr_svg=True))
        assert "<svg" in invite.qr_svg
        assert not alpha(friends.INVITE_STATE, invite_id=invite.invite_id).used
        pairing = beta(friends.ACCEPT_INVITE, AcceptInvite(code=invite.code, name="the alphas"))
        used = alpha(friends.INVITE_STATE, invite_id=invite.invite_id)
        assert used.used and used.sas == pairing.sas

        def beta_online() -> Any:
            listed = alpha(friends.LIST_FRIENDS)
            return listed and listed[0].online and listed[0]

        friend = wait_until(beta_online, "beta online at alpha")
        assert friend.devices[0].connection == "direct"  # in the model, the schema and the SDK
        offer = alpha(friends.SET_OFFER, SetOffer(offer_mib=64), friend="beta")
        assert offer.offer_bytes == 64 * 1024 * 1024

        # docs
        doc = alpha(docs.CREATE, CreateDoc(title="Shopping")).doc_id
        alpha(docs.CHANGE, ChangeDoc(op="set", path="items", value=[]), doc=doc)
        alpha(docs.CHANGE, ChangeDoc(op="append", path="items", value={"n": "milk"}), doc=doc)
        alpha(docs.CHANGE, ChangeDoc(op="set", path="n", value=None), doc=doc)
        heads = alpha(docs.CHANGE, ChangeDoc(op="del", path="n"), doc=doc).heads
        shown = alpha(docs.SHOW, doc=doc)
        assert shown.value == {"items": [{"n": "milk"}]} and shown.heads == heads
        assert alpha(docs.SHOW, query={"path": "items.0.n"}, doc=doc).value == "milk"
        assert len(alpha(docs.HISTORY, doc=doc)) == 5  # a first change, four edits
        shared = alpha(docs.SHARE, ShareDoc(friend="beta", role="writer"), doc=doc)
        assert shared.friend == friend.household
        [info] = [d for d in alpha(docs.LIST) if d.doc_id == doc]
        assert [s.role for s in info.shared_with] == ["writer"]
        assert alpha(docs.UNSHARE, UnshareDoc(friend="beta"), doc=doc).unshared
        assert alpha(docs.DELETE, doc=doc).deleted

        # objects: beta holds the one share
        ref = alpha(objects.PUT, content=b"eggs, milk", query={"name": "list.txt"})
        assert (ref.name, ref.size, ref.state, ref.placement) == (
            "list.txt",
            10,
            "complete",
            {0: friend.household},
        )
        assert alpha(objects.LIST) == [ref]
        waited = alpha(objects.WAIT, ProtectionWait(timeout=60), object_id=ref.object_id)
        assert (waited.protection, waited.survives) == ("protected", 0)
        [check] = alpha(objects.VERIFY, ObjectSelector(object_id=ref.object_id))
        assert check.healthy
        assert [o.object_id for o in alpha(objects.REPAIR, ObjectSelector()).objects] == [
            ref.object_id
        ]
        assert alpha(objects.STORAGE).objects == 1
        evicted = alpha(objects.EVICT, object_id=ref.object_id)
        assert evicted.evicted and evicted.ref == msgspec.structs.replace(ref, local=False)
        assert alpha(objects.GET, object_id=ref.object_id) == b"eggs, milk"
        assert alpha(objects.RESTORE, object_id=ref.object_id).restored
        removed = alpha(objects.REMOVE, object_id=ref.object_id)
        assert removed.deleted == {friend.household: 1}
        assert [h.household for h in beta(objects.STORAGE).held_for_friends] == [status.household]

        # folders: add, scan, status, history, restore, pause, resume, remove
        root = a.data_dir.parent / "alpha-folder"
        root.mkdir()
        (root / "note.txt").write_bytes(b"folder bytes")
        added = alpha(folders.ADD, AddFolder(path=str(root), name="Notes"))
        assert added.name == "Notes" and added.state == "active"
        assert alpha(folders.SCAN, name="Notes").name == "Notes"
        assert alpha(folders.STATUS, name="Notes").files == 1
        assert [f.name for f in alpha(folders.LIST)] == ["Notes"]
        [version] = alpha(folders.HISTORY, query={"path": "note.txt"}, name="Notes")
        assert version.size == len(b"folder bytes") and not version.deleted
        out = a.data_dir.parent / "alpha-restored"
        restored = alpha(folders.RESTORE, RestoreFolder(to=str(out)), name="Notes")
        assert restored.files == 1 and (out / "note.txt").read_bytes() == b"folder bytes"
        assert alpha(folders.PAUSE, name="Notes").state == "paused"
        assert alpha(folders.RESUME, name="Notes").state == "active"
        assert alpha(folders.REMOVE, query={"forget": "true"}, name="Notes").forgotten

        # this household's devices: a laptop joins, then is revoked
        code = alpha(devices.ENROLL, EnrollDevice(expires_s=60)).code
        make_daemon("laptop").json("init", "--join", code, "--device-name", "laptop")
        listed = alpha(devices.LIST)
        assert [d.name for d in listed] == ["alpha-pi", "laptop"] and listed[0].this_device
        assert alpha(devices.REVOKE, device="laptop").revoked

        # the backup, then the friend goes
        assert alpha(backup.STATUS).enabled
        alpha(backup.NOW)
        assert alpha(friends.REMOVE_FRIEND, friend="beta").removed

    untried = {op.operation_id for op in OPERATIONS} - seen
    assert not untried, f"exercise these operations here too: {sorted(untried)}"
