"""Serving the web page with hypercorn's trio worker on `[web] listen`, and saying where.

The daemon writes the page's addresses to DATA_DIR/web/url once it listens
(`citizen web` reads them) and removes the file when it stops.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import trio
from hypercorn.config import Config as HyperConfig
from hypercorn.trio import serve

from citizen.api.context import ApiContext
from citizen.config import Config
from citizen.errors import CitizenError
from citizen.identity.keystore import write_private_file
from citizen.web import devices, files, folders, pages
from citizen.web.app import Web, WebSettings, build_web_app, templates
from citizen.web.auth import WebAuth, web_dir
from citizen.web.mdns import announce, lan_addresses

if TYPE_CHECKING:
    from trio_typing import TaskStatus

log = logging.getLogger(__name__)

URL_NAME = "url"


def make_web(ctx: ApiContext, data_dir: Path, config: Config) -> Web:
    settings = WebSettings(
        mdns_name=config.web_mdns_name,
        localhost_skips_login=config.web_localhost_skips_login,
        data_dir=data_dir,
    )
    return Web(ctx, WebAuth(data_dir), settings, templates())


def page_urls(host: str, port: int, mdns_name: str, mdns: bool) -> list[str]:
    """The addresses to open the page at, the mDNS name first."""
    if host in ("0.0.0.0", "::"):
        named = [f"http://{mdns_name}.local:{port}"] if mdns and mdns_name else []
        return [
            *named,
            *(f"http://{a}:{port}" for a in lan_addresses()),
            f"http://127.0.0.1:{port}",
        ]
    shown = f"[{host}]" if ":" in host else host
    return [f"http://{shown}:{port}"]


async def serve_web(
    ctx: ApiContext,
    data_dir: Path,
    config: Config,
    *,
    task_status: TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the page until cancelled; `task_status` gets its URLs once it listens.

    Raises:
        CitizenError: `[web] listen` cannot be bound (the port is taken).
    """
    web = make_web(ctx, data_dir, config)
    app = build_web_app(
        web, [*pages.routes(web), *files.routes(web), *folders.routes(web), *devices.routes(web)]
    )
    host, port = config.web_address
    hyper = HyperConfig()
    hyper.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    hyper.accesslog = None
    hyper.errorlog = logging.getLogger("citizen.web.server")
    hyper.graceful_timeout = 1.0
    hyper.keep_alive_timeout = 30
    url_file = web_dir(data_dir) / URL_NAME
    try:
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(serve, app, hyper)
            bound = int(str(binds[0]).rsplit(":", 1)[1])
            urls = page_urls(host, bound, config.web_mdns_name, config.mdns)
            write_private_file(url_file, json.dumps({"urls": urls, "port": bound}).encode())
            log.info("web page at %s", " ".join(urls))
            if config.mdns and config.web_mdns_name and host not in ("127.0.0.1", "::1"):
                nursery.start_soon(announce, config.web_mdns_name, bound, config.household_name)
            task_status.started(urls)
    except* OSError as group:  # hypercorn's bind fails inside nurseries: a group
        exc = _first(group)
        raise CitizenError(
            f"Cannot serve the web page on {config.web_listen}: {exc.strerror}.",
            "Another program uses the port: change web.listen in config.toml"
            " (or set web.enabled = false).",
        ) from exc
    finally:
        url_file.unlink(missing_ok=True)


def _first(group: BaseExceptionGroup[OSError]) -> OSError:
    found: BaseException = group
    while isinstance(found, BaseExceptionGroup):
        found = found.exceptions[0]
    assert isinstance(found, OSError)
    return found


def read_page_urls(data_dir: Path) -> list[str] | None:
    """The URLs the running daemon serves the page at, or None if it does not."""
    try:
        data = json.loads((data_dir / "web" / URL_NAME).read_text())
        urls = data["urls"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return [str(u) for u in urls] if isinstance(urls, list) else None
