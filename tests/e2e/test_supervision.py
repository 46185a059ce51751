"""Through the real CLI: text that is not UTF-8 and a taken port never stop a daemon.

`citizen doc set D "$(printf 'k\\xff')" 1` once panicked the Automerge bindings
and the daemon exited; a second daemon on a taken port started silently
(py-libp2p's SO_REUSEPORT) and took a share of the friends' connections.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

from tests.daemons import Daemon


def test_bad_text_is_refused_and_a_taken_port_refuses_the_second_daemon(
    make_daemon: Callable[[str], Daemon],
) -> None:
    a = make_daemon("alpha")
    a.init()
    a.start()
    doc = a.json("doc", "new", "Shopping")["doc_id"]
    # a stray byte in a shell argument arrives as a lone surrogate ('k\udcff')
    for args in (("k\udcff", "1"), ("m", '{"\\ud800": 1}')):
        refused = a.cli("doc", "set", doc, *args, check=False)
        assert refused.returncode != 0
        assert "UTF-8" in refused.stderr and "Traceback" not in refused.stderr
    a.cli("doc", "set", doc, "milk", "1")
    assert a.json("doc", "show", doc)["value"] == {"milk": 1}
    assert a.proc is not None and a.proc.poll() is None

    port = a.status()["listen"][0].rsplit("/", 1)[-1]
    b = make_daemon("beta")
    b.init()
    try:
        second = subprocess.run(
            [sys.executable, "-m", "citizen", "run", "--listen", f"/ip4/127.0.0.1/tcp/{port}"],
            env=b.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"a second daemon started on alpha's port {port}") from exc
    assert second.returncode != 0
    assert port in second.stderr and "already in use" in second.stderr, second.stderr
    assert "Traceback" not in second.stderr
    assert a.status()["listen"][0].endswith(f"/tcp/{port}")
