from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.daemons import Daemon

# The suite runs on small shared machines: a property test must fail on what it
# checks, never because the machine was busy (no deadline, no "input generation
# is slow" health check). Examples and shrinking stay as hypothesis sets them.
settings.register_profile("citizen", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("citizen")

# Tests that drive daemon processes and network namespaces take most of the
# suite's time, mostly waiting; run them first so that with several workers
# (`make test` runs pytest -n) the quick in-process tests fill the gaps instead
# of one slow test starting last and running alone.
_FIRST = ("tests/e2e/", "tests/sdk/", "tests/web/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def slow_first(item: pytest.Item) -> int:
        return 0 if item.nodeid.startswith(_FIRST) else 1

    items.sort(key=slow_first)  # stable: the order within each group is kept


@pytest.fixture
def make_daemon(tmp_path: Path) -> Iterator[Callable[[str], Daemon]]:
    made: list[Daemon] = []

    def make(name: str) -> Daemon:
        d = Daemon(tmp_path / name, name)
        made.append(d)
        return d

    yield make
    for d in made:
        d.kill()
