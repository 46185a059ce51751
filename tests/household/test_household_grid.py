"""A household of several devices on an in-process grid: enrolling, its friend list, revoking.

Moved from tests/e2e/test_household_friends.py and the service-level half of
tests/e2e/test_devices.py; enrolling and revoking through the CLI
(`device add`, `init --join`, `device remove`) stays in tests/e2e/test_devices.py.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from citizen.errors import HouseholdKeyMissingError, InviteError
from citizen.testing.datadir import join_data_dir
from citizen.testing.grid import Grid, GridNode, open_grid


async def _household(grid: Grid) -> tuple[GridNode, GridNode]:
    """A household "home": its Pi, and a laptop enrolled with a `device add` code."""
    pi = await grid.add("home")
    laptop = await grid.enroll(pi, "laptop")
    await grid.wait_connected(pi, laptop)
    return pi, laptop


async def test_friends_follow_the_household(tmp_path: Path) -> None:
    async with open_grid(0, tmp_path) as grid:
        pi, laptop = await _household(grid)
        f = await grid.add("f")

        # paired on the pi after the laptop was enrolled: the laptop gets f and reaches it itself
        await grid.pair(pi, f)
        await grid.wait_until(lambda: laptop.is_online("f"), "the laptop to reach f's device")
        on_pi, on_laptop = await pi.friend("f"), await laptop.friend("f")
        assert on_pi is not None and on_laptop is not None
        assert on_laptop["household"] == on_pi["household"] and on_laptop["sas"] == on_pi["sas"]
        assert {d["device"] for d in on_laptop["devices"]} == {f.device}  # type: ignore[attr-defined]

        # a doc f shares with the household reaches the laptop too
        doc = str((await f.docs.create("Recipes"))["doc_id"])
        await f.docs.set(doc, "soup", "leek")
        await f.docs.share(doc, "home", "reader")
        await grid.wait_until(lambda: _has(laptop, doc, {"soup": "leek"}), "f's doc on the laptop")

        # removed on the laptop: gone on the pi, which disconnects f and refuses it from then on
        await laptop.friends.remove("f")
        assert await laptop.friend("f") is None
        await grid.wait_until(_gone(pi, "f"), "the pi to drop f")
        await grid.wait_until(
            lambda: f"{f.device}: friend removed" in pi.log(), "the pi to disconnect f"
        )
        await grid.wait_until(_offline(f, "home"), "f to lose both devices")
        seen = len(pi.log())
        await grid.restart(f)  # f dials the household's devices afresh
        await grid.wait_until(
            lambda: "not a friend" in pi.log()[seen:], "the pi to refuse f's reconnection"
        )
        assert await pi.friend("f") is None and await laptop.friend("f") is None
        assert not await f.is_online("home")

        # paired on the pi while the laptop is off: the laptop gets it when it is back
        await grid.stop(laptop)
        g = await grid.add("g")
        await grid.pair(pi, g)
        await grid.start(laptop)
        await grid.wait_until(lambda: laptop.is_online("g"), "the laptop to reach g after restart")
        assert await laptop.friend("f") is None


async def test_a_removal_outlives_an_older_copy_and_a_new_pairing_wins(tmp_path: Path) -> None:
    async with open_grid(0, tmp_path) as grid:
        pi, laptop = await _household(grid)
        f = await grid.add("f")
        await grid.pair(pi, f)
        await grid.wait_until(lambda: laptop.is_online("f"), "the laptop to reach f")

        # the pi is off (holding its older copy of f) while the laptop removes f
        await grid.stop(pi)
        await laptop.friends.remove("f")
        await grid.start(pi)
        await grid.wait_until(_gone(pi, "f"), "the pi's older copy to lose")
        # a later change still flows, and f has not come back on either device
        g = await grid.add("g")
        await grid.pair(pi, g)
        await grid.wait_until(lambda: laptop.is_online("g"), "the laptop to reach g")
        assert await pi.friend("f") is None and await laptop.friend("f") is None

        # pairing again after the removal wins over the tombstone, on both devices
        await f.friends.remove("home")
        invite = await laptop.friends.create_invite(600)
        await f.friends.accept(str(invite["code"]), None)
        await grid.wait_until(lambda: pi.is_online("f"), "the pi to reach f again")
        await grid.wait_until(lambda: laptop.is_online("f"), "the laptop to reach f again")


async def test_enrolled_device_syncs_docs_and_objects_and_is_refused_once_revoked(
    tmp_path: Path,
) -> None:
    async with open_grid(0, tmp_path) as grid:
        pi = grid.make("pi", {"k": 1, "n": 2, "happiness": 2})  # two friends hold 1-of-2 shares
        await grid.start(pi)
        friend = await grid.add("friend")
        other = await grid.add("other")
        await grid.pair(pi, friend)
        await grid.pair(pi, other)

        code = str((await pi.household.create_enrollment(600))["code"])
        laptop_dir = tmp_path / "laptop"
        cert = await join_data_dir(laptop_dir, code, "laptop")
        assert cert.household == pi.household_id
        with pytest.raises(InviteError, match="already used"):
            await join_data_dir(tmp_path / "thief", code, "thief")
        assert not (tmp_path / "thief" / "keys").exists()
        laptop = grid.adopt("laptop", laptop_dir)
        await grid.start(laptop)

        devices = await pi.household.list_devices()
        assert [d["holds_household_key"] for d in devices if d["this_device"]] == [True]
        await grid.wait_connected(pi, laptop)
        [mine] = [d for d in await laptop.household.list_devices() if d["this_device"]]
        assert mine["name"] == "laptop" and not mine["holds_household_key"]
        # the laptop knows the household's friends and the friend accepts it from its certificate
        await grid.wait_until(lambda: laptop.is_online("friend"), "the laptop to reach the friend")

        # a doc made and edited on the laptop appears on the pi, and the other way round
        doc = str((await laptop.docs.create("Holidays"))["doc_id"])
        await laptop.docs.set(doc, "where", "sea")
        await grid.wait_until(lambda: _has(pi, doc, {"where": "sea"}), "the laptop's doc on the pi")
        await pi.docs.set(doc, "when", "july")
        await grid.wait_until(
            lambda: _has(laptop, doc, {"where": "sea", "when": "july"}), "the pi's edit"
        )

        # a file put on the pi is listed on the laptop and readable there (from friends)
        data = os.urandom(300_000)
        object_id = str((await pi.put_bytes(data, "photo.jpg"))["object_id"])

        async def listed() -> bool:
            return object_id in {o["object_id"] for o in await laptop.objects.list()}

        await grid.wait_until(listed, "the laptop to list it")
        await grid.wait_until(lambda: laptop.is_online("other"), "the laptop to reach other")
        assert await laptop.get_bytes(object_id) == data

        # a device without the household key says so when asked to do what needs it
        with pytest.raises(HouseholdKeyMissingError, match="household key"):
            await laptop.household.create_enrollment(600)

        # revoke the laptop: the pi and the friend refuse it from then on
        revoked = await pi.household.remove_device("laptop")
        assert revoked["revoked"] is True
        assert "laptop" not in {d["name"] for d in await pi.household.list_devices()}
        # the fact, not its log line: a record logged in a task another node's context
        # spawned can land in that node's log
        store = friend.node.household_store
        assert store is not None
        await grid.wait_until(lambda: store.is_revoked(laptop.device), "the friend to learn of it")
        await grid.wait_until(_offline(laptop, "friend"), "the friend to drop the laptop")
        await grid.stop(laptop)
        seen = len(pi.log())
        await grid.start(laptop)
        await grid.wait_until(
            lambda: "This device was revoked" in pi.log()[seen:], "the pi to refuse the laptop"
        )
        assert not await laptop.is_online("friend")
        assert "laptop" not in {d["name"] for d in await pi.household.list_devices()}


async def _has(node: GridNode, doc: str, value: object) -> bool:
    return await node.doc_value(doc) == value


def _gone(node: GridNode, friend: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await node.friend(friend) is None

    return check


def _offline(node: GridNode, friend: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return not await node.is_online(friend)

    return check
