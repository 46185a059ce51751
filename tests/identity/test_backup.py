from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nacl.signing import SigningKey

from citizen.errors import RemoteProtocolError
from citizen.identity.backup import (
    BackupDecryptError,
    check_blob,
    open_backup,
    seal_backup,
    sign_pointer,
    verify_pointer,
)


def test_seal_open_and_pointer() -> None:
    key = SigningKey.generate()
    blob = seal_backup(key, b"state")
    assert b"state" not in blob
    assert open_backup(key, blob) == b"state"
    with pytest.raises(BackupDecryptError):
        open_backup(SigningKey.generate(), blob)
    with pytest.raises(BackupDecryptError):
        open_backup(key, blob[:-1] + bytes([blob[-1] ^ 1]))
    pointer = sign_pointer(key, 7, blob)
    again = verify_pointer(pointer.raw, bytes(key.verify_key))
    assert again.version == 7
    check_blob(again, blob)
    with pytest.raises(RemoteProtocolError):
        check_blob(again, blob + b"x")


def test_forged_or_foreign_pointer_is_refused() -> None:
    key, other = SigningKey.generate(), SigningKey.generate()
    pointer = sign_pointer(other, 99, b"blob")
    with pytest.raises(RemoteProtocolError, match="another household"):
        verify_pointer(pointer.raw, bytes(key.verify_key))
    # a pointer claiming our household but signed by someone else
    from citizen import cbor

    payload, _sig = cbor.loads(sign_pointer(key, 1, b"b").raw)  # type: ignore[misc]
    forged = cbor.dumps([payload, other.sign(payload).signature])
    with pytest.raises(RemoteProtocolError, match="signature"):
        verify_pointer(forged, bytes(key.verify_key))


@given(st.binary(max_size=600))
def test_arbitrary_pointer_bytes_raise_only_remote_error(data: bytes) -> None:
    try:
        verify_pointer(data, bytes(32))
    except RemoteProtocolError:
        pass
