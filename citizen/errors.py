"""Every error the daemon raises on purpose: one root, split by who is at fault.

A message a user sees says what happened and what to do next. Code that
talks to a peer raises `RemoteProtocolError` for anything the peer sent
(malformed, oversized, replayed, hostile) and `LocalProtocolError` for our
own misuse; the daemon never lets either escape a connection handler.
"""

from __future__ import annotations


class CitizenError(Exception):
    """Root of every error we raise on purpose.

    Attributes:
        hint: what the user should do about it (may be empty).
    """

    #: short machine-readable code used by the local API and `--json` output
    code: str = "error"

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip() if self.hint else self.message


# -- configuration and local state -------------------------------------------------


class ConfigError(CitizenError):
    """The config file or a command-line option is wrong."""

    code = "config"


class UsageError(CitizenError):
    """A request from the user or an app is malformed (bad path, bad JSON, bad ID)."""

    code = "usage"


class TextEncodingError(UsageError):
    """A string is not valid Unicode text (a lone surrogate: bytes that were not UTF-8)."""

    code = "not_utf8"


class BodyTooLargeError(UsageError):
    """A request body or message is larger than the daemon accepts."""

    code = "too_large"


class ObjectNameError(UsageError):
    """An object name could reach outside a folder (a `/`, NUL, `..`, control character)."""

    code = "object_name"


class NotProtectedError(UsageError):
    """An object's local copy is still needed: friends do not hold it at the target protection."""

    code = "not_protected"


class NotFoundError(CitizenError):
    """The thing asked for does not exist here."""

    code = "not_found"


class AmbiguousError(UsageError):
    """A name or ID prefix fits several things; the message lists them."""

    code = "ambiguous"


class StoreError(CitizenError):
    """The local database or share files are unusable."""

    code = "store"


class DiskFullError(StoreError):
    """The disk this data dir is on is full: nothing was stored."""

    code = "disk_full"


class DaemonNotRunningError(CitizenError):
    """No daemon answers on this data dir."""

    code = "daemon_not_running"


class AlreadyRunningError(CitizenError):
    """Another daemon already holds this data dir."""

    code = "already_running"


class PortInUseError(ConfigError):
    """Another program (or another daemon) already listens on the port to listen on."""

    code = "port_in_use"


class AutomergePanicError(CitizenError):
    """The Automerge bindings panicked on one doc; the doc is reloaded from disk."""

    code = "automerge_panic"


# -- identity ------------------------------------------------------------------------


class IdentityError(CitizenError):
    """Something about keys, certificates or the keystore is wrong."""

    code = "identity"


class KeystoreError(IdentityError):
    """A key file is missing, truncated, tampered with or of the wrong kind."""

    code = "keystore"


class PassphraseError(IdentityError):
    """The passphrase does not open the sealed household key."""

    code = "passphrase"


class CertificateError(IdentityError):
    """A device certificate is malformed, badly signed, foreign or expired."""

    code = "certificate"


class PhraseError(IdentityError):
    """A recovery phrase is mistyped (unknown word or bad checksum)."""

    code = "phrase"


class IdFormatError(IdentityError):
    """A household ID or fingerprint is mistyped (a check character is wrong)."""

    code = "id_format"


class HouseholdKeyMissingError(IdentityError):
    """This device does not hold the household key, and the action needs it."""

    code = "household_key_missing"


# -- protocols -----------------------------------------------------------------------


class ProtocolError(CitizenError):
    """Base of wire-protocol errors."""

    code = "protocol"


class LocalProtocolError(ProtocolError):
    """We tried to send something the protocol does not allow (our bug or misuse)."""

    code = "local_protocol"


class RemoteProtocolError(ProtocolError):
    """A peer sent something malformed, oversized, unknown or badly signed."""

    code = "remote_protocol"


class NotAuthorizedError(CitizenError):
    """The peer or app is not allowed to do this (not a friend, no grant, bad token)."""

    code = "not_authorized"


class LoginError(NotAuthorizedError):
    """A web page login failed: wrong or used code, wrong passphrase, or a forged form."""

    code = "login"


class RateLimitedError(CitizenError):
    """Too many attempts (web page logins) from one address: wait, then try again."""

    code = "rate_limited"


class InviteError(CitizenError):
    """An invite is garbled, forged, expired or already used."""

    code = "invite"


class QuotaError(CitizenError):
    """Storing this would exceed the quota a household offers."""

    code = "quota"


class UnreachableError(CitizenError):
    """Not enough friends could be reached to do this now."""

    code = "unreachable"


class FolderPathError(UsageError):
    """A folder path could reach outside its folder (absolute, ``..``), or is not a directory."""

    code = "folder_path"


class FolderExistsError(UsageError):
    """A restore would overwrite a file that is there already (and --force was not given)."""

    code = "folder_exists"


def only_citizen_error(exc: BaseException) -> CitizenError | None:
    """The first of our errors inside `exc` if nothing else is in it, else None.

    A trio nursery wraps a child's error in an exception group; callers that
    answer users want the error itself. A group that also holds anything else
    (a cancellation, a bug) is not unwrapped, so nothing is swallowed.
    """
    if isinstance(exc, CitizenError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        found = [only_citizen_error(e) for e in exc.exceptions]
        if found and all(f is not None for f in found):
            return found[0]
    return None
