"""Objects across friends with real daemons: put, get, evict, verify, repair, quota, crashes."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
import pytest

from tests.daemons import Daemon, pair, wait_until

MIB = 1024 * 1024


def _network(
    make: Callable[[str], Daemon],
    friends: int,
    owner_storage: dict[str, int] | None = None,
    friend_storage: dict[str, dict[str, int]] | None = None,
) -> tuple[Daemon, list[Daemon]]:
    owner = make("owner")
    owner.init()
    owner.configure(**(owner_storage or {}))
    owner.start()
    out = [
        _add_friend(make, owner, f"f{i}", (friend_storage or {}).get(f"f{i}"))
        for i in range(friends)
    ]
    return owner, out


def _add_friend(
    make: Callable[[str], Daemon], owner: Daemon, name: str, storage: dict[str, int] | None
) -> Daemon:
    f = make(name)
    f.init()
    f.configure(**(storage or {}))
    f.start()
    pair(owner, f)
    wait_until(lambda: _online(owner, name), f"{name} online at the owner")
    return f


def _online(owner: Daemon, name: str) -> bool:
    return any(f["name"] == name and f["online"] for f in owner.json("friends"))


def _household(d: Daemon) -> str:
    return str(d.status()["household"])


def _share_files(d: Daemon) -> list[Path]:
    root = d.data_dir / "shares"
    if not root.exists():
        return []
    return [
        f
        for sub in root.iterdir()
        if sub.is_dir() and sub.name not in ("tmp", "corrupt")
        for f in sub.iterdir()
    ]


def _entry(owner: Daemon, object_id: str) -> Any:
    return next(o for o in owner.json("ls") if o["object_id"] == object_id)


def _manifest_share_ids(owner: Daemon, object_id: str) -> dict[str, set[str]]:
    """Per holder household: the share IDs its share numbers stand for (read via the doc API)."""
    docs = owner.json("doc", "list")
    index = next(d for d in docs if d["title"] == "household index")
    shown = owner.json("doc", "show", index["doc_id"], "--path", f"objects.{object_id}")
    manifest = shown["value"]["manifest"]
    out: dict[str, set[str]] = {}
    for number, holder in manifest["placement"].items():
        ids = {seg["share_hashes"][int(number)] for seg in manifest["segments"]}
        out.setdefault(holder, set()).update(ids)
    return out


def _random_file(path: Path, size: int, seed: int) -> bytes:
    data = random.Random(seed).randbytes(size)
    path.write_bytes(data)
    return data


def _get(owner: Daemon, object_id: str, out: Path) -> bytes:
    owner.json("get", object_id, "-o", str(out))
    return out.read_bytes()


def test_put_spread_survive_corrupt_and_repair(
    make_daemon: Callable[[str], Daemon], tmp_path: Path
) -> None:
    owner, friends = _network(make_daemon, 5)
    households = {_household(f): f for f in friends}
    size = 64 * MIB
    data = _random_file(tmp_path / "in.bin", size, seed=1)
    put = owner.json("put", str(tmp_path / "in.bin"))
    object_id = put["object_id"]
    assert put["state"] == "complete" and put["segments"] == 64
    assert sorted(put["placement"].values()) == sorted(households)

    # every friend holds exactly one share per segment: the ones its share number names
    expected = _manifest_share_ids(owner, object_id)
    for household, friend in households.items():
        files = _share_files(friend)
        assert len(files) == 64
        assert {f.parent.name + f.name for f in files} == expected[household]
    # no share file holds plaintext: 256 random 64-byte runs and each segment's start
    shares = [f.read_bytes() for friend in friends for f in _share_files(friend)]
    rng = random.Random(2)
    needles = [data[p : p + 64] for p in (rng.randrange(size - 64) for _ in range(256))]
    needles += [data[i * MIB : i * MIB + 64] for i in range(64)]
    blob = b"\x00".join(shares)
    assert not any(needle in blob for needle in needles)
    del blob, shares

    # evict the local copy and stop two friends: the bytes come back from the other three
    owner.json("evict", object_id)
    assert _entry(owner, object_id)["local"] is False
    stopped = [households[put["placement"]["3"]], households[put["placement"]["4"]]]
    for f in stopped:
        f.stop()
    assert _get(owner, object_id, tmp_path / "out1.bin") == data
    for f in stopped:
        f.start()
    for f in stopped:
        wait_until(lambda f=f: _online(owner, f.name), f"{f.name} back online")

    # flip a byte in one share of the holder of share 0 (always fetched first)
    victim = households[put["placement"]["0"]]
    target = sorted(_share_files(victim))[0]
    raw = bytearray(target.read_bytes())
    raw[100] ^= 0xFF
    target.write_bytes(bytes(raw))
    report = owner.json("verify", object_id)[0]
    assert not report["healthy"]
    flagged = {h["household"] for h in report["holders"] if not h["healthy"]}
    assert flagged == {_household(victim)}
    assert _get(owner, object_id, tmp_path / "out2.bin") == data
    owner.json("repair")
    report = owner.json("verify", object_id)[0]
    assert report["healthy"], report
    assert target.read_bytes() != bytes(raw)  # the good share is back in place
    assert len(_share_files(victim)) == 64

    # remove one holder: repair moves its shares to a sixth friend
    sixth = _add_friend(make_daemon, owner, "f5", None)
    gone = households[put["placement"]["2"]]
    owner.json("friends", "remove", gone.name)
    wait_until(
        lambda: _entry(owner, object_id)["placement"]["2"] == _household(sixth),
        "repair to re-place share 2 on the sixth friend",
    )
    assert len(_share_files(sixth)) == 64
    assert _entry(owner, object_id)["state"] == "complete"
    assert _get(owner, object_id, tmp_path / "out3.bin") == data

    # rm: holders drop every share and free the quota
    owner.json("rm", object_id)
    assert owner.json("ls") == []
    for f in [*friends, sixth]:
        if f is not gone:
            assert _share_files(f) == [], f.name


@pytest.mark.timeout(600)  # a 40 MiB put, a repair and a get: slow on a loaded 2-core machine
def test_quota_refusal_places_elsewhere(
    make_daemon: Callable[[str], Daemon], tmp_path: Path
) -> None:
    owner, friends = _network(make_daemon, 5, friend_storage={"f0": {"offer_mib": 10}})
    small = friends[0]
    data = _random_file(tmp_path / "in.bin", 40 * MIB, seed=3)
    put = owner.json("put", str(tmp_path / "in.bin"))
    object_id = put["object_id"]
    # the small friend refused past 10 MiB, and dropped what it had taken
    used = {f["name"]: f["used"] for f in small.json("storage")["held_for_friends"]}
    assert used["owner"] == 0
    assert _share_files(small) == []
    assert _household(small) not in put["placement"].values()
    wait_until(
        lambda: len(_entry(owner, object_id)["placement"]) == 5,
        "repair to place the refused share number on another friend",
    )
    # four households hold the five share numbers: evicting would be unsafe, so it is refused
    refused = owner.cli("evict", object_id, check=False)
    assert refused.returncode == 1 and "under-replicated" in refused.stderr, (
        refused,
        owner.log()[-3000:],
    )
    assert _get(owner, object_id, tmp_path / "out.bin") == data
    log = small.log()
    assert "Traceback" not in log

    # a household that can never reach happiness: the put fails cleanly, nothing listed
    for f in friends[1:3]:
        f.stop()
        wait_until(lambda f=f: not _online(owner, f.name), f"the owner to see {f.name} gone")
    failed = owner.cli("put", str(tmp_path / "in.bin"), check=False)
    assert failed.returncode == 1, failed.stdout
    assert "friends" in failed.stderr and "Traceback" not in failed.stderr, failed.stderr
    assert [o["object_id"] for o in owner.json("ls")] == [object_id]


def test_kill_owner_mid_put(make_daemon: Callable[[str], Daemon], tmp_path: Path) -> None:
    owner, friends = _network(make_daemon, 5)
    path = tmp_path / "big.bin"
    _random_file(path, 200 * MIB, seed=4)
    putter = subprocess.Popen(
        [sys.executable, "-m", "citizen", "--json", "put", str(path)],
        env=owner.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    wait_until(lambda: len(_share_files(friends[0])) >= 5, "the put to be under way")
    owner.kill()
    putter.wait(timeout=60)
    assert putter.returncode != 0
    owner.start()
    assert owner.json("ls") == []
    assert list((owner.data_dir / "objects" / "tmp").iterdir()) == []
    for f in friends:
        wait_until(lambda f=f: _online(owner, f.name), f"{f.name} online again")
    put = owner.json("put", str(path))
    assert [o["object_id"] for o in owner.json("ls")] == [put["object_id"]]
    # the interrupted put's orphan shares are reclaimed by an explicit repair
    reclaimed = owner.json("repair")["reclaimed"]
    assert sum(reclaimed.values()) > 0
    for f in friends:
        assert len(_share_files(f)) == 200


def test_large_put_memory_bound(make_daemon: Callable[[str], Daemon], tmp_path: Path) -> None:
    size = int(os.environ.get("CITIZEN_TEST_BIG_MIB", "1024")) * MIB
    owner, _friends = _network(make_daemon, 5)
    path = tmp_path / "big.bin"
    with open(path, "wb") as f:
        rng = random.Random(5)
        for _ in range(size // MIB):
            f.write(rng.randbytes(MIB))
    assert owner.proc is not None
    proc = psutil.Process(owner.proc.pid)
    before = proc.memory_info().rss
    put = owner.json("put", str(path))
    assert put["size"] == size
    peak = _peak_rss(owner.proc.pid)
    print(f"owner RSS before put {before / MIB:.0f} MiB, peak {peak / MIB:.0f} MiB")
    assert peak < 200 * MIB


def _peak_rss(pid: int) -> int:
    """The process's peak resident set size so far (Linux VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_friends_offer_limits_what_a_friend_may_store(
    make_daemon: Callable[[str], Daemon], tmp_path: Path
) -> None:
    owner, (holder,) = _network(make_daemon, 1, owner_storage={"k": 1, "n": 1, "happiness": 1})
    # bad input: a clear error, the offer unchanged
    for bad in (("owner", "-1"), ("owner", "lots"), ("nobody", "5")):
        refused = holder.cli("friends", "offer", *bad, check=False)
        assert refused.returncode != 0 and refused.stderr.strip(), bad
        assert "Traceback" not in refused.stderr, refused.stderr
    assert friend_offer(holder, "owner") is None
    assert holder.json("friends", "offer", "owner", "1")["offer_bytes"] == MIB
    assert friend_offer(holder, "owner") == MIB
    # past the offer the only holder refuses: the put fails with the quota message
    _random_file(tmp_path / "big.bin", 4 * MIB, seed=9)
    failed = owner.cli("put", str(tmp_path / "big.bin"), check=False)
    assert failed.returncode == 1, failed.stdout
    assert "storage" in failed.stderr.lower() and "internal" not in failed.stderr, failed.stderr
    assert owner.json("ls") == []
    # back to the default offer: the same put fits
    assert holder.json("friends", "offer", "owner", "default")["offer_bytes"] is None
    put = owner.json("put", str(tmp_path / "big.bin"))
    assert put["state"] == "complete"


def friend_offer(d: Daemon, name: str) -> int | None:
    offer = next(f["offer_bytes"] for f in d.json("friends") if f["name"] == name)
    return int(offer) if offer is not None else None
