"""The web page's security rules, against a real (offline) node's page over HTTP.

Only the login page and static files answer without a session; sessions are
HttpOnly, SameSite=Strict cookies (Secure behind TLS); every form needs the
session's CSRF token; logins are rate-limited per address; the API's bearer
token never appears in a page.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from citizen.config import TOKEN_NAME
from citizen.web.auth import new_login_code, set_passphrase
from tests.web.conftest import Page, open_page

PAGES = ("/", "/friends", "/invite", "/pair", "/files", "/docs", "/live/home", "/live/files")


async def test_without_a_session_only_login_and_static_files_answer(page: Page) -> None:
    for path in (*PAGES, "/files/abc/download", "/nope"):
        answer = await page.http.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next="), path
    for path in ("/invite", "/pair", "/logout", "/files/upload", "/friends/x/remove"):
        answer = await page.http.post(path, data={"csrf": "x"})
        assert answer.status_code == 401, path
    assert (await page.http.get("/login")).status_code == 200
    assert (await page.http.get("/static/style.css")).status_code == 200


async def test_a_one_time_code_logs_in_once_into_an_httponly_strict_cookie(page: Page) -> None:
    code, _ = new_login_code(page.data_dir)
    answer = await page.try_login(code.lower().replace("-", " "))  # typed loosely: still fine
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("citizen_session=")
    )
    flags = {f.strip().lower() for f in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= flags
    assert "secure" not in flags  # plain http on the LAN
    assert (await page.http.get("/")).status_code == 200
    page.http.cookies.clear()
    again = await page.try_login(code)
    assert again.status_code == 403 and "wrong, used or expired" in again.text
    assert (await page.http.get("/")).status_code == 303


async def test_behind_tls_the_session_cookie_is_secure(page: Page) -> None:
    code, _ = new_login_code(page.data_dir)
    token = await page.login_form()
    answer = await page.http.post(
        "/login",
        data={"login_csrf": token, "secret": code},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert answer.status_code == 303
    assert "; secure" in answer.headers["set-cookie"].lower()


async def test_the_login_form_needs_its_own_csrf_token(page: Page) -> None:
    code, _ = new_login_code(page.data_dir)
    await page.login_form()
    forged = await page.http.post("/login", data={"login_csrf": "forged", "secret": code})
    assert forged.status_code == 403
    # the code was not spent on the forged form
    assert (await page.try_login(code)).status_code == 303


async def test_a_form_without_the_csrf_token_is_refused_and_changes_nothing(page: Page) -> None:
    csrf = await page.log_in()
    for data in ({}, {"csrf": "wrong"}):
        refused = await page.http.post("/logout", data=data)
        assert refused.status_code == 403
        assert "security token" in refused.text
    assert (await page.http.get("/")).status_code == 200  # still logged in
    upload = await page.http.post(
        "/files/upload?name=a.txt", content=b"hello", headers={"X-CSRF-Token": "wrong"}
    )
    assert upload.status_code == 403
    assert await page.node.objects.list() == []
    # with the token, the same form works
    assert (await page.http.post("/logout", data={"csrf": csrf})).status_code == 303
    assert (await page.http.get("/")).status_code == 303


async def test_twenty_wrong_logins_are_rate_limited_even_for_the_right_code(page: Page) -> None:
    statuses = [(await page.try_login(f"WRONG-{i:05d}")).status_code for i in range(20)]
    assert statuses == [403] * 10 + [429] * 10
    code, _ = new_login_code(page.data_dir)
    limited = await page.try_login(code)
    assert limited.status_code == 429 and "Too many wrong login attempts" in limited.text
    assert (await page.http.get("/")).status_code == 303


async def test_the_household_passphrase_logs_in(page: Page) -> None:
    set_passphrase(page.data_dir, "correct horse battery")
    assert (await page.try_login("wrong horse battery")).status_code == 403
    assert (await page.try_login("correct horse battery")).status_code == 303
    assert (await page.http.get("/")).status_code == 200


async def test_no_page_contains_the_api_token(page: Page) -> None:
    await page.log_in()
    token = (page.data_dir / TOKEN_NAME).read_text().strip()
    assert token
    bodies = [(await page.http.get(p)).text for p in (*PAGES, "/login")]
    assert all(token not in body for body in bodies)
    assert "Home" in bodies[0]  # the household name is on the home page
    assert page.node.cert.household in bodies[0]


async def test_pages_send_a_strict_content_security_policy(page: Page) -> None:
    answer = await page.http.get("/login")
    assert "default-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"


async def test_secrets_are_stored_private(page: Page) -> None:
    await page.log_in()
    web = page.data_dir / "web"
    assert web.stat().st_mode & 0o777 == 0o700
    sessions = web / "sessions.json"
    assert sessions.stat().st_mode & 0o777 == 0o600
    cookie = page.http.cookies["citizen_session"]
    assert cookie not in sessions.read_text()  # only its hash is stored


async def test_a_next_target_stays_on_this_site(page: Page) -> None:
    code, _ = new_login_code(page.data_dir)
    token = await page.login_form()
    answer = await page.http.post(
        "/login?next=//evil.example/x", data={"login_csrf": token, "secret": code}
    )
    assert answer.headers["location"] == "/"


async def test_localhost_skips_the_login_only_when_the_household_enables_it(
    tmp_path: Path,
) -> None:
    async for p in open_page(tmp_path, localhost_skips_login="true"):
        first = await p.http.get("/")
        assert first.status_code == 303
        login = await p.http.get(first.headers["location"])
        assert login.status_code == 303 and login.headers["location"] == "/"
        assert (await p.http.get("/")).status_code == 200
        # through a reverse proxy on this machine, visitors are not local: they log in
        p.http.cookies.clear()
        proxied = await p.http.get("/login", headers={"X-Forwarded-For": "192.0.2.7"})
        assert proxied.status_code == 200 and 'name="secret"' in proxied.text


async def test_sessions_survive_a_restart_of_the_daemon(tmp_path: Path) -> None:
    cookies = httpx.Cookies()
    async for p in open_page(tmp_path):
        await p.log_in()
        cookies = p.http.cookies
    data_dir = tmp_path / "home"
    from citizen.node import Node, NodeOptions
    from citizen.web.serve import read_page_urls

    async with Node.open_embedded(NodeOptions(data_dir, offline=True)):
        urls = read_page_urls(data_dir)
        assert urls
        async with httpx.AsyncClient(base_url=urls[0], cookies=cookies) as http:
            answer = await http.get("/", follow_redirects=False)
            assert answer.status_code == 200
            assert re.search(r'name="csrf"', answer.text)


async def test_a_second_visit_to_the_login_page_keeps_the_first_form_valid(page: Page) -> None:
    # browsers fetch /favicon.ico, which redirects to /login: the form on screen must still work
    token = await page.login_form()
    assert (await page.http.get("/favicon.ico")).status_code == 303
    assert await page.login_form() == token
    code, _ = new_login_code(page.data_dir)
    answer = await page.http.post("/login", data={"login_csrf": token, "secret": code})
    assert answer.status_code == 303
