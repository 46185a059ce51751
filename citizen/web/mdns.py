"""Announce the web page on the LAN by mDNS: ``citizen.local`` and an ``_http._tcp`` service.

python-zeroconf runs its own thread; the blocking calls go through
`trio.to_thread`. Every household's device announces the same host name, so
a phone at any household's home reaches that household's own page there.
"""

from __future__ import annotations

import logging
import socket

import trio

log = logging.getLogger(__name__)


def lan_addresses() -> list[str]:
    """This machine's IPv4 addresses other than loopback."""
    import ifaddr

    found: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not ip.ip.startswith("127.") and ip.ip not in found:
                found.append(ip.ip)
    return found


async def announce(name: str, port: int, label: str) -> None:
    """Answer for `name`.local on every LAN address until cancelled (logs, never raises)."""
    from zeroconf import ServiceInfo, Zeroconf

    addresses = lan_addresses()
    if not addresses:
        log.info("web page: no LAN address to announce %s.local on", name)
        await trio.sleep_forever()
    safe = "".join(c if c.isalnum() or c in " -" else "-" for c in label)[:50] or "Citizen"
    info = ServiceInfo(
        "_http._tcp.local.",
        f"{safe}._http._tcp.local.",
        addresses=[socket.inet_aton(a) for a in addresses],
        port=port,
        properties={"path": "/"},
        server=f"{name}.local.",
    )
    zc: Zeroconf | None = None
    try:
        zc = await trio.to_thread.run_sync(Zeroconf)
        await trio.to_thread.run_sync(lambda: zc.register_service(info, allow_name_change=True))
        log.info("web page announced as http://%s.local:%d", name, port)
        await trio.sleep_forever()
    except OSError as exc:
        log.warning("web page: cannot announce %s.local by mDNS: %s", name, exc)
        await trio.sleep_forever()
    finally:
        if zc is not None:
            with trio.CancelScope(shield=True):  # says goodbye on the LAN: well under a second
                await trio.to_thread.run_sync(zc.close)
