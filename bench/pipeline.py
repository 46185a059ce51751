"""The one-core ceiling of the blob pipeline: encrypt, erasure-code, hash, and back.

Measures, on one thread, how fast this machine can turn plaintext into shares
(XChaCha20-Poly1305, zfec k-of-n, BLAKE2b-256 per share) and shares back into
plaintext, on fixed-size segments of random data. Each stage is timed on its
own and the real `citizen.objects.segments.encode_segment` / `decode_segment` are
timed end to end. No network, no disk: this is the upper bound any put/get
can reach per core.

Usage::

    python bench/pipeline.py --mib 256 --repeat 5

prints one JSON object. `run_pipeline_ceiling(mib, repeat)` returns the same
dict for the bench harness. Throughput is in MB/s (10^6 bytes) of plaintext.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

import zfec
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_encrypt

from citizen.objects.segments import (
    decode_segment,
    encode_segment,
    new_object_key,
    segment_nonce,
    share_size,
)

MIB = 1024 * 1024


def _median_rate(total_bytes: int, seconds: list[float]) -> float:
    return round(total_bytes / statistics.median(seconds) / 1e6, 1)


def _time(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_pipeline_ceiling(
    mib: int = 256,
    repeat: int = 5,
    segment_size: int = MIB,
    k: int = 3,
    n: int = 5,
) -> dict[str, object]:
    """Time each pipeline stage over `mib` MiB of random data, `repeat` times.

    Returns:
        a JSON-ready dict: parameters, and per stage the median MB/s of plaintext.
    """
    if mib < 1 or repeat < 1:
        raise ValueError("mib and repeat must be at least 1")
    total = mib * MIB
    count = -(-total // segment_size)
    segments = [os.urandom(min(segment_size, total - i * segment_size)) for i in range(count)]
    key = new_object_key()
    oid = os.urandom(16)
    aad = b"bench"
    encoder = zfec.Encoder(k, n)

    # Inputs for the stages after the first, prepared outside the timings.
    ciphertexts = [
        crypto_aead_xchacha20poly1305_ietf_encrypt(s, aad, segment_nonce(oid, i), key)
        for i, s in enumerate(segments)
    ]
    padded_blocks = []
    for ct in ciphertexts:
        size = share_size(len(ct), k)
        padded = ct + bytes(size * k - len(ct))
        padded_blocks.append([padded[j * size : (j + 1) * size] for j in range(k)])
    encoded = [encode_segment(key, oid, i, s, k, n) for i, s in enumerate(segments)]
    all_shares = [share for e in encoded for share in e.shares]
    # Decoding from the last k shares makes zfec rebuild as many primary blocks
    # as possible (the worst case); from the first k it only joins them.
    worst = list(range(n - k, n))
    best = list(range(k))

    def encrypt() -> None:
        for i, s in enumerate(segments):
            crypto_aead_xchacha20poly1305_ietf_encrypt(s, aad, segment_nonce(oid, i), key)

    def fec() -> None:
        for blocks in padded_blocks:
            encoder.encode(blocks)

    def hash_shares() -> None:
        for share in all_shares:
            hashlib.blake2b(share, digest_size=32).digest()

    def combined() -> None:
        for i, s in enumerate(segments):
            encode_segment(key, oid, i, s, k, n)

    def decode_with(numbers: list[int]) -> Callable[[], None]:
        def run() -> None:
            for e in encoded:
                decode_segment(key, oid, e.index, {j: e.shares[j] for j in numbers}, k, n, e.info)

        return run

    stages: dict[str, Callable[[], None]] = {
        "encrypt": encrypt,
        "zfec_encode": fec,
        "blake2b_shares": hash_shares,
        "encode_segment": combined,
        "decode_segment_worst": decode_with(worst),
        "decode_segment_primary": decode_with(best),
    }
    timings: dict[str, list[float]] = {name: [] for name in stages}
    for _ in range(repeat):
        for name, fn in stages.items():
            timings[name].append(_time(fn))

    # sanity: the pipeline must round-trip, or the numbers mean nothing
    e = encoded[0]
    assert decode_segment(key, oid, 0, {j: e.shares[j] for j in worst}, k, n, e.info) == segments[0]

    return {
        "bench": "pipeline_ceiling",
        "unit": "MB/s of plaintext, one thread, median",
        "mib": mib,
        "repeat": repeat,
        "segment_size": segment_size,
        "k": k,
        "n": n,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "stages": {name: _median_rate(total, secs) for name, secs in timings.items()},
        "seconds_median": {
            name: round(statistics.median(secs), 4) for name, secs in timings.items()
        },
        "note": "decode_segment_worst rebuilds from shares "
        f"{worst}; decode_segment_primary from {best}; both include hash checks and decrypt.",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mib", type=int, default=256, help="MiB of random data (default 256)")
    parser.add_argument("--repeat", type=int, default=5, help="runs; the median is reported")
    parser.add_argument("--segment-size", type=int, default=MIB, help="bytes (default 1 MiB)")
    parser.add_argument("-k", type=int, default=3, help="shares needed (default 3)")
    parser.add_argument("-n", type=int, default=5, help="shares made (default 5)")
    args = parser.parse_args(argv)
    result = run_pipeline_ceiling(args.mib, args.repeat, args.segment_size, args.k, args.n)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
