"""The layering rules of DESIGN.md and STYLE.md, checked on the source.

- Imports go one way: identity ← store ← net ← features (friends, household,
  docs, objects, folders, backup) ← api/web ← node ← cli, checked transitively.
- Features never import each other's services (their pure codecs and values are fine),
  nor libp2p: only `citizen/net/` does.
- No import circle, anywhere in the package.
- The pure core — every codec, session, plan and record module, selected by name —
  imports no trio, libp2p or sqlite3, also through the modules it imports.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "citizen"
IO_MODULES = ("trio", "libp2p", "sqlite3", "multiaddr", "hypercorn", "starlette", "httpx")
FEATURES = ("friends", "household", "docs", "objects", "folders", "backup")
# the layer of each top-level package; a module may import its own layer or lower ones
LAYER = {
    "identity": 0,
    "store": 1,
    "net": 2,
    **dict.fromkeys(FEATURES, 3),
    "health": 3,  # the doctor's checks and machine facts: kernel and stdlib only
    "testing": 5,
    "api": 4,
    "web": 4,
    "node": 5,
    "cli": 6,
}
# modules of the shared kernel every layer may use
KERNEL = {
    "citizen.errors",
    "citizen.ids",
    "citizen.cbor",
    "citizen.config",
    "citizen.logs",
    "citizen.text",
    "citizen.units",
}
# pure by name: codecs, sessions, plans, records and state rules
PURE_NAMES = (
    "codec",
    "session",
    "plan",
    "rows",
    "values",
    "frames",
    "registry",
    "state",
    "merge",
    "records",
)
PURE_EXTRA = {
    "citizen.identity.fingerprints",
    "citizen.identity.certs",
    "citizen.identity.invites",
    "citizen.identity.grants",
    "citizen.identity.backup",
    "citizen.identity.revocation",
    "citizen.friends.pairing",
    "citizen.objects.segments",
    "citizen.objects.placement",
    "citizen.objects.manifest",
    "citizen.objects.health",
    "citizen.health.checks",
    "citizen.objects.names",
    "citizen.text",
    "citizen.units",
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    return ".".join(rel.parts).removesuffix(".__init__")


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


@functools.cache
def _imports(module: str) -> frozenset[str]:
    """Every module `module` imports by absolute name (also inside functions and TYPE_CHECKING)."""
    tree = ast.parse(MODULES[module].read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return frozenset(found)


def _internal(module: str) -> set[str]:
    return {m for m in _imports(module) if m in MODULES and m != module}


def _reach(module: str) -> set[str]:
    """The citizen modules `module` imports, directly or through others."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        for m in _internal(todo.pop()):
            if m not in seen:
                seen.add(m)
                todo.append(m)
    return seen


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _is_pure(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]
    return module in PURE_EXTRA or any(last.endswith(n) for n in PURE_NAMES)


PURE = sorted(m for m in MODULES if _is_pure(m))


def test_pure_modules_are_selected() -> None:
    # a rename must not silently drop a module out of the purity check
    assert len(PURE) >= 27, PURE
    assert all(m in MODULES for m in PURE_EXTRA), PURE_EXTRA - set(MODULES)


@pytest.mark.parametrize("module", PURE)
def test_pure_core_does_no_io(module: str) -> None:
    bad = {
        f"{m} (via {via})"
        for via in {module, *_reach(module)}
        for m in _imports(via)
        if m.split(".")[0] in IO_MODULES
    }
    assert not bad, f"{module} imports {sorted(bad)}"


def test_no_import_circle() -> None:
    circles = sorted(m for m in MODULES if m in _reach(m))
    assert not circles, f"modules that import themselves through others: {circles}"


def test_imports_go_one_way() -> None:
    problems = []
    for module in MODULES:
        own = LAYER.get(_package(module))
        if own is None:
            continue
        for dep in _internal(module):
            if dep in KERNEL:
                continue
            theirs = LAYER.get(_package(dep))
            if theirs is not None and theirs > own:
                problems.append(f"{module} imports {dep}")
    assert not problems, problems


def test_features_do_not_import_each_other_or_libp2p() -> None:
    problems = []
    for module in MODULES:
        pkg = _package(module)
        if pkg not in FEATURES:
            continue
        for dep in _imports(module):
            other_feature = dep in MODULES and _package(dep) in FEATURES and _package(dep) != pkg
            # another feature's pure modules (codecs, values) are plain functions on data: fine
            if dep.split(".")[0] in ("libp2p", "multiaddr") or (
                other_feature and not _is_pure(dep)
            ):
                problems.append(f"{module} imports {dep}")
    assert not problems, problems


def test_libp2p_only_in_net() -> None:
    outside = sorted(
        m
        for m in MODULES
        if _package(m) != "net"
        and any(d.split(".")[0] in ("libp2p", "multiaddr") for d in _imports(m))
    )
    assert not outside, outside


def test_no_package_holds_more_than_a_quarter() -> None:
    sizes: dict[str, int] = {}
    for module, path in MODULES.items():
        pkg = _package(module) if module.count(".") > 1 or path.name == "__init__.py" else ""
        sizes[pkg] = sizes.get(pkg, 0) + len(path.read_text().splitlines())
    total = sum(sizes.values())
    big = {p: f"{100 * n / total:.0f}%" for p, n in sizes.items() if p and n > 0.25 * total}
    assert not big, big


def test_every_package_states_its_job() -> None:
    silent = [
        m
        for m, p in MODULES.items()
        if p.name == "__init__.py" and not (ast.get_docstring(ast.parse(p.read_text())) or "")
    ]
    assert not silent, silent


def test_no_module_past_600_lines_and_no_util() -> None:
    long = [
        f"{p.relative_to(ROOT)}: {n}"
        for p in MODULES.values()
        if (n := len(p.read_text().splitlines())) > 650
    ]
    assert not long, long
    assert not [p for p in MODULES.values() if p.stem in ("util", "utils")]


def test_every_package_is_installed() -> None:
    # setuptools installs only the packages pyproject.toml lists: a new one left out
    # works in the editable checkout and is missing from a real install
    import tomllib

    listed = set(
        tomllib.loads((ROOT.parent / "pyproject.toml").read_text())["tool"]["setuptools"][
            "packages"
        ]
    )
    packages = {m for m, p in MODULES.items() if p.name == "__init__.py"}
    assert packages <= listed, sorted(packages - listed)
