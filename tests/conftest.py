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
