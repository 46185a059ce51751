"""Which k-of-n fits the friends a household has, and how protected an object's placement is.

Pure rules, no I/O. Every object should survive the loss of all the
household's own devices plus any T friend households, at the least storage
overhead. With F friend households, T = min(2, F // 2) unless config says
otherwise, and the shares go one per household over n = min(F, 5) of them,
any k = n - T of which rebuild a segment:

    ======== ======== ==== =============================
    friends  k-of-n    T   what a friend holds
    ======== ======== ==== =============================
    1        1-of-1    0   a full encrypted copy
    2        1-of-2    1   a full encrypted copy each
    3        2-of-3    1   half the size each
    4        2-of-4    2   half the size each
    5+       3-of-5    2   a third of the size each
    ======== ======== ==== =============================

A household may set T (``storage.survive_friends``) or a fixed k and n
(``storage.k``, ``storage.n``); `EncodingRule.from_config` validates them.

`survives` reads a placement the other way round: how many friend
households may be lost (besides every own device) while k shares of every
segment remain. `protection_of` names the result: ``local only`` (no friend
holds anything of it), ``spreading`` (not yet at the target), ``protected``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from typing import Final, Literal

from citizen.errors import ConfigError

#: shares are spread over at most this many households when the rule picks n
SPREAD = 5
#: the most friend losses the rule picks by itself
DEFAULT_MAX_T = 2
#: highest k or n a household may configure (zfec and the manifest allow up to 32)
MAX_N = 32

Protection = Literal["local only", "spreading", "protected"]
LOCAL_ONLY: Final = "local only"
SPREADING: Final = "spreading"
PROTECTED: Final = "protected"
PROTECTIONS: tuple[Protection, ...] = (LOCAL_ONLY, SPREADING, PROTECTED)

_HINT = (
    "Fix [storage] in config.toml: leave k = 0, n = 0 and survive_friends = -1 to let"
    " the daemon choose from the number of friends (see the README's objects section)."
)


@dataclass(frozen=True, slots=True)
class Target:
    """The encoding objects should have now, and the friend losses it survives once placed."""

    k: int
    n: int
    survive: int


@dataclass(frozen=True, slots=True)
class EncodingRule:
    """How the target encoding is chosen: from the friends (all None), a set T, or a set k/n."""

    k: int | None = None
    n: int | None = None
    survive: int | None = None

    @classmethod
    def from_config(cls, k: int, n: int, survive: int) -> EncodingRule:
        """The rule for ``storage.k``, ``storage.n`` (0: choose) and ``storage.survive_friends``
        (-1: choose).

        Raises:
            ConfigError: only one of k and n set, k > n, out of range, or both T and k/n set.
        """
        if (k == 0) != (n == 0):
            raise ConfigError(
                f"storage.k and storage.n are set together or not at all (k = {k}, n = {n}).",
                _HINT,
            )
        if k and not 1 <= k <= n <= MAX_N:
            raise ConfigError(
                f"storage.k and storage.n need 1 <= k <= n <= {MAX_N}, got k = {k}, n = {n}.",
                _HINT,
            )
        if k < 0 or n < 0:
            raise ConfigError("storage.k and storage.n cannot be negative.", _HINT)
        if not -1 <= survive < MAX_N:
            raise ConfigError(
                f"storage.survive_friends must be -1 (choose) or 0 to {MAX_N - 1}, not {survive}.",
                _HINT,
            )
        if k and survive >= 0:
            raise ConfigError(
                "storage.survive_friends and a fixed storage.k/storage.n contradict each other.",
                _HINT,
            )
        if k:
            return cls(k=k, n=n)
        return cls(survive=None if survive < 0 else survive)

    def target(self, friends: int) -> Target:
        """The encoding for a household with `friends` friend households, and what it survives.

        With no friend at all the target is 1-of-1 that survives nothing yet: objects stay
        ``local only`` until a friend comes.
        """
        if self.k is not None and self.n is not None:
            ideal = _even(self.n, max(1, min(friends, self.n)))
            return Target(self.k, self.n, max(0, survives(self.k, ideal) or 0))
        if friends <= 0:
            return Target(1, 1, 0)
        wanted = min(DEFAULT_MAX_T, friends // 2) if self.survive is None else self.survive
        # a share per household: surviving T losses needs T + 1 households at least
        t = min(wanted, friends - 1)
        n = min(friends, max(SPREAD, t + 1))
        return Target(n - t, n, t)


def _even(n: int, households: int) -> dict[int, str]:
    """Share numbers 0..n-1 dealt round-robin over `households` households."""
    return {j: str(j % households) for j in range(n)}


def survives(
    k: int,
    placement: Mapping[int, str],
    bad: Mapping[str, Iterable[int]] | None = None,
    unavailable: Set[str] = frozenset(),
) -> int | None:
    """How many friend households may be lost, besides every own device, with k shares left.

    Shares a holder lost or damaged (`bad`) and those of `unavailable` holders
    (removed, or unreachable too long) do not count. None: the friends together
    do not hold k shares, so the object lives only on this household's devices.
    """
    lost = {h: set(v) for h, v in (bad or {}).items()}
    counts: dict[str, int] = {}
    for number, holder in placement.items():
        if holder in unavailable or number in lost.get(holder, ()):
            continue
        counts[holder] = counts.get(holder, 0) + 1
    left = sum(counts.values())
    if left < k:
        return None
    t = 0
    for held in sorted(counts.values(), reverse=True):
        if left - held < k:
            break
        left -= held
        t += 1
    return t


def protection_of(placed: int, survive: int | None, target: int) -> Protection:
    """``local only`` with no share at a friend, ``protected`` at the target, else ``spreading``."""
    if placed == 0:
        return LOCAL_ONLY
    if survive is not None and survive >= target:
        return PROTECTED
    return SPREADING
