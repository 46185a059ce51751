"""Rendezvous registry: TTLs, limits, paging cookies, and friendship namespaces."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citizen.errors import LocalProtocolError
from citizen.net.rendezvous.codec import (
    MAX_FRAME_SIZE,
    DiscoverResponse,
    ResponseStatus,
    encode_frame,
)
from citizen.net.rendezvous.registry import (
    DEFAULT_TTL,
    MAX_TTL,
    MIN_TTL,
    Limits,
    Registry,
    epoch_for,
    friendship_namespace,
    friendship_namespaces,
)

INSTANCE = b"\x01" * 8
NS = "citizen/test"


def _peers(response: DiscoverResponse) -> list[bytes]:
    assert response.status is ResponseStatus.OK, response.status_text
    return [reg.signed_peer_record for reg in response.registrations]


def _registry(limits: Limits | None = None) -> Registry:
    return Registry(limits, instance=INSTANCE)


def test_register_then_discover() -> None:
    reg = _registry()
    response = reg.register(NS, "A", b"record-A", 0, now=0.0)
    assert response.status is ResponseStatus.OK
    assert response.ttl == DEFAULT_TTL
    found = reg.discover(NS, 0, b"", now=100.0)
    assert _peers(found) == [b"record-A"]
    assert found.registrations[0].ns == NS
    assert found.registrations[0].ttl == DEFAULT_TTL - 100
    assert _peers(reg.discover("citizen/other", 0, b"", now=100.0)) == []


def test_explicit_ttl_granted_and_expires() -> None:
    reg = _registry()
    assert reg.register(NS, "A", b"a", 600, now=0.0).ttl == 600
    assert _peers(reg.discover(NS, 0, b"", now=599.5)) == [b"a"]
    assert reg.discover(NS, 0, b"", now=599.5).registrations[0].ttl == 1
    assert _peers(reg.discover(NS, 0, b"", now=600.0)) == []
    assert len(reg) == 0


@pytest.mark.parametrize("ttl", [-1, MIN_TTL - 1, MAX_TTL + 1])
def test_inadmissible_ttl_refused(ttl: int) -> None:
    reg = _registry()
    assert reg.register(NS, "A", b"a", ttl, now=0.0).status is ResponseStatus.E_INVALID_TTL
    assert len(reg) == 0


def test_ttl_bounds_are_inclusive() -> None:
    reg = _registry()
    assert reg.register(NS, "A", b"a", MIN_TTL, now=0.0).ttl == MIN_TTL
    assert reg.register(NS, "B", b"b", MAX_TTL, now=0.0).ttl == MAX_TTL


@pytest.mark.parametrize("ns", ["", "x" * 256, "é" * 128])
def test_bad_namespace_refused(ns: str) -> None:
    reg = _registry()
    assert reg.register(ns, "A", b"a", 0, 0.0).status is ResponseStatus.E_INVALID_NAMESPACE
    assert reg.discover(ns, 0, b"", 0.0).status is ResponseStatus.E_INVALID_NAMESPACE


def test_namespace_of_255_bytes_accepted() -> None:
    assert _registry().register("x" * 255, "A", b"a", 0, 0.0).status is ResponseStatus.OK


def test_missing_or_oversize_record_refused() -> None:
    reg = _registry(Limits(max_record_bytes=10))
    bad = ResponseStatus.E_INVALID_SIGNED_PEER_RECORD
    assert reg.register(NS, "A", b"", 0, 0.0).status is bad
    assert reg.register(NS, "A", b"x" * 11, 0, 0.0).status is bad
    assert reg.register(NS, "A", b"x" * 10, 0, 0.0).status is ResponseStatus.OK


def test_refresh_replaces_and_counts_once() -> None:
    reg = _registry(Limits(max_registrations_per_peer=1))
    reg.register(NS, "A", b"old", 0, 0.0)
    assert reg.register(NS, "A", b"new", 0, 10.0).status is ResponseStatus.OK
    assert len(reg) == 1
    assert _peers(reg.discover(NS, 0, b"", 20.0)) == [b"new"]


def test_per_peer_limit() -> None:
    reg = _registry(Limits(max_registrations_per_peer=2))
    assert reg.register("n1", "A", b"a", 0, 0.0).status is ResponseStatus.OK
    assert reg.register("n2", "A", b"a", 0, 0.0).status is ResponseStatus.OK
    assert reg.register("n3", "A", b"a", 0, 0.0).status is ResponseStatus.E_NOT_AUTHORIZED
    assert reg.register("n3", "B", b"b", 0, 0.0).status is ResponseStatus.OK
    reg.unregister("n1", "A")
    assert reg.register("n3", "A", b"a", 0, 0.0).status is ResponseStatus.OK


def test_total_limit_and_expiry_frees_room() -> None:
    reg = _registry(Limits(max_registrations=2))
    reg.register(NS, "A", b"a", MIN_TTL, 0.0)
    reg.register(NS, "B", b"b", 0, 0.0)
    assert reg.register(NS, "C", b"c", 0, 1.0).status is ResponseStatus.E_UNAVAILABLE
    # a full point still lets existing registrations refresh
    assert reg.register(NS, "B", b"b2", 0, 1.0).status is ResponseStatus.OK
    assert reg.register(NS, "C", b"c", 0, float(MIN_TTL)).status is ResponseStatus.OK
    assert _peers(reg.discover(NS, 0, b"", float(MIN_TTL))) == [b"b2", b"c"]


def test_unregister() -> None:
    reg = _registry()
    reg.register(NS, "A", b"a", 0, 0.0)
    reg.register(NS, "B", b"b", 0, 0.0)
    assert reg.unregister(NS, "A") is True
    assert reg.unregister(NS, "A") is False
    assert reg.unregister("citizen/none", "B") is False
    assert _peers(reg.discover(NS, 0, b"", 0.0)) == [b"b"]


def test_cookie_pages_then_returns_only_new() -> None:
    reg = _registry()
    for name in "ABCDE":
        reg.register(NS, name, name.encode(), 0, 0.0)
    reg.register("citizen/elsewhere", "Z", b"Z", 0, 0.0)
    page1 = reg.discover(NS, 2, b"", 1.0)
    page2 = reg.discover(NS, 2, page1.cookie, 1.0)
    page3 = reg.discover(NS, 2, page2.cookie, 1.0)
    assert (_peers(page1), _peers(page2), _peers(page3)) == ([b"A", b"B"], [b"C", b"D"], [b"E"])
    assert _peers(reg.discover(NS, 2, page3.cookie, 1.0)) == []
    # later: a newcomer and a refresh (new addresses) show up, nothing else does
    reg.register(NS, "F", b"F", 0, 2.0)
    reg.register(NS, "B", b"B2", 0, 2.0)
    later = reg.discover(NS, 0, page3.cookie, 3.0)
    assert _peers(later) == [b"F", b"B2"]
    assert _peers(reg.discover(NS, 0, later.cookie, 3.0)) == []


def test_empty_page_keeps_cookie_usable() -> None:
    reg = _registry()
    empty = reg.discover(NS, 0, b"", 0.0)
    assert _peers(empty) == []
    reg.register(NS, "A", b"a", 0, 1.0)
    assert _peers(reg.discover(NS, 0, empty.cookie, 1.0)) == [b"a"]


@pytest.mark.parametrize(
    "cookie",
    [
        b"garbage",
        b"\x02" + INSTANCE + bytes(8) + NS.encode(),  # unknown version
        b"\x01" + b"\x02" * 8 + bytes(8) + NS.encode(),  # another registry
        b"\x01" + INSTANCE + bytes(8) + b"citizen/other",  # another namespace
        b"\x01" + INSTANCE + (99).to_bytes(8, "big") + NS.encode(),  # from the future
    ],
)
def test_foreign_or_forged_cookie_refused(cookie: bytes) -> None:
    reg = _registry()
    reg.register(NS, "A", b"a", 0, 0.0)
    response = reg.discover(NS, 0, cookie, 0.0)
    assert response.status is ResponseStatus.E_INVALID_COOKIE
    assert response.registrations == ()


def test_limit_is_clamped() -> None:
    reg = _registry(Limits(max_discover_limit=3))
    for name in "ABCDE":
        reg.register(NS, name, name.encode(), 0, 0.0)
    assert len(reg.discover(NS, 0, b"", 0.0).registrations) == 3
    assert len(reg.discover(NS, -5, b"", 0.0).registrations) == 3
    assert len(reg.discover(NS, 100, b"", 0.0).registrations) == 3
    assert len(reg.discover(NS, 2, b"", 0.0).registrations) == 2


def test_response_fits_a_frame_and_pages_the_rest() -> None:
    reg = _registry(Limits(max_record_bytes=4000))
    count = 40
    for i in range(count):
        reg.register(NS, f"peer{i}", bytes([i]) * 4000, 0, 0.0)
    seen: list[bytes] = []
    cookie = b""
    pages = 0
    while True:
        page = reg.discover(NS, 0, cookie, 0.0)
        assert len(encode_frame(page)) <= MAX_FRAME_SIZE
        if not page.registrations:
            break
        seen += _peers(page)
        cookie = page.cookie
        pages += 1
    assert seen == [bytes([i]) * 4000 for i in range(count)]
    assert pages > 1


def test_discover_all_only_when_allowed() -> None:
    closed = _registry()
    closed.register(NS, "A", b"a", 0, 0.0)
    assert closed.discover("", 0, b"", 0.0).status is ResponseStatus.E_INVALID_NAMESPACE
    open_ = _registry(Limits(allow_discover_all=True))
    open_.register("n1", "A", b"a", 0, 0.0)
    open_.register("n2", "B", b"b", 0, 0.0)
    open_.register("n1", "C", b"c", 0, 0.0)
    first = open_.discover("", 2, b"", 0.0)
    assert _peers(first) == [b"a", b"b"]
    assert _peers(open_.discover("", 2, first.cookie, 0.0)) == [b"c"]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["reg", "unreg", "tick"]),
            st.sampled_from(["n1", "n2"]),
            st.sampled_from(["A", "B", "C"]),
            st.integers(min_value=0, max_value=400),
        ),
        max_size=40,
    )
)
def test_counts_match_contents(ops: list[tuple[str, str, str, int]]) -> None:
    reg = _registry(Limits(max_registrations_per_peer=5))
    now = 0.0
    for op, ns, peer, n in ops:
        match op:
            case "reg":
                reg.register(ns, peer, peer.encode(), MIN_TTL + n, now)
            case "unreg":
                reg.unregister(ns, peer)
            case _:
                now += n
    listed = sum(len(reg.discover(ns, 0, b"", now).registrations) for ns in ("n1", "n2"))
    assert listed == len(reg)


def test_registry_instance_must_be_8_bytes() -> None:
    with pytest.raises(LocalProtocolError):
        Registry(instance=b"short")


# -- friendship namespaces -------------------------------------------------------------

SECRET = bytes(range(32))


def test_friendship_namespace_is_stable_prefixed_and_bounded() -> None:
    ns = friendship_namespace(SECRET, 20000)
    assert ns == friendship_namespace(bytes(SECRET), 20000)
    assert ns.startswith("citizen/")
    assert len(ns.encode()) <= 255
    assert ns[len("citizen/") :].isalnum() and ns == ns.lower()


def test_friendship_namespace_depends_on_secret_and_epoch() -> None:
    other_secret = bytes(31) + b"\x01"
    names = {
        friendship_namespace(SECRET, 1),
        friendship_namespace(SECRET, 2),
        friendship_namespace(other_secret, 1),
    }
    assert len(names) == 3


def test_friendship_namespace_known_value() -> None:
    # Pinned: both friends, and every future version, must derive the same name.
    assert friendship_namespace(SECRET, 7) == "citizen/mbiddbosbnjt3qgkakqz7qmla7g3iff2"


def test_friendship_namespace_refuses_bad_input() -> None:
    with pytest.raises(LocalProtocolError):
        friendship_namespace(b"short", 1)
    with pytest.raises(LocalProtocolError):
        friendship_namespace(SECRET, -1)


def test_epoch_for() -> None:
    assert epoch_for(0.0) == 0
    assert epoch_for(86399.9) == 0
    assert epoch_for(86400.0) == 1
    assert epoch_for(100.0, period=30) == 3
    with pytest.raises(LocalProtocolError):
        epoch_for(1.0, period=0)


def test_friendship_namespaces_near_a_boundary() -> None:
    mid_day = 10 * 86400 + 43200.0
    assert friendship_namespaces(SECRET, mid_day) == (friendship_namespace(SECRET, 10),)
    just_before = 11 * 86400 - 60.0
    assert friendship_namespaces(SECRET, just_before) == (
        friendship_namespace(SECRET, 10),
        friendship_namespace(SECRET, 11),
    )
    just_after = 11 * 86400 + 60.0
    assert friendship_namespaces(SECRET, just_after) == (
        friendship_namespace(SECRET, 11),
        friendship_namespace(SECRET, 10),
    )


def test_pure_core_imports_no_io() -> None:
    import citizen.net.rendezvous.codec as codec
    import citizen.net.rendezvous.registry as state

    for module in (codec, state):
        assert module.__file__ is not None
        tree = ast.parse(Path(module.__file__).read_text())
        imported = {
            (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }
        roots = {name.split(".")[0] for name in imported}
        assert not roots & {"trio", "libp2p", "sqlite3", "google", "multiaddr"}, module
