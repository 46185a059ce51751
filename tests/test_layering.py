"""The layering rules of DESIGN.md and STYLE.md, checked on the source.

- Imports go one way: `sync` may use `store` and `identity`; `store` may use
  `identity`; `identity` uses neither; nothing imports `cli`.
- The pure core (codecs, state machines, planning) imports no trio, libp2p or sqlite3.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "citizen"

PURE = [
    "identity/ids.py",
    "identity/certs.py",
    "identity/invites.py",
    "identity/grants.py",
    "sync/pair_codec.py",
    "sync/pairing.py",
    "sync/rendezvous_codec.py",
    "sync/rendezvous_state.py",
    "sync/docs_codec.py",
    "sync/frames.py",
    "sync/doc_sync.py",
    "sync/objects_codec.py",
    "sync/segments.py",
    "sync/placement.py",
    "sync/manifest.py",
    "store/docvalues.py",
    "store/backup_state.py",
    "identity/backup.py",
    "sync/backup_codec.py",
    "sync/enroll_codec.py",
    "sync/dialback_codec.py",
    "sync/natpmp_codec.py",
    "sync/friend_rows.py",
    "identity/revocation.py",
    "store/friend_merge.py",
    "sync/household_friends_codec.py",
]
IO_MODULES = ("trio", "libp2p", "sqlite3", "multiaddr", "hypercorn", "starlette")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _all_modules() -> list[Path]:
    return sorted(ROOT.rglob("*.py"))


@pytest.mark.parametrize("relative", PURE)
def test_pure_core_does_no_io(relative: str) -> None:
    path = ROOT / relative
    if not path.exists():
        pytest.skip(f"{relative} does not exist yet")
    bad = {m for m in _imports(path) if m.split(".")[0] in IO_MODULES}
    assert not bad, f"{relative} imports {bad}"


def test_import_direction() -> None:
    rules = {
        "identity": ("citizen.store", "citizen.sync", "citizen.api", "citizen.node"),
        "store": ("citizen.sync", "citizen.api", "citizen.node"),
        "sync": ("citizen.api", "citizen.node"),
    }
    problems = []
    for path in _all_modules():
        rel = path.relative_to(ROOT)
        layer = rel.parts[0] if len(rel.parts) > 1 else ""
        for module in _imports(path):
            if module.startswith("citizen.cli") and layer != "cli" and rel.name != "__main__.py":
                problems.append(f"{rel} imports {module}")
            for banned in rules.get(layer, ()):
                if module.startswith(banned):
                    problems.append(f"{rel} imports {module}")
    assert not problems, problems


def test_no_module_past_600_lines_and_no_util() -> None:
    long = [
        f"{p.relative_to(ROOT)}: {n}"
        for p in _all_modules()
        if (n := len(p.read_text().splitlines())) > 650
    ]
    assert not long, long
    assert not [p for p in _all_modules() if p.stem in ("util", "utils")]
