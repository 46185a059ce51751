"""Local API: `GET /v1/health`, the doctor's verdicts over facts gathered from every service."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import trio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from citizen.api.bodies import convert_as
from citizen.api.context import ApiContext
from citizen.api.models.backup import BackupStatus
from citizen.api.models.health import Health
from citizen.api.models.status import Status
from citizen.api.operations import Operation
from citizen.health import system
from citizen.health.checks import (
    ClockFacts,
    ConfigFacts,
    DataFacts,
    DiskFacts,
    Facts,
    FriendFact,
    FriendsFacts,
    ReachFacts,
    run_checks,
    worst,
)
from citizen.objects.health import recently_refused

HEALTH = Operation(
    method="GET",
    path="/v1/health",
    operation_id="getHealth",
    tag="meta",
    summary="The doctor: clock, disk, reachability, friends, data and config, OK/WARN/FAIL each.",
    response=Health,
    ok="One verdict per line of `citizen doctor`, with what to do.",
)

OPERATIONS: tuple[Operation, ...] = (HEALTH,)


def _reach(status: Status, friends_online: int) -> ReachFacts:
    mapping = status.port_mapping
    punch = status.hole_punch
    return ReachFacts(
        offline=status.offline,
        state=status.reachability,
        friends_online=friends_online,
        relay_addrs=status.relay_addrs or (),
        port_mapping_enabled=mapping.enabled,
        port_mapping_addrs=mapping.external_addrs,
        port_mapping_error=mapping.error,
        punch_upgraded=punch.upgraded if punch else 0,
        punch_failed=punch.failed if punch else 0,
        observed_addrs=status.observed_addrs or (),
        checked_by=status.checked_by or 0,
    )


@dataclass(frozen=True, slots=True)
class _Held:
    household: str
    used: int
    quota: int


def _protected(listed: dict[str, object]) -> bool:
    """Whether an object's listing says it is at the household's target protection."""
    if "protection" in listed:
        return listed["protection"] == "protected"
    return listed.get("state") == "complete"


def _short_of_protection(counts: object) -> bool:
    """Whether a folder's files-per-protection counts hold any file not yet protected."""
    if not isinstance(counts, dict):
        return False
    return any(n for state, n in counts.items() if state != "protected")


def _bad_shares(listed: dict[str, object]) -> int:
    bad = listed.get("bad")
    if not isinstance(bad, dict):
        return 0
    return sum(len(v) for v in bad.values() if isinstance(v, list | tuple))


async def gather(ctx: ApiContext) -> Facts:
    """Everything the checks look at, from the services that are running and the machine."""
    from citizen.friends.service import FriendsService

    info = ctx.find("daemon", system.DaemonInfo)
    status = ctx.status()
    now = int(time.time())
    objects = ctx.objects()
    # the services' own dicts, read for the few fields the checks need (the API models of
    # objects and storage carry more, and change with them)
    storage = await objects.storage()
    held_rows = storage.get("held_for_friends")
    held_list = [
        _Held(str(h["household"]), int(h["used"]), int(h["quota"]))
        for h in (held_rows if isinstance(held_rows, list) else [])
    ]
    listing = await objects.list()

    friends = ctx.find("friends", FriendsService)
    friends_facts = FriendsFacts(known=False)
    offsets: dict[str, float] = {}
    online = 0
    if friends is not None:
        held = {h.household: h for h in held_list}
        refused = objects.context.refused
        rows = await friends.list_json()
        facts = []
        # each online friend household's clock: the median over its connected devices
        skews: dict[str, list[float]] = {}
        for device, household_id in friends.online.items():
            if device in friends.clock_offsets:
                skews.setdefault(household_id, []).append(friends.clock_offsets[device])
        for row in rows:
            household = str(row["household"])
            last_seen = row.get("last_seen")
            own = skews.get(household)
            if own:
                offsets[str(row["name"])] = statistics.median(own)
            facts.append(
                FriendFact(
                    name=str(row["name"]),
                    online=row.get("online") is True,
                    last_seen=last_seen if isinstance(last_seen, int) else None,
                    used=held[household].used if household in held else 0,
                    quota=held[household].quota if household in held else 0,
                    clock_offset=statistics.median(own) if own else None,
                    refused_for_quota=recently_refused(refused, household, time.monotonic()),
                )
            )
        friends_facts = FriendsFacts(friends=tuple(facts))
        online = sum(1 for f in facts if f.online)

    from citizen.folders.service import FolderService

    service = ctx.find("folders", FolderService)
    folders = [f for f in (await service.list() if service else []) if f.get("state") != "removed"]
    backup = convert_as(await ctx.backup().status(), BackupStatus)
    last_push = await ctx.backup().last_push()
    data = DataFacts(
        objects=len(listing),
        under_protected=tuple(str(o["name"]) for o in listing if not _protected(o)),
        bad_shares={str(o["name"]): n for o in listing if (n := _bad_shares(o))},
        backup_enabled=backup.enabled,
        backup_version=backup.version,
        backup_holders=sum(1 for f in backup.friends if f.current),
        backup_last_push=last_push,
        folders_under_protected=tuple(
            str(f["name"]) for f in folders if _short_of_protection(f.get("protection"))
        ),
        folders_paused={
            str(f["name"]): str(f.get("error") or "") for f in folders if f.get("state") == "paused"
        },
    )

    def machine() -> tuple[ClockFacts, DiskFacts, ConfigFacts]:
        clock = system.ntp_state()
        if info is None:
            return clock, DiskFacts(), ConfigFacts()
        places = (
            system.place("data dir", info.data_dir),
            system.place("share store", info.data_dir / "shares"),
            # a folder `elsewhere` lives on another of the household's devices
            *(
                system.place(f"folder {f['name']}", Path(str(f["path"])))
                for f in folders
                if f.get("state") != "elsewhere"
            ),
        )
        disk = DiskFacts(
            places=places,
            share_used=sum(h.used for h in held_list),
            share_offered=sum(h.quota for h in held_list),
            sd_writes_per_day=system.sd_writes_per_day(),
        )
        return clock, disk, system.config_facts(info.data_dir, info.config)

    ntp, disk, config = await trio.to_thread.run_sync(machine)
    clock = ClockFacts(friend_offsets=offsets, ntp_synced=ntp.ntp_synced, ntp_source=ntp.ntp_source)
    return Facts(
        now=now,
        clock=clock,
        disk=disk,
        reach=_reach(status, online),
        friends=friends_facts,
        data=data,
        config=config,
    )


async def health(ctx: ApiContext) -> Health:
    """The verdicts of every check, as `GET /v1/health` answers them."""
    verdicts = run_checks(await gather(ctx))
    return convert_as(
        {
            "level": worst(verdicts),
            "checks": [
                {"check": v.check, "level": v.level, "message": v.message, "hint": v.hint}
                for v in verdicts
            ],
        },
        Health,
    )


def routes(ctx: ApiContext) -> list[BaseRoute]:
    async def get_health(_request: Request) -> Response:
        return HEALTH.respond(await health(ctx))

    return [HEALTH.route(get_health)]
