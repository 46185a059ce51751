"""The daemon serves the web page as `[web]` says: on, off, or a clear error for a taken port."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from citizen.config import CONFIG_NAME
from citizen.errors import only_citizen_error
from citizen.node import Node, NodeOptions
from citizen.testing.datadir import configure, init_data_dir
from citizen.web.serve import read_page_urls


async def test_the_page_is_off_when_the_household_turns_it_off(tmp_path: Path) -> None:
    data_dir = tmp_path / "home"
    init_data_dir(data_dir, "Home")
    configure(data_dir, enabled="false")
    async with Node.open_embedded(NodeOptions(data_dir, offline=True)):
        assert read_page_urls(data_dir) is None


async def test_the_page_says_where_it_is_and_stops_saying_when_the_daemon_stops(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "home"
    init_data_dir(data_dir, "Home")
    async with Node.open_embedded(NodeOptions(data_dir, offline=True)):
        urls = read_page_urls(data_dir)
        assert urls and urls[0].startswith("http://127.0.0.1:")
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{urls[0]}/login")).status_code == 200
    assert read_page_urls(data_dir) is None


async def test_a_taken_port_stops_the_daemon_with_a_hint(tmp_path: Path) -> None:
    data_dir = tmp_path / "home"
    init_data_dir(data_dir, "Home")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = data_dir / CONFIG_NAME
        text = path.read_text().replace('"127.0.0.1:0"', f'"127.0.0.1:{port}"')
        path.write_text(text)
        with pytest.raises(BaseException) as caught:
            async with Node.open_embedded(NodeOptions(data_dir, offline=True)):
                pass
    ours = only_citizen_error(caught.value)
    assert ours is not None, caught.value
    assert "Cannot serve the web page" in ours.message and "web.listen" in ours.hint
