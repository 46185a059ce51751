"""The devices page on a grid node: list, a join code for a new device, revoke after asking."""

from __future__ import annotations

import html
from pathlib import Path

from citizen.identity.invites import decode_invite
from citizen.testing.grid import open_grid
from tests.web.test_pair_grid import _logged_in


async def test_devices_are_listed_added_with_a_code_and_revoked(tmp_path: Path) -> None:
    async with open_grid(1, tmp_path) as grid:
        (alpha,) = grid.nodes
        laptop = await grid.enroll(alpha, "laptop")
        http, csrf = await _logged_in(alpha)
        try:
            page = (await http.get("/devices")).text
            assert "this device" in page and "laptop" in page
            assert laptop.node.cert.device in page

            added = await http.post("/devices/add", data={"csrf": csrf})
            assert added.status_code == 200
            start = added.text.index("citizen init --join ") + len("citizen init --join ")
            code = html.unescape(added.text[start : added.text.index("</textarea>", start)])
            assert decode_invite(code.strip()).kind == "enroll"

            device = laptop.node.cert.device
            ask = await http.get(f"/devices/{device}/revoke")
            assert ask.status_code == 200 and 'id="confirm-revoke"' in ask.text
            forged = await http.post(f"/devices/{device}/revoke", data={})
            assert forged.status_code == 403
            assert any(d["device"] == device for d in await alpha.node.household.list_devices())
            done = await http.post(f"/devices/{device}/revoke", data={"csrf": csrf})
            assert done.status_code == 303
            listed = await alpha.node.household.list_devices()
            assert all(d["device"] != device for d in listed)
        finally:
            await http.aclose()
