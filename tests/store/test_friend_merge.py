"""The household friend list's last-writer-wins merge and the checks on a peer's copy."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nacl.signing import SigningKey

from citizen.errors import RemoteProtocolError
from citizen.identity.certs import issue_certificate
from citizen.identity.fingerprints import device_id, household_id
from citizen.store.backup_state import DeviceState, FriendRemoval, FriendState
from citizen.store.friend_merge import Entry, check_entries, merge, merge_entry, normalized

NOW = 1_700_000_000_000
OURS = household_id(bytes(SigningKey(b"\x09" * 32).verify_key))


def device(household: SigningKey, seed: int, addrs: tuple[str, ...] = ()) -> DeviceState:
    key = bytes(SigningKey(bytes([seed]) * 32).verify_key)
    cert = issue_certificate(household, key, f"dev{seed}", issued=1)
    return DeviceState(device_id(key), f"dev{seed}", cert.raw, addrs)


def friend(seed: int, changed_at: int, *devices: int, name: str = "f") -> FriendState:
    key = SigningKey(bytes([seed]) * 32)
    return FriendState(
        household_id(bytes(key.verify_key)),
        bytes(key.verify_key),
        name,
        bytes([seed]) * 32,
        1,
        None,
        "a b c d",
        tuple(device(key, 100 + d) for d in devices),
        changed_at,
    )


def removal(seed: int, at: int, by: str = "") -> FriendRemoval:
    return FriendRemoval(
        friend(seed, 0).household, at, by or device(SigningKey(b"\x09" * 32), 7).device
    )


def test_newer_removal_wins_and_reports_the_friend_removed() -> None:
    f = friend(1, 1000, 1)
    merged = merge({f.household: f}, [removal(1, 2000)], set())
    assert merged.writes == (removal(1, 2000),)
    assert merged.removed == (f,) and merged.added == ()


def test_older_copy_does_not_bring_a_removed_friend_back() -> None:
    gone = removal(1, 2000)
    assert merge({gone.household: gone}, [friend(1, 1000, 1)], set()).writes == ()


def test_repairing_after_the_removal_wins() -> None:
    gone = removal(1, 2000)
    back = friend(1, 3000, 1)
    merged = merge({gone.household: gone}, [back], set())
    assert merged.writes == (back,) and merged.added == (back.household,)


def test_a_tie_goes_to_the_removal_on_both_sides() -> None:
    f, gone = friend(1, 2000, 1), removal(1, 2000)
    assert merge_entry(f, gone, set()) == gone
    assert merge_entry(gone, f, set()) is None


def test_devices_are_a_union_minus_revoked() -> None:
    mine = friend(1, 1000, 1, 2)
    theirs = friend(1, 2000, 2, 3, name="newer")
    revoked = {device(SigningKey(b"\x01" * 32), 101).device}
    after = merge_entry(mine, theirs, revoked)
    assert isinstance(after, FriendState)
    assert after.name == "newer"
    wanted = {d.device for d in friend(1, 0, 2, 3).devices}
    assert {d.device for d in after.devices} == wanted


def test_a_device_gets_the_addresses_of_its_latest_sighting() -> None:
    key = SigningKey(b"\x01" * 32)
    seen_here = replace(device(key, 101, ("/ip4/10.0.0.1/tcp/1",)), last_seen=50)
    seen_there = replace(device(key, 101, ("/ip4/10.0.0.2/tcp/2",)), last_seen=60)
    mine = replace(friend(1, 2000), devices=(seen_here,))
    theirs = replace(friend(1, 1000), devices=(seen_there,))
    after = merge_entry(mine, theirs, set())
    assert after == replace(mine, devices=(seen_there,))  # our copy wins, their sighting
    assert merge_entry(theirs, mine, set()) == after
    assert merge_entry(after, theirs, set()) is None


def test_merging_the_same_copy_twice_changes_nothing() -> None:
    f = friend(1, 1000, 1)
    assert merge_entry(f, f, set()) is None
    assert merge({}, [f], set()).writes == (normalized(f),)


def test_an_old_backup_entry_counts_from_its_pairing() -> None:
    old = replace(friend(1, 0, 1), paired_at=5)  # 5 s = 5000 ms
    assert merge_entry(old, removal(1, 4999), set()) is None
    assert merge_entry(old, removal(1, 5001), set()) == removal(1, 5001)


def _sighted(f: FriendState, seen: int | None) -> FriendState:
    addrs = () if seen is None else (f"/ip4/10.0.0.{seen}/tcp/1",)
    return replace(f, devices=tuple(replace(d, last_seen=seen, addrs=addrs) for d in f.devices))


entries = st.one_of(
    st.builds(
        lambda seed, at, devices, name, seen: _sighted(friend(seed, at, *devices, name=name), seen),
        st.integers(1, 3),
        st.integers(1, 5),
        st.sets(st.integers(1, 4), max_size=3),
        st.sampled_from(["a", "b"]),
        st.none() | st.integers(0, 3),
    ),
    st.builds(removal, st.integers(1, 3), st.integers(1, 5)),
)


def _apply(state: dict[str, Entry], copy: list[Entry]) -> dict[str, Entry]:
    out = dict(state)
    for e in merge(state, copy, set()).writes:
        out[e.household] = e
    return out


@given(st.lists(entries, max_size=6), st.lists(entries, max_size=6))
def test_two_devices_converge_after_swapping(a_ops: list[Entry], b_ops: list[Entry]) -> None:
    a: dict[str, Entry] = {}
    for op in a_ops:
        a = _apply(a, [op])
    b: dict[str, Entry] = {}
    for op in b_ops:
        b = _apply(b, [op])
    a_after = _apply(a, list(b.values()))
    b_after = _apply(b, list(a.values()))
    assert a_after == b_after
    assert _apply(a_after, list(b_after.values())) == a_after  # and stay put


def test_check_accepts_a_valid_copy() -> None:
    check_entries([friend(1, NOW, 1, 2), removal(2, NOW)], ours=OURS, now_ms=NOW)


@pytest.mark.parametrize(
    "bad",
    [
        [friend(1, NOW), friend(1, NOW)],  # a household twice
        [replace(friend(1, NOW), household=friend(2, 0).household)],  # not its key's ID
        [replace(friend(1, NOW), household=OURS)],  # ourselves
        [friend(1, NOW + 10**9)],  # stamped far in the future
        [replace(friend(1, NOW, 1), devices=friend(2, NOW, 1).devices)],  # another's device
        [replace(friend(1, NOW, 1), devices=friend(1, NOW, 1, 1).devices[:1] * 2)],
        [replace(removal(1, NOW), household="not-an-id")],
        [replace(removal(1, NOW), removed_by="x")],
    ],
)
def test_check_refuses_a_bad_copy(bad: list[Entry]) -> None:
    with pytest.raises(RemoteProtocolError):
        check_entries(bad, ours=OURS, now_ms=NOW)


def test_check_refuses_a_forged_certificate() -> None:
    f = friend(1, NOW, 1)
    d = f.devices[0]
    forged = replace(f, devices=(replace(d, cert=d.cert[:-1] + bytes([d.cert[-1] ^ 1])),))
    with pytest.raises(RemoteProtocolError):
        check_entries([forged], ours=OURS, now_ms=NOW)
