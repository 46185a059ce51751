"""The pages show what the services hold: home with the doctor's problems, files, docs as JSON."""

from __future__ import annotations

import re

from tests.web.conftest import Page


async def test_home_shows_the_household_device_and_the_doctors_problems(page: Page) -> None:
    await page.log_in()
    home = (await page.http.get("/")).text
    assert page.node.cert.device in home and "Home-pi" in home
    problems = re.search(r'<ul class="problems">(.*?)</ul>', home, re.S)
    assert problems, home  # an offline device with no friend has problems to show
    assert "friend" in problems.group(1).lower()
    assert (await page.http.get("/live/home")).text.count("household-name") == 1


async def test_a_file_uploads_lists_and_downloads_byte_identical(page: Page) -> None:
    csrf = await page.log_in()
    content = b"\x00\x01 grandma's recipe \xff" * 1000
    answer = await page.http.post(
        "/files/upload?name=recette%20%C3%A9t%C3%A9.txt",
        content=content,
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/octet-stream"},
    )
    assert answer.status_code == 201, answer.text
    object_id = answer.text
    listing = (await page.http.get("/files")).text
    assert "recette été.txt" in listing and object_id in listing
    got = await page.http.get(f"/files/{object_id}/download")
    assert got.status_code == 200 and got.content == content
    assert "filename*=UTF-8''recette%20%C3%A9t%C3%A9.txt" in got.headers["content-disposition"]
    confirm = await page.http.get(f"/files/{object_id}/remove")
    assert confirm.status_code == 200 and "cannot be undone" in confirm.text
    removed = await page.http.post(f"/files/{object_id}/remove", data={"csrf": csrf})
    assert removed.status_code == 303
    assert await page.node.objects.list() == []


async def test_a_download_names_the_file_in_ascii_and_utf_8(page: Page) -> None:
    csrf = await page.log_in()
    answer = await page.http.post(
        "/files/upload?name=%C3%A9t%C3%A9%20(1).txt",  # été (1).txt
        content=b"x",
        headers={"X-CSRF-Token": csrf},
    )
    assert answer.status_code == 201, answer.text
    got = await page.http.get(f"/files/{answer.text}/download")
    disposition = got.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="_t_ (1).txt";')
    assert disposition.endswith("filename*=UTF-8''%C3%A9t%C3%A9%20%281%29.txt")


async def test_an_unknown_file_is_a_404_page_not_a_crash(page: Page) -> None:
    await page.log_in()
    answer = await page.http.get("/files/4vJ9JU1bJJE96FWSJKvHsmmFADCg4gpZQff4P3bkLKi/download")
    assert answer.status_code in (400, 404)
    assert 'class="error"' in answer.text


async def test_docs_are_listed_and_shown_read_only_as_json(page: Page) -> None:
    await page.log_in()
    made = await page.node.docs.create("Shopping <list>")
    doc_id = str(made["doc_id"])
    listing = (await page.http.get("/docs")).text
    assert "Shopping &lt;list&gt;" in listing and f'href="/docs/{doc_id}"' in listing
    shown = await page.http.get(f"/docs/{doc_id}")
    assert shown.status_code == 200 and 'id="doc-json"' in shown.text
