"""An offline node in the test's trio loop, its web page on 127.0.0.1:0, and a client for it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from citizen.node import Node, NodeOptions
from citizen.testing.datadir import configure, init_data_dir
from citizen.web.auth import new_login_code
from citizen.web.serve import read_page_urls


@dataclass
class Page:
    node: Node
    url: str
    http: httpx.AsyncClient

    @property
    def data_dir(self) -> Path:
        return self.node.data_dir

    async def login_form(self) -> str:
        """GET /login: the login form's CSRF token (its cookie is now in the client)."""
        answer = await self.http.get("/login")
        assert answer.status_code == 200
        found = re.search(r'name="login_csrf" value="([^"]+)"', answer.text)
        assert found
        return found.group(1)

    async def try_login(self, secret: str, **fields: str) -> httpx.Response:
        token = await self.login_form()
        return await self.http.post(
            "/login", data={"login_csrf": token, "secret": secret, **fields}
        )

    async def log_in(self) -> str:
        """Log in with a fresh one-time code; returns the pages' CSRF token."""
        code, _ = new_login_code(self.data_dir)
        answer = await self.try_login(code)
        assert answer.status_code == 303, answer.text
        return await self.csrf()

    async def csrf(self) -> str:
        home = await self.http.get("/")
        assert home.status_code == 200, home.text
        found = re.search(r'name="csrf" value="([^"]+)"', home.text)
        assert found
        return found.group(1)


async def open_page(tmp_path: Path, **config: object) -> AsyncIterator[Page]:
    data_dir = tmp_path / "home"
    init_data_dir(data_dir, "Home")
    if config:
        configure(data_dir, **config)
    async with Node.open_embedded(NodeOptions(data_dir, offline=True)) as node:
        urls = read_page_urls(data_dir)
        assert urls
        async with httpx.AsyncClient(base_url=urls[0], follow_redirects=False) as http:
            yield Page(node, urls[0], http)


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Page]:
    async for p in open_page(tmp_path):
        yield p
