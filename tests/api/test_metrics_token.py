"""A LAN Prometheus scrapes /metrics with the read-only metrics token; admin routes refuse it."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from citizen.api.metrics import METRICS_TOKEN_NAME
from citizen.config import CONFIG_NAME, TOKEN_NAME
from tests.api.tcp_daemon import TcpApi, free_port
from tests.daemons import Daemon


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_token_scrapes_and_opens_nothing_else(
    make_daemon: Callable[[str], Daemon],
) -> None:
    d = make_daemon("alpha")
    d.init()
    api_port, port = free_port(), free_port()
    config = d.data_dir / CONFIG_NAME
    text = config.read_text().replace("tcp_port = 0", f"tcp_port = {api_port}")
    config.write_text(text + f'\n[metrics]\nlisten = "127.0.0.1:{port}"\n')
    d.start()
    api = TcpApi(api_port, (d.data_dir / TOKEN_NAME).read_text().strip())
    scrape = f"http://127.0.0.1:{port}/metrics"
    token = (d.data_dir / METRICS_TOKEN_NAME).read_text().strip()
    assert token != api.token
    as_metrics = {"Authorization": f"Bearer {token}"}

    with httpx.Client(timeout=60) as http:
        ok = http.get(scrape, headers=as_metrics)
        assert ok.status_code == 200, ok.text
        samples = _samples(ok.text)
        names = {name for name, _ in samples}
        assert {"process_resident_memory_bytes", "process_open_fds"} <= names
        assert samples[("process_resident_memory_bytes", ())] > 0
        assert samples[("citizen_disk_free_bytes", (("place", "data dir"),))] > 0
        assert samples[("citizen_disk_free_bytes", (("place", "share store"),))] > 0
        assert samples[("citizen_share_store_bytes", ())] == 0
        # the admin token scrapes too; no token, a wrong one, or any other path does not
        assert http.get(scrape, headers=api.auth()).status_code == 200
        assert http.get(scrape).status_code == 401
        assert http.get(scrape, headers={"Authorization": f"Bearer {token}x"}).status_code == 401
        other = f"http://127.0.0.1:{port}/v1/status"
        assert http.get(other, headers=as_metrics).status_code == 404
        # the admin API refuses the metrics token, /metrics there included
        for path in ("/v1/status", "/v1/friends", "/metrics"):
            refused = http.get(api.url + path, headers=as_metrics)
            assert refused.status_code == 401, (path, refused.text)
        assert http.get(api.url + "/v1/status", headers=api.auth()).status_code == 200
    assert re.search(r"metrics at http://127\.0\.0\.1:\d+", d.log())
