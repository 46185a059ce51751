"""Each doctor check, pure: the facts of a broken Pi make it WARN or FAIL, a healthy one OK."""

from __future__ import annotations

from citizen.health.checks import (
    CLOCK_WARN_S,
    ClockFacts,
    ConfigFacts,
    DataFacts,
    DiskFacts,
    Facts,
    FriendFact,
    FriendsFacts,
    Place,
    ReachFacts,
    Verdict,
    check_clock,
    check_config,
    check_data,
    check_disk,
    check_friends,
    check_reachability,
    exit_code,
    nat_mapping,
    run_checks,
    worst,
)

NOW = 1_800_000_000
DAY = 86400
GIB = 1024**3


def levels(verdicts: list[Verdict]) -> list[str]:
    return [v.level for v in verdicts]


def test_a_friend_clock_ten_minutes_off_fails_and_close_clocks_pass() -> None:
    off = check_clock(ClockFacts(friend_offsets={"beta": 600.0}))
    assert levels(off) == ["fail"]
    assert "600 s behind" in off[0].message and "timedatectl" in off[0].hint
    # the median: one friend with a wrong clock does not make ours wrong
    median = check_clock(ClockFacts(friend_offsets={"a": 1.0, "b": -2.0, "c": 900.0}))
    assert levels(median) == ["ok"]
    assert levels(check_clock(ClockFacts(friend_offsets={"a": -45.0}))) == ["warn"]
    assert "ahead of" in check_clock(ClockFacts(friend_offsets={"a": -45.0}))[0].message
    assert levels(check_clock(ClockFacts(friend_offsets={"a": CLOCK_WARN_S - 1}))) == ["ok"]


def test_ntp_not_synchronised_warns() -> None:
    bad = check_clock(ClockFacts(ntp_synced=False, ntp_source="timedatectl"))
    assert levels(bad) == ["warn"] and "set-ntp true" in bad[0].hint
    assert levels(check_clock(ClockFacts(ntp_synced=True, ntp_source="adjtimex"))) == ["ok"]
    assert levels(check_clock(ClockFacts())) == ["ok"]  # nothing to tell: no alarm


def test_a_nearly_full_disk_fails_a_filling_one_warns() -> None:
    full = check_disk(DiskFacts(places=(Place("share store", "/s", 10 * 1024**2, 8 * GIB),)))
    assert levels(full) == ["fail"] and "citizen evict" in full[0].hint
    filling = check_disk(DiskFacts(places=(Place("data dir", "/d", 512 * 1024**2, 8 * GIB),)))
    assert levels(filling) == ["warn"]
    roomy = check_disk(DiskFacts(places=(Place("data dir", "/d", 20 * GIB, 32 * GIB),)))
    assert levels(roomy) == ["ok"]


def test_offering_friends_more_than_the_disk_holds_warns() -> None:
    places = (Place("share store", "/s", 4 * GIB, 32 * GIB),)
    over = check_disk(DiskFacts(places=places, share_used=GIB, share_offered=20 * GIB))
    assert levels(over) == ["ok", "warn"] and "friends offer" in over[1].hint
    fits = check_disk(DiskFacts(places=places, share_used=GIB, share_offered=3 * GIB))
    assert levels(fits) == ["ok", "ok"]


def test_an_sd_card_written_hard_warns() -> None:
    hard = check_disk(DiskFacts(sd_writes_per_day={"mmcblk0": 50.0 * GIB}))
    assert levels(hard) == ["warn"] and "USB disk" in hard[0].hint
    assert levels(check_disk(DiskFacts(sd_writes_per_day={"mmcblk0": 1.0 * GIB}))) == ["ok"]


def test_reachability() -> None:
    assert levels(check_reachability(ReachFacts(offline=True))) == ["warn"]
    assert levels(check_reachability(ReachFacts(state="public"))) == ["ok"]
    relayed = check_reachability(ReachFacts(state="behind_nat", relay_addrs=("/p2p-circuit",)))
    assert levels(relayed) == ["warn"] and "relay" in relayed[0].message
    cut_off = check_reachability(ReachFacts(state="behind_nat"))
    assert levels(cut_off) == ["fail"]
    mapping = ReachFacts(
        state="behind_nat",
        friends_online=1,
        port_mapping_enabled=True,
        port_mapping_error="no gateway",
        punch_failed=3,
    )
    assert levels(check_reachability(mapping)) == ["warn", "warn", "warn"]
    mapped = ReachFacts(
        state="public", port_mapping_enabled=True, port_mapping_addrs=("/ip4/1.2.3.4/tcp/4747",)
    )
    assert levels(check_reachability(mapped)) == ["ok", "ok"]


