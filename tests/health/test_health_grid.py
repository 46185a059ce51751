"""`GET /v1/health` on the in-process grid: each area goes from OK to WARN for real."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from citizen.api import routes_health
from citizen.api.models.health import Health
from citizen.testing.grid import open_grid

DAY = 86400


def lines(health: Health, check: str) -> list[tuple[str, str]]:
    return [(c.level, c.message) for c in health.checks if c.check == check]


class _Later:
    """`time` as `routes_health` sees it, `days` from now."""

    def __init__(self, days: int) -> None:
        self.offset = days * DAY

    def time(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic() + self.offset


async def test_friend_offline_for_8_days_under_protected_object_and_config_typo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_grid(2, tmp_path) as grid:
        alpha, beta = grid.nodes

        async def backed_up() -> bool:
            friends = (await alpha.backup.status())["friends"]
            return any(f["current"] for f in friends)  # type: ignore[attr-defined]

        await grid.wait_until(backed_up, "beta to hold alpha's household backup")
        healthy = await routes_health.health(alpha.node.api)
        assert lines(healthy, "friends") == [("ok", "1 of 1 friend(s) online")]
        assert lines(healthy, "config") == [("ok", "config.toml is valid")]
        assert [level for level, _ in lines(healthy, "data")] == ["ok"]
        assert {c.check for c in healthy.checks} >= {"clock", "disk", "reachability"}

        await grid.stop(beta)
        # with its only friend gone, a new object cannot reach its target protection
        await alpha.put_bytes(b"x" * 5000, name="photo.jpg")
        photos = tmp_path / "photos"
        photos.mkdir()
        (photos / "cat.jpg").write_bytes(b"meow" * 1000)
        folders = alpha.node.folders
        await folders.add(str(photos), name="Photos")
        await folders.scan("Photos")
        with (alpha.data_dir / "config.toml").open("a") as f:
            f.write("\n[netwrok]\nmdns = false\n")
        monkeypatch.setattr(routes_health, "time", _Later(8))
        later = await routes_health.health(alpha.node.api)

        friends = lines(later, "friends")
        assert friends[0][0] == "warn" and "beta: offline for 8 days" in friends[0][1]
        data = [message for level, message in lines(later, "data") if level == "warn"]
        objects = [m for m in data if "object(s) under their target protection" in m]
        assert len(objects) == 1 and "photo.jpg" in objects[0], data
        assert "folder(s) with files under their target protection: Photos" in data
        disks = [message for _, message in lines(later, "disk")]
        assert any(m.startswith(f"folder Photos ({photos}): ") for m in disks), disks
        assert lines(later, "config")[0][0] == "warn"
        assert "[netwrok]" in lines(later, "config")[0][1]
        assert later.level in ("warn", "fail")
