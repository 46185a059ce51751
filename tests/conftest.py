from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.daemons import Daemon


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
