"""Who may open the web page: one-time login codes, the household's passphrase, sessions.

Everything lives in DATA_DIR/web/ (mode 0700, files 0600), so `citizen web` on
the device (which can read the data dir, like the local API's socket) makes
codes without asking the daemon:

- ``login-codes/<sha256 of a code>``: one file per unused code, holding its
  expiry; logging in deletes it, so a code works once (unlink is atomic).
- ``passphrase``: the argon2id hash of the passphrase the household set.
- ``sessions.json``: sha256 of each session token -> its CSRF token and expiry.
  The token itself is only ever in the browser's cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import trio

from citizen.errors import LoginError, RateLimitedError, UsageError
from citizen.identity.keystore import write_private_file
from citizen.web.limits import LoginLimiter

WEB_DIR = "web"
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off a screen
CODE_LENGTH = 10  # 50 bits, and 10 tries per address per 15 minutes
CODE_SECONDS = 15 * 60
SESSION_SECONDS = 30 * 24 * 3600
MAX_SESSIONS = 64
MIN_PASSPHRASE = 8


def web_dir(data_dir: Path) -> Path:
    path = data_dir / WEB_DIR
    path.mkdir(mode=0o700, exist_ok=True)
    (path / "login-codes").mkdir(mode=0o700, exist_ok=True)
    return path


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _normal_code(text: str) -> str:
    return "".join(c for c in text.upper() if c.isalnum())


def new_login_code(data_dir: Path, now: float | None = None) -> tuple[str, int]:
    """A one-time login code, shown as ``ABCDE-FGHJK``, and the Unix time it expires."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    expires = int(now if now is not None else time.time()) + CODE_SECONDS
    write_private_file(web_dir(data_dir) / "login-codes" / _digest(raw), str(expires).encode())
    half = CODE_LENGTH // 2
    return f"{raw[:half]}-{raw[half:]}", expires


def use_login_code(data_dir: Path, text: str, now: float) -> bool:
    """True once for a valid code (it is deleted); expired codes are swept on the way."""
    codes = web_dir(data_dir) / "login-codes"
    for path in codes.iterdir():
        try:
            if int(path.read_text() or 0) <= now:
                path.unlink()
        except (OSError, ValueError):
            continue
    normal = _normal_code(text)
    if len(normal) != CODE_LENGTH:
        return False
    path = codes / _digest(normal)
    try:
        expires = int(path.read_text() or 0)
        path.unlink()  # only one login can win this
    except (OSError, ValueError):
        return False
    return expires > now


def set_passphrase(data_dir: Path, passphrase: str) -> None:
    """Let the household log in with `passphrase` (argon2id hash in DATA_DIR/web/passphrase).

    Raises:
        UsageError: shorter than 8 characters.
    """
    from nacl import pwhash

    if len(passphrase) < MIN_PASSPHRASE:
        raise UsageError(
            f"A web page passphrase has at least {MIN_PASSPHRASE} characters.",
            "Choose a longer one, e.g. four words.",
        )
    hashed = pwhash.argon2id.str(passphrase.encode())
    write_private_file(web_dir(data_dir) / "passphrase", hashed)


def check_passphrase(data_dir: Path, text: str) -> bool:
    from nacl import exceptions, pwhash

    path = data_dir / WEB_DIR / "passphrase"
    try:
        hashed = path.read_bytes()
    except OSError:
        return False
    try:
        return bool(pwhash.verify(hashed, text.encode()))
    except (exceptions.InvalidkeyError, exceptions.CryptoError, ValueError):
        return False


@dataclass(frozen=True, slots=True)
class Session:
    """A browser that logged in: the CSRF token its forms carry, and when it ends."""

    csrf: str
    expires: int


class WebAuth:
    """Logins and sessions of the web page (one per daemon)."""

    def __init__(self, data_dir: Path, clock: Callable[[], float] = time.time) -> None:
        self._data_dir = data_dir
        self._clock = clock
        self._path = web_dir(data_dir) / "sessions.json"
        self.limiter = LoginLimiter()
        self._sessions: dict[str, Session] = {}
        try:
            stored = json.loads(self._path.read_text())
            self._sessions = {h: Session(csrf=c, expires=int(e)) for h, (c, e) in stored.items()}
        except (OSError, ValueError, TypeError, AttributeError):
            self._sessions = {}

    async def log_in(self, address: str, secret: str) -> tuple[str, Session]:
        """A new session for a right one-time code or passphrase from `address`.

        Raises:
            RateLimitedError: `address` failed too often lately; nothing was checked.
            LoginError: wrong, used or expired code, and not the passphrase.
        """
        now = self._clock()
        wait = self.limiter.wait_s(address, now)
        if wait > 0:
            raise RateLimitedError(
                "Too many wrong login attempts from this address.",
                f"Wait {int(wait // 60) + 1} minutes, then try again with a new code.",
            )
        secret = secret.strip()
        ok = bool(secret) and use_login_code(self._data_dir, secret, now)
        if not ok and secret:
            ok = await trio.to_thread.run_sync(check_passphrase, self._data_dir, secret)
        if not ok:
            self.limiter.failed(address, now)
            raise LoginError(
                "That code is wrong, used or expired (and it is not the passphrase).",
                "Run `citizen web` on the household's device for a new one-time code.",
            )
        self.limiter.succeeded(address)
        return self.new_session()

    def new_session(self) -> tuple[str, Session]:
        now = int(self._clock())
        token = secrets.token_urlsafe(32)
        session = Session(csrf=secrets.token_urlsafe(24), expires=now + SESSION_SECONDS)
        live = {h: s for h, s in self._sessions.items() if s.expires > now}
        live[_digest(token)] = session
        while len(live) > MAX_SESSIONS:  # the oldest logins end first
            del live[min(live, key=lambda h: live[h].expires)]
        self._sessions = live
        self._save()
        return token, session

    def session(self, token: str | None) -> Session | None:
        """The live session of a cookie's token, else None."""
        if not token:
            return None
        found = self._sessions.get(_digest(token))
        if found is None or found.expires <= self._clock():
            return None
        return found

    def log_out(self, token: str | None) -> None:
        if token and self._sessions.pop(_digest(token), None) is not None:
            self._save()

    def _save(self) -> None:
        data = {h: [s.csrf, s.expires] for h, s in self._sessions.items()}
        write_private_file(self._path, json.dumps(data).encode())


def same_token(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())