def test_the_nat_kind_as_friends_see_it() -> None:
    one = "/ip4/198.51.100.2/tcp/4747"
    assert nat_mapping((one,), 2) == "one port"
    assert nat_mapping((one,), 1) is None  # one friend cannot tell
    assert nat_mapping((one, "/ip4/198.51.100.2/tcp/53122"), 2) == "port per friend"
    assert nat_mapping((one, "/ip4/203.0.113.9/tcp/4747"), 2) is None  # two networks
    assert nat_mapping((), 3) is None
    kept = ReachFacts(state="behind_nat", friends_online=2, observed_addrs=(one,), checked_by=2)
    verdicts = check_reachability(kept)
    assert levels(verdicts) == ["warn", "ok"] and "one port for every friend" in verdicts[1].message
    symmetric = ReachFacts(
        state="behind_nat",
        friends_online=2,
        relay_addrs=("/p2p-circuit",),
        observed_addrs=(one, "/ip4/198.51.100.2/tcp/40001"),
        checked_by=2,
    )
    verdicts = check_reachability(symmetric)
    assert levels(verdicts) == ["warn", "warn"] and "another port" in verdicts[1].message
    # a public device's NAT kind is not worth a line
    public = ReachFacts(state="public", observed_addrs=(one,), checked_by=2)
    assert levels(check_reachability(public)) == ["ok"]


def test_a_friend_offline_for_eight_days_warns() -> None:
    gone = FriendsFacts(friends=(FriendFact("beta", False, NOW - 8 * DAY),))
    verdict = check_friends(gone, NOW)
    assert levels(verdict) == ["warn"]
    assert "beta: offline for 8 days" in verdict[0].message
    recent = FriendsFacts(friends=(FriendFact("beta", False, NOW - 2 * DAY),))
    assert levels(check_friends(recent, NOW)) == ["ok"]
    assert levels(check_friends(FriendsFacts(), NOW)) == ["warn"]  # no friends yet


def test_a_friend_whose_offer_to_us_is_used_up_warns() -> None:
    full = FriendsFacts(friends=(FriendFact("beta", True, NOW, refused_for_quota=True),))
    verdicts = check_friends(full, NOW)
    assert (
        levels(verdicts) == ["warn"] and "storage they offer you is used up" in verdicts[0].message
    )


def test_a_friend_at_its_quota_warns() -> None:
    full = FriendsFacts(friends=(FriendFact("beta", True, NOW, used=95, quota=100),))
    assert levels(check_friends(full, NOW)) == ["warn"]
    roomy = FriendsFacts(friends=(FriendFact("beta", True, NOW, used=10, quota=100),))
    assert levels(check_friends(roomy, NOW)) == ["ok"]


def test_under_protected_objects_bad_shares_and_backup() -> None:
    under = check_data(DataFacts(objects=2, under_protected=("photo.jpg",)), NOW)
    assert levels(under) == ["warn"] and "photo.jpg" in under[0].message
    assert levels(check_data(DataFacts(objects=2), NOW)) == ["ok"]
    folders = DataFacts(
        folders_under_protected=("Photos",), folders_paused={"Music": "its root is missing"}
    )
    assert levels(check_data(folders, NOW)) == ["warn", "warn"]
    assert "folder Music is paused: its root is missing" in check_data(folders, NOW)[1].message
    bad = check_data(DataFacts(objects=1, bad_shares={"a.txt": 2}), NOW)
    assert levels(bad) == ["ok", "warn"] and bad[1].hint == "Run `citizen repair`."
    no_backup = check_data(DataFacts(backup_enabled=True, backup_version=3), NOW)
    assert levels(no_backup) == ["warn"]
    stale = DataFacts(
        backup_enabled=True, backup_version=3, backup_holders=0, backup_last_push=NOW - 9 * DAY
    )
    assert levels(check_data(stale, NOW)) == ["warn"]
    assert "one last reached a friend 9 days ago" in check_data(stale, NOW)[0].message
    fresh = DataFacts(backup_enabled=True, backup_version=3, backup_holders=2)
    assert levels(check_data(fresh, NOW)) == ["ok"]


def test_config() -> None:
    assert levels(check_config(ConfigFacts(error="storage.k ..."))) == ["fail"]
    typo = check_config(ConfigFacts(unknown=("network.listne",)))
    assert levels(typo) == ["warn"] and "network.listne" in typo[0].message
    changed = check_config(ConfigFacts(changed=("storage.k",)))
    assert levels(changed) == ["warn"] and "restart" in changed[0].hint
    assert levels(check_config(ConfigFacts())) == ["ok"]


def test_exit_code_is_non_zero_only_on_a_fail() -> None:
    ok = Verdict("clock", "ok", "")
    warn = Verdict("disk", "warn", "")
    fail = Verdict("config", "fail", "")
    assert (exit_code([ok]), exit_code([ok, warn]), exit_code([warn, fail, ok])) == (0, 0, 1)
    assert (worst([]), worst([ok, warn]), worst([fail, warn])) == ("ok", "warn", "fail")


def test_run_checks_covers_every_area() -> None:
    disk = DiskFacts(places=(Place("data dir", "/d", 20 * GIB, 32 * GIB),))
    checks = {v.check for v in run_checks(Facts(now=NOW, disk=disk))}
    assert checks == {"clock", "disk", "reachability", "friends", "data", "config"}


def test_a_friend_whose_clock_is_off_while_ours_agrees_with_the_others_warns() -> None:
    friends = FriendsFacts(
        friends=(
            FriendFact("beta", True, NOW, clock_offset=1.0),
            FriendFact("gamma", True, NOW, clock_offset=-1.0),
            FriendFact("delta", True, NOW, clock_offset=400.0),
        )
    )
    verdicts = check_friends(friends, NOW)
    assert levels(verdicts) == ["warn"]
    assert verdicts[0].message == "delta's clock is 399 s ahead of the others'"
