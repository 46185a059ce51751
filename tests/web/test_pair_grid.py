"""Pairing on the web pages of grid nodes: a web-made invite lives 24 h, is accepted on the
other household's page, and a household's own invite gets the "open it at home" answer."""

from __future__ import annotations

import html
import re
import time
from pathlib import Path

import httpx

from citizen.identity.invites import decode_invite
from citizen.testing.grid import GridNode, open_grid
from citizen.web.auth import new_login_code
from citizen.web.serve import read_page_urls


async def _logged_in(gn: GridNode) -> tuple[httpx.AsyncClient, str]:
    urls = read_page_urls(gn.data_dir)
    assert urls
    http = httpx.AsyncClient(base_url=urls[0], follow_redirects=False)
    login = await http.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', login.text)
    assert token
    code, _ = new_login_code(gn.data_dir)
    answer = await http.post("/login", data={"login_csrf": token.group(1), "secret": code})
    assert answer.status_code == 303
    csrf = re.search(r'name="csrf" value="([^"]+)"', (await http.get("/")).text)
    assert csrf
    return http, csrf.group(1)


def _code_of(page: str) -> str:
    found = re.search(r'<textarea id="invite-code" readonly rows="4">([^<]+)</textarea>', page)
    assert found
    return html.unescape(found.group(1)).strip()


async def test_an_invite_made_on_one_page_is_accepted_on_the_other(tmp_path: Path) -> None:
    async with open_grid(2, tmp_path, pairing="none") as grid:
        alpha, beta = grid.nodes
        http_a, csrf_a = await _logged_in(alpha)
        http_b, csrf_b = await _logged_in(beta)
        try:
            made = await http_a.post("/invite", data={"csrf": csrf_a})
            assert made.status_code == 200
            code = _code_of(made.text)
            lives = decode_invite(code).expires - time.time()
            assert 24 * 3600 - 120 < lives <= 24 * 3600
            port = http_a.base_url.port
            assert f"http://citizen.local:{port}/pair#{code}" in html.unescape(made.text)
            invite_id = re.search(r'data-live="/invite/([0-9a-f]+)/state"', made.text)
            assert invite_id
            waiting = await http_a.get(f"/invite/{invite_id.group(1)}/state")
            assert "Waiting" in waiting.text

            # its own household's invite: not accepted, and offered to copy for the friend
            own = await http_a.post("/pair", data={"csrf": csrf_a, "code": code})
            assert own.status_code == 400 and "your own household" in own.text
            assert 'data-copy="#code"' in own.text

            accepted = await http_b.post("/pair", data={"csrf": csrf_b, "code": code})
            assert accepted.status_code == 200, accepted.text
            words = re.search(r'<p class="sas" id="sas">([^<]+)</p>', accepted.text)
            assert words
            state = await http_a.get(f"/invite/{invite_id.group(1)}/state")
            assert f'<p class="sas" id="sas">{words.group(1)}</p>' in state.text

            again = await http_b.post("/pair", data={"csrf": csrf_b, "code": code})
            assert again.status_code >= 400 and 'id="pair-error"' in again.text
        finally:
            await http_a.aclose()
            await http_b.aclose()
