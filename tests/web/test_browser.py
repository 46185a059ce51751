"""Two households pair on their web pages in a real browser (Debian's chromium + Selenium).

Two daemon processes; each page is logged in with the one-time code that
`citizen web` prints. A makes an invite on its page; the test decodes the QR
code from a screenshot of it with zbar (so a phone camera could read it),
checks it is the pair URL, opens that URL on B's page (through B's login, which
keeps the code), accepts, and both pages show the same check words and each
other online in Friends. Then a file goes up and comes back byte-identical
through A's page, a folder added on A's page is listed and a file's version
downloads, a forged form is refused, a friend is removed after a
confirmation, a page without a session goes to the login, and wrong logins get
rate-limited.
Screenshots at phone (390 px) and desktop (1280 px) width go to
tests/web/screenshots/.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.daemons import Daemon, started, wait_until

CHROMIUM = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"
SHOTS = Path(__file__).parent / "screenshots"

missing = [p for p in (CHROMIUM, DRIVER) if not Path(p).exists()]
if shutil.which("zbarimg") is None:
    missing.append("zbarimg")
pytestmark = pytest.mark.skipif(
    bool(missing),
    reason=f"needs Debian's chromium, chromium-driver and zbar-tools (`make test` installs "
    f"them as root); missing: {', '.join(missing)}",
)


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="citizen-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _by_id(driver: Any, element_id: str, timeout: float = 60) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(ec.presence_of_element_located((By.ID, element_id)))


def _log_in(driver: Any, base: str, d: Daemon) -> None:
    code = d.json("web")["code"]
    driver.get(f"{base}/")
    assert "/login?next=" in driver.current_url  # no session yet
    _by_id(driver, "secret").send_keys(code)
    driver.find_element("css selector", "#login-form button[type=submit]").submit()
    assert _by_id(driver, "household-name").text == d.name


def _shots(driver: Any, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    for width, height in ((390, 844), (1280, 900)):
        driver.set_window_size(width, height)
        driver.save_screenshot(str(SHOTS / f"{name}-{width}.png"))
    driver.set_window_size(1280, 900)


def _refreshed(driver: Any) -> bool:
    """Reload the page; False if the reload was cut short (the page's own update, a slow CPU)."""
    from selenium.common.exceptions import WebDriverException

    try:
        driver.refresh()
    except WebDriverException:
        return False
    return True


def _download(driver: Any, url: str) -> tuple[int, str, bytes]:
    """Fetch `url` in the page (its session cookie): status, Content-Disposition, body."""
    got = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        fetch(arguments[0]).then(async (r) => {
          const bytes = new Uint8Array(await r.arrayBuffer());
          let text = ""; for (const b of bytes) text += String.fromCharCode(b);
          done([r.status, r.headers.get("content-disposition"), btoa(text)]);
        });
        """,
        url,
    )
    return int(got[0]), str(got[1]), base64.b64decode(got[2])


def _page_base(d: Daemon, host: str) -> str:
    url = str(d.json("web")["urls"][0])
    port = url.rsplit(":", 1)[1]
    return f"http://{host}:{port}"


def test_two_households_pair_on_their_web_pages(
    make_daemon: Callable[[str], Daemon], browser: Any, tmp_path: Path
) -> None:
    a, b = started(make_daemon, "alpha", "beta")
    household_a, household_b = a.status()["household"], b.status()["household"]
    # one browser, two sites: cookies are per host, so A and B get one each
    base_a, base_b = _page_base(a, "127.0.0.1"), _page_base(b, "localhost")
    tab_a = browser.current_window_handle
    _log_in(browser, base_a, a)
    assert household_a in browser.page_source
    _shots(browser, "home")

    # A makes an invite; its QR code, as rendered, decodes to the pair URL
    browser.get(f"{base_a}/invite")
    _by_id(browser, "make-invite").click()
    qr = _by_id(browser, "invite-qr")
    png = tmp_path / "qr.png"
    qr.screenshot(str(png))
    decoded = subprocess.run(
        ["zbarimg", "--raw", "-q", str(png)], capture_output=True, text=True, timeout=60
    ).stdout.strip()
    code = _by_id(browser, "invite-code").get_attribute("value").strip()
    port_a = base_a.rsplit(":", 1)[1]
    assert decoded == f"http://citizen.local:{port_a}/pair#{code}"
    _shots(browser, "invite")

    # B's phone resolves citizen.local to B's own device: the same path on B's page. Not
    # logged in yet: the login page offers to copy the code, and keeps it across the login
    browser.switch_to.new_window("tab")
    tab_b = browser.current_window_handle
    browser.get(base_b + decoded[decoded.index("/pair#") :])
    assert "/login?next=%2Fpair" in browser.current_url
    assert _by_id(browser, "invite-elsewhere").is_displayed()
    _by_id(browser, "secret").send_keys(b.json("web")["code"])
    browser.find_element("css selector", "#login-form button[type=submit]").submit()
    wait_until(lambda: browser.current_url.startswith(f"{base_b}/pair#"), "the pair page")
    assert _by_id(browser, "code").get_attribute("value") == code  # filled from the fragment
    _by_id(browser, "accept").click()
    words_b = _by_id(browser, "sas").text
    assert len(words_b.split()) >= 3
    _shots(browser, "paired")

    browser.switch_to.window(tab_a)
    words_a = _by_id(browser, "sas", timeout=90).text  # the invite page polls its state
    assert words_a == words_b

    for tab, base, other in ((tab_a, base_a, "beta"), (tab_b, base_b, "alpha")):
        browser.switch_to.window(tab)
        browser.get(f"{base}/friends")

        def online(other: str = other) -> bool:
            if not _refreshed(browser):
                return False
            cards = browser.find_elements("css selector", "li.friend")
            return any(other in c.text and "online" in c.text.split("offline")[0] for c in cards)

        wait_until(online, f"{other} online on the friends page")
    _shots(browser, "friends")

    # a file up through A's page, and back byte-identical
    browser.switch_to.window(tab_a)
    browser.get(f"{base_a}/files")
    content = bytes(range(256)) * 1000 + b"end"
    upload = tmp_path / "photo.bin"
    upload.write_bytes(content)
    _by_id(browser, "upload-file").send_keys(str(upload))
    _by_id(browser, "upload").click()
    wait_until(lambda: "Stored" in browser.find_element("id", "upload-status").text, "the upload")
    object_id = browser.find_element("id", "upload-status").get_attribute("data-stored")
    assert object_id
    wait_until(lambda: "photo.bin" in browser.page_source, "the file in the list")
    _shots(browser, "files")
    status, disposition, body = _download(browser, f"/files/{object_id}/download")
    assert status == 200 and "photo.bin" in disposition
    assert body == content

    # a folder added on A's page is listed once scanned; a file's version downloads
    album = tmp_path / "Album"
    album.mkdir()
    (album / "summer.txt").write_bytes(b"summer " * 100)
    browser.get(f"{base_a}/folders")
    _by_id(browser, "folder-path").send_keys(str(album))
    _by_id(browser, "add-folder-button").click()

    def scanned() -> bool:
        if not _refreshed(browser):
            return False
        card = browser.find_elements("css selector", 'li[data-folder="Album"]')
        return bool(card) and "1 file(s)" in card[0].text

    wait_until(scanned, "the folder scanned on the page")
    _shots(browser, "folders")
    browser.get(f"{base_a}/folders/Album")
    link = browser.find_element("css selector", "#tree a[download]").get_attribute("href")
    _shots(browser, "folder")
    status, disposition, body = _download(browser, link)
    assert status == 200 and "summer.txt" in disposition and body == b"summer " * 100

    # a forged form (no CSRF token) is refused and removes nothing
    status = browser.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        fetch(arguments[0], {method: "POST", body: new URLSearchParams({x: "1"})})
          .then((r) => done(r.status));
        """,
        f"/friends/{household_b}/remove",
    )
    assert status == 403
    browser.get(f"{base_a}/friends")
    card = browser.find_element("css selector", "li.friend")
    assert card.get_attribute("data-household") == household_b and "beta" in card.text

    # removing a friend asks first, then it is gone from the page and from the daemon
    card.find_element("css selector", "a.danger").click()
    _by_id(browser, "confirm-remove").click()
    _by_id(browser, "no-friends")
    assert a.json("friends") == []

    # without a session, a page redirects to the login; wrong logins get rate-limited
    browser.switch_to.window(tab_b)
    browser.delete_all_cookies()
    browser.get(f"{base_b}/friends")
    assert browser.current_url == f"{base_b}/login?next=%2Ffriends"
    _shots(browser, "login")
    for _ in range(11):
        browser.get(f"{base_b}/login")
        _by_id(browser, "secret").send_keys("WRONG-CODE0")
        browser.find_element("css selector", "#login-form button[type=submit]").submit()
        _by_id(browser, "login-error")
    assert "Too many wrong login attempts" in browser.page_source
    assert re.search(r"Wait \d+ minutes", browser.page_source)
