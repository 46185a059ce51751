"""Every third-party module the daemon and the SDK import is a declared runtime dependency.

A module that arrives only through another package's requirements (miniupnpc and
multiaddr came with libp2p) breaks the day that package drops it; a module from a
test extra breaks a runtime-only install (`make run`, `pipx install .`).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# citizen/testing is the test grid and strategies: it may use the test extras
SOURCES = [ROOT / "citizen", ROOT / "sdk" / "citizen_sdk"]
SKIP = [ROOT / "citizen" / "testing"]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> set[str]:
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for branch in node.orelse:
                visit(branch)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def runtime_imports() -> dict[str, Path]:
    """Top-level third-party module -> one file that imports it at run time."""
    seen: dict[str, Path] = {}
    for source in SOURCES:
        for path in sorted(source.rglob("*.py")):
            if any(path.is_relative_to(skip) for skip in SKIP):
                continue
            for name in _imports(ast.parse(path.read_text("utf-8"))):
                if name in sys.stdlib_module_names or name in ("citizen", "citizen_sdk"):
                    continue
                seen.setdefault(name, path)
    return seen


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _project() -> dict[str, object]:
    # pyproject.toml itself, not the installed metadata (stale until the next pip install)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert isinstance(project, dict)
    return project


def _names(requires: object) -> set[str]:
    assert isinstance(requires, list)
    return {_normal(re.split(r"[ <>=!~;\[]", str(req), maxsplit=1)[0]) for req in requires}


def declared_runtime() -> set[str]:
    return _names(_project()["dependencies"])


def test_every_runtime_import_is_declared() -> None:
    dists = metadata.packages_distributions()
    declared = declared_runtime()
    missing = {}
    for module, path in runtime_imports().items():
        owners = {_normal(d) for d in dists.get(module, [])}
        assert owners, f"{module} (imported by {path.relative_to(ROOT)}) is not installed"
        if not owners & declared:
            missing[module] = str(path.relative_to(ROOT))
    assert missing == {}, f"add these to [project] dependencies in pyproject.toml: {missing}"


def test_the_check_sees_direct_imports_only_at_run_time() -> None:
    tree = ast.parse(
        "import a.b\nfrom c import d\nfrom . import e\n"
        "if TYPE_CHECKING:\n    import f\nelse:\n    import g\n"
        "def h():\n    import i\n"
    )
    assert _imports(tree) == {"a", "c", "g", "i"}
    # the two that only libp2p used to bring
    assert {"miniupnpc", "multiaddr"} <= set(runtime_imports())


def test_no_test_extra_is_a_runtime_import() -> None:
    extras = _project()["optional-dependencies"]
    assert isinstance(extras, dict)
    test_only = _names(extras["test"]) | _names(extras.get("bench", []))
    dists = metadata.packages_distributions()
    used = {_normal(d) for module in runtime_imports() for d in dists.get(module, [])}
    assert used & test_only - declared_runtime() == set()


def test_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "citizen", "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.strip() == f"citizen, version {metadata.version('citizen-cloud')}"
