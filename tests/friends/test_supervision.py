"""A per-friend task or a feature's clean-up that fails is logged; the daemon carries on."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from citizen.ids import HouseholdId
from citizen.testing.grid import open_grid


async def test_a_failing_per_friend_task_is_logged_and_the_node_runs_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="citizen.net.tasks")
    async with open_grid(1, tmp_path, pairing="none") as grid:
        a = grid.nodes[0]

        async def fails(_who: object) -> None:
            raise RuntimeError("a bug in one friend's task")

        a.friends._nursery_start(fails, "beta")
        await grid.wait_until(lambda: "a bug in one friend's task" in caplog.text, "the log")
        assert a.running
        assert (await a.docs.create("still here"))["doc_id"]


async def test_one_features_failing_clean_up_skips_no_other(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="citizen.net.tasks")
    async with open_grid(1, tmp_path, pairing="none") as grid:
        a = grid.nodes[0]
        seen: list[HouseholdId] = []

        async def fails(_household: HouseholdId) -> None:
            raise RuntimeError("one feature's clean-up broke")

        async def records(household: HouseholdId) -> None:
            seen.append(household)

        a.friends._removed_callbacks.insert(0, fails)
        a.friends.on_friend_removed(records)
        await a.friends.forget(HouseholdId("GONE"), [])
        assert seen == ["GONE"]
        assert "one feature's clean-up broke" in caplog.text
        assert a.running
