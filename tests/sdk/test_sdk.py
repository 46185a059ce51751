"""citizen_sdk against real daemon processes, the same async body under trio and under asyncio."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import citizen_sdk
import pytest
import sniffio

from citizen.config import SOCKET_NAME
from tests.api.tcp_daemon import start_with_tcp
from tests.daemons import Daemon

BACKENDS = ["trio", "asyncio"]


def _started(make: Callable[[str], Daemon], *names: str) -> list[Daemon]:
    out = []
    for name in names:
        d = make(name)
        d.init()
        d.start()
        out.append(d)
    return out


async def _pair_and_unpair(alpha_dir: Path, beta_dir: Path, backend: str) -> None:
    assert sniffio.current_async_library() == backend
    async with citizen_sdk.connect(alpha_dir) as a, citizen_sdk.connect(beta_dir) as b:
        alpha, beta = await a.status(), await b.status()
        assert (alpha.household_name, beta.household_name) == ("alpha", "beta")
        assert alpha.friends == 0 and not alpha.offline

        invite = await a.invites.create(expires_s=600)
        assert invite.code.startswith("CC1")
        assert "<svg" in invite.qr_svg
        assert not (await a.invites.status(invite.invite_id)).used

        pairing = await b.invites.accept(invite.code, name="the alphas")
        assert pairing.household == alpha.household
        assert len(pairing.sas) == 4

        # the inviter stored the friend before it answered, so no waiting here
        used = await a.invites.status(invite.invite_id)
        assert used.used and used.household == beta.household and used.sas == pairing.sas
        [on_a] = await a.friends.list()
        assert (on_a.household, on_a.name, on_a.sas) == (beta.household, "beta", pairing.sas)
        assert [d.name for d in on_a.devices] == ["beta-pi"]
        [on_b] = await b.friends.list()
        assert (on_b.household, on_b.name) == (alpha.household, "the alphas")
        assert (await a.status()).friends == 1

        # typed errors, with the daemon's own message and hint
        with pytest.raises(citizen_sdk.InviteError):
            await b.invites.accept(invite.code)
        with pytest.raises(citizen_sdk.NotFoundError) as missing:
            await a.friends.remove("nobody at all")
        assert isinstance(missing.value, citizen_sdk.CitizenError)
        assert "nobody at all" in missing.value.message and missing.value.hint
        with pytest.raises(citizen_sdk.UsageError):
            await a.invites.create(expires_s=0)
        with pytest.raises(citizen_sdk.NotFoundError):
            await a.invites.status("0" * 32)

        # storage offered to a friend: MiB in, bytes out; None is the configured default
        assert await a.friends.offer("beta", 64) == 64 * 1024 * 1024
        assert (await a.friends.offer(beta.household, None)) is None
        with pytest.raises(citizen_sdk.UsageError):
            await a.friends.offer("beta", -1)

        removed = await a.friends.remove(beta.household)
        assert (removed.household, removed.name) == (beta.household, "beta")
        assert await a.friends.list() == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_pair_two_households_through_the_sdk(
    backend: str, make_daemon: Callable[[str], Daemon]
) -> None:
    a, b = _started(make_daemon, "alpha", "beta")
    anyio.run(_pair_and_unpair, a.data_dir, b.data_dir, backend, backend=backend)


async def _over_tcp(url: str, token: str, data_dir: Path, backend: str) -> None:
    assert sniffio.current_async_library() == backend
    async with citizen_sdk.connect(url=url, token=token) as c:
        assert (await c.status()).household_name == "alpha"
        assert c.where == url
    # no token given: read from the data dir's api.token
    async with citizen_sdk.connect(data_dir, url=url) as c:
        assert (await c.status()).household_name == "alpha"
    async with citizen_sdk.connect(url=url, token=token + "x") as c:
        with pytest.raises(citizen_sdk.NotAuthorizedError):
            await c.status()


@pytest.mark.parametrize("backend", BACKENDS)
def test_tcp_with_token(backend: str, make_daemon: Callable[[str], Daemon]) -> None:
    d = make_daemon("alpha")
    api = start_with_tcp(d)
    anyio.run(_over_tcp, api.url, api.token, d.data_dir, backend, backend=backend)


def test_connect_sync(
    make_daemon: Callable[[str], Daemon], monkeypatch: pytest.MonkeyPatch
) -> None:
    [d] = _started(make_daemon, "alpha")
    monkeypatch.setenv("CITIZEN_HOME", str(d.data_dir))
    with citizen_sdk.connect_sync() as c:  # data dir from $CITIZEN_HOME
        status = c.status()
        assert status.household_name == "alpha"
        assert c.where == str(d.data_dir / SOCKET_NAME)
        invite = c.invites.create(expires_s=60)
        assert not c.invites.status(invite.invite_id).used
        assert c.friends.list() == []
        with pytest.raises(citizen_sdk.NotFoundError):
            c.friends.remove("nobody")
        with pytest.raises(citizen_sdk.InviteError):
            c.invites.accept("CC1-NOT-A-CODE")


def test_offline_daemon_says_friends_are_not_running(make_daemon: Callable[[str], Daemon]) -> None:
    d = make_daemon("alpha")
    d.init()
    d.start("--offline")
    with citizen_sdk.connect_sync(d.data_dir) as c:
        assert c.status().offline
        with pytest.raises(citizen_sdk.NotFoundError, match="friends service"):
            c.friends.list()


async def test_no_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITIZEN_HOME", str(tmp_path))
    with pytest.raises(citizen_sdk.DaemonNotRunningError, match=str(tmp_path)):
        async with citizen_sdk.connect():
            pass
    # a socket file that nobody listens on (a daemon that was killed)
    (tmp_path / SOCKET_NAME).write_bytes(b"")
    async with citizen_sdk.connect(tmp_path) as c:
        with pytest.raises(citizen_sdk.DaemonNotRunningError):
            await c.status()
    with pytest.raises(citizen_sdk.DaemonNotRunningError), citizen_sdk.connect_sync(tmp_path / "x"):
        pass


async def test_tcp_port_nobody_listens_on() -> None:
    from tests.api.tcp_daemon import free_port

    async with citizen_sdk.connect(url=f"http://127.0.0.1:{free_port()}", token="t") as c:
        with pytest.raises(citizen_sdk.DaemonNotRunningError):
            await c.status()
