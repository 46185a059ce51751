"""A churn soak with real daemons: friends come, go, crash and are paired again while work goes on.

One owner household and five friend households, all paired with the owner. A
seeded `random.Random` picks each step: stop a friend, start a stopped one,
kill -9 one and start it again, remove one (at the owner, and at the friend
too or not) and later pair it again with a fresh invite, put a small object at
the owner (local first: acknowledged while friends are offline too), change a
doc at the owner, or change it at a friend it is shared with as writer. Every acknowledged change
(doc, key, value) and put (object ID, SHA-256) is recorded.

At the end every friend is started and paired again, and then: no daemon exited
unless the test stopped it, every acknowledged change is on the owner and on
every friend the doc is shared with, every object is byte-identical from the
owner's local copy, reaches `protected` by itself, and is byte-identical again
from the friends' shares once the local copy is evicted.

`CITIZEN_CHURN_SEED` replays a run (the seed is printed); `CITIZEN_CHURN_STEPS`
sets the number of steps (40). The counts are printed as one `churn:` line.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.daemons import Daemon, friend_named, pair, wait_until

KIB = 1024
#: a few small sizes, one of them not a multiple of anything
SIZES = (9 * KIB, 24 * KIB, 64 * KIB, 96 * KIB + 7)
FRIENDS = 5
#: friends removed at once at most (the encoding follows the friends left: 3..5)
MAX_REMOVED = 2
#: generous bounds on waiting for replication and protection: only a hang trips them
SETTLE_TIMEOUT = 240.0


@dataclass
class Friend:
    d: Daemon
    #: both sides hold the friendship (false between a removal and the next pairing)
    paired: bool = True
    #: the doc the owner shares with this friend alone
    doc: str = ""


@dataclass
class Soak:
    owner: Daemon
    friends: list[Friend]
    rng: random.Random
    tmp: Path
    all_doc: str = ""
    counts: Counter[str] = field(default_factory=Counter)
    #: doc ID -> key -> value, for every change a CLI acknowledged
    changes: dict[str, dict[str, int]] = field(default_factory=dict)
    #: object ID -> SHA-256 of the bytes put, for every put the CLI acknowledged
    objects: dict[str, str] = field(default_factory=dict)

    # -- what is where --------------------------------------------------------------------

    def daemons(self) -> list[Daemon]:
        return [self.owner, *(f.d for f in self.friends)]

    def running(self) -> list[Friend]:
        return [f for f in self.friends if f.d.proc is not None]

    def stopped(self) -> list[Friend]:
        return [f for f in self.friends if f.d.proc is None]

    def docs_of(self, f: Friend) -> list[str]:
        return [f.doc, self.all_doc]

    def check_alive(self, after: str) -> None:
        """Every daemon the test did not stop still runs; else fail with its log."""
        for d in self.daemons():
            if d.proc is not None and d.proc.poll() is not None:
                raise AssertionError(
                    f"daemon {d.name} exited by itself (code {d.proc.returncode}) after {after}:\n"
                    f"{d.log()[-6000:]}"
                )

    # -- steps ----------------------------------------------------------------------------

    def stop(self, f: Friend) -> None:
        code = f.d.stop()
        assert code == 0, f"{f.d.name} did not stop cleanly ({code}):\n{f.d.log()[-6000:]}"
        self.counts["stops"] += 1

    def start(self, f: Friend) -> None:
        f.d.start()
        self.counts["restarts"] += 1

    def kill(self, f: Friend) -> None:
        f.d.stop(signal.SIGKILL)
        f.d.start()
        self.counts["kills"] += 1

    def remove(self, f: Friend) -> None:
        """The owner removes the friend; the friend removes the owner too, or not (it may
        not know: pairing again must work both ways)."""
        assert self.owner.json("friends", "remove", f.d.name)["removed"] is True
        if self.rng.random() < 0.5:
            assert f.d.json("friends", "remove", self.owner.name)["removed"] is True
        else:
            self.counts["one-sided removals"] += 1
        f.paired = False
        self.counts["removals"] += 1

    def pair_again(self, f: Friend) -> None:
        accepted = pair(self.owner, f.d)
        # a fresh friendship after the owner removed it, not a welcome back
        assert accepted["name"] == self.owner.name and not accepted.get("welcomed_back")
        for doc in self.docs_of(f):
            self.owner.json("doc", "share", doc, f.d.name, "--role", "writer")
        f.paired = True
        self.counts["re-pairs"] += 1

    def put(self, step: int) -> None:
        size = self.rng.choice(SIZES)
        data = self.rng.randbytes(size)
        path = self.tmp / f"put-{step}.bin"
        path.write_bytes(data)
        offline = sum(1 for f in self.friends if f.d.proc is None or not f.paired)
        put = self.owner.json("put", str(path))
        assert put["size"] == size
        self.objects[put["object_id"]] = hashlib.sha256(data).hexdigest()
        self.counts["puts"] += 1
        if offline:
            self.counts["puts with friends away"] += 1

    def change(self, at: Daemon, doc: str, key: str) -> None:
        value = self.rng.randrange(1_000_000)
        answer = at.json("doc", "set", doc, key, json.dumps(value))
        assert answer["heads"], answer  # committed: the doc's new heads
        self.changes.setdefault(doc, {})[key] = value
        self.counts["doc changes"] += 1

    def friend_change(self, f: Friend, step: int) -> None:
        doc = self.rng.choice(self.docs_of(f))
        # after a new pairing the grant reaches the friend once it is connected
        wait_until(
            lambda: _role(f.d, doc) == "writer",
            f"{f.d.name} to be a writer of {doc}",
            timeout=SETTLE_TIMEOUT,
        )
        self.change(f.d, doc, f"{f.d.name}-{step}")
        self.counts["friend changes"] += 1

    def step(self, step: int) -> str:
        """Do one random step; returns its name."""
        running, stopped = self.running(), self.stopped()
        removed = [f for f in self.friends if not f.paired]
        choices: list[tuple[str, int]] = [("put", 5), ("owner change", 4)]
        if len(running) > 1:
            choices += [("stop", 3)]
        if stopped:
            choices += [("start", 4)]
        if running:
            choices += [("kill", 2)]
        if len(removed) < MAX_REMOVED and any(f.paired for f in running):
            choices += [("remove", 2)]
        if any(not f.paired for f in running):
            choices += [("pair again", 3)]
        if any(f.paired for f in running):
            choices += [("friend change", 4)]
        names, weights = zip(*choices, strict=True)
        what = self.rng.choices(names, weights)[0]
        match what:
            case "put":
                self.put(step)
            case "owner change":
                self.change(self.owner, self.rng.choice([*self.changes]), f"owner-{step}")
            case "stop":
                self.stop(self.rng.choice(running))
            case "start":
                self.start(self.rng.choice(stopped))
            case "kill":
                self.kill(self.rng.choice(running))
            case "remove":
                self.remove(self.rng.choice([f for f in running if f.paired]))
            case "pair again":
                self.pair_again(self.rng.choice([f for f in running if not f.paired]))
            case "friend change":
                self.friend_change(self.rng.choice([f for f in running if f.paired]), step)
        return what


def _role(d: Daemon, doc: str) -> str | None:
    shown = d.cli("doc", "show", doc, check=False)
    return str(json.loads(shown.stdout)["role"]) if shown.returncode == 0 else None


def _value(d: Daemon, doc: str) -> dict[str, Any]:
    shown = d.cli("doc", "show", doc, check=False)
    if shown.returncode != 0:
        return {}
    value = json.loads(shown.stdout)["value"]
    return value if isinstance(value, dict) else {}


def _has(d: Daemon, doc: str, expected: dict[str, int]) -> bool:
    value = _value(d, doc)
    return all(value.get(k) == v for k, v in expected.items())


def _online(owner: Daemon, name: str) -> bool:
    return bool((friend_named(owner, name) or {}).get("online"))


def _setup(make: Callable[[str], Daemon], tmp: Path, rng: random.Random) -> Soak:
    owner = make("owner")
    owner.init()
    owner.start()
    friends = []
    for i in range(FRIENDS):
        d = make(f"f{i}")
        d.init()
        d.start()
        pair(owner, d)
        friends.append(Friend(d))
    soak = Soak(owner, friends, rng, tmp)
    for f in friends:
        wait_until(lambda f=f: _online(owner, f.d.name), f"{f.d.name} online at the owner")
    soak.all_doc = owner.json("doc", "new", "Everyone")["doc_id"]
    soak.changes[soak.all_doc] = {}
    for f in friends:
        f.doc = owner.json("doc", "new", f"Just {f.d.name}")["doc_id"]
        soak.changes[f.doc] = {}
        for doc in soak.docs_of(f):
            owner.json("doc", "share", doc, f.d.name, "--role", "writer")
    return soak


def _settle(soak: Soak) -> None:
    """Every friend running and paired again, and connected to the owner."""
    for f in soak.stopped():
        soak.start(f)
    for f in soak.friends:
        if not f.paired:
            soak.pair_again(f)
    for f in soak.friends:
        wait_until(
            lambda f=f: _online(soak.owner, f.d.name),
            f"{f.d.name} online at the owner",
            timeout=SETTLE_TIMEOUT,
        )
    soak.check_alive("starting and pairing every friend again")


def _check_docs(soak: Soak) -> None:
    owner = soak.owner
    for doc, expected in soak.changes.items():
        wait_until(
            lambda doc=doc, expected=expected: _has(owner, doc, expected),
            f"every acknowledged change of {doc} at the owner",
            timeout=SETTLE_TIMEOUT,
        )
    for f in soak.friends:
        for doc in soak.docs_of(f):
            wait_until(
                lambda f=f, doc=doc: _has(f.d, doc, soak.changes[doc]),
                f"every acknowledged change of {doc} at {f.d.name}",
                timeout=SETTLE_TIMEOUT,
            )


def _check_bytes(soak: Soak, tag: str) -> None:
    for object_id, digest in soak.objects.items():
        out = soak.tmp / f"get-{tag}-{object_id}.bin"
        soak.owner.json("get", object_id, "-o", str(out))
        got = hashlib.sha256(out.read_bytes()).hexdigest()
        assert got == digest, f"object {object_id} differs ({tag})"


def _protection(soak: Soak) -> list[dict[str, Any]]:
    listed = {o["object_id"]: o for o in soak.owner.json("ls")}
    missing = set(soak.objects) - set(listed)
    assert not missing, f"acknowledged objects no longer listed: {sorted(missing)}"
    return [listed[o] for o in soak.objects]


@pytest.mark.timeout(1500)
def test_churn_soak(make_daemon: Callable[[str], Daemon], tmp_path: Path) -> None:
    seed = int(os.environ.get("CITIZEN_CHURN_SEED") or random.SystemRandom().randrange(2**32))
    steps = int(os.environ.get("CITIZEN_CHURN_STEPS", "40"))
    print(f"\nchurn: seed={seed} (CITIZEN_CHURN_SEED={seed} replays it), steps={steps}")
    soak = _setup(make_daemon, tmp_path, random.Random(seed))
    soak.check_alive("pairing")
    done: list[str] = []
    for step in range(steps):
        try:
            done.append(soak.step(step))
        except BaseException:
            soak.check_alive(f"step {step} failed; steps before: {done}")  # a death first
            raise
        soak.check_alive(f"step {step} ({done[-1]}); steps so far: {done}")

    _settle(soak)
    _check_docs(soak)
    _check_bytes(soak, "local")
    wait_until(
        lambda: all(o["protection"] == "protected" for o in _protection(soak)),
        "every object back at the target protection",
        timeout=SETTLE_TIMEOUT,
    )
    final = _protection(soak)
    assert all(o["survives"] >= o["target_survives"] for o in final)
    # the friends' shares rebuild every object after all the churn
    for object_id in soak.objects:
        soak.owner.json("evict", object_id)
    _check_bytes(soak, "shares")
    soak.check_alive("the checks")

    protection = dict(Counter(o["protection"] for o in final))
    encodings = dict(Counter(f"{o['k']}-of-{o['n']}" for o in final))
    c = soak.counts
    print(
        f"churn: seed={seed}, steps={steps}, restarts={c['restarts']}, stops={c['stops']},"
        f" kills={c['kills']}, removals={c['removals']} (one-sided {c['one-sided removals']}),"
        f" re-pairs={c['re-pairs']},"
        f" doc changes={c['doc changes']} (at friends {c['friend changes']}),"
        f" puts={c['puts']} (with friends away {c['puts with friends away']}),"
        f" final protection: {protection}, encodings: {encodings}"
    )
