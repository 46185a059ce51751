"""Recovery phrases: the household key's seed as 24 words with a checksum (BIP-39 list).

The phrase rebuilds the identical household key on a new device; a mistyped
or unknown word is caught by the checksum before anything is written.
"""

from __future__ import annotations

from mnemonic import Mnemonic

from citizen.errors import PhraseError

_WORDS = Mnemonic("english")


def seed_to_phrase(seed: bytes) -> str:
    if len(seed) != 32:
        raise ValueError("a household seed is 32 bytes")
    return str(_WORDS.to_mnemonic(seed))


def phrase_to_seed(phrase: str) -> bytes:
    """Turn a typed phrase back into the 32-byte seed.

    Raises:
        PhraseError: wrong number of words, an unknown word, or a bad checksum.
    """
    words = phrase.lower().split()
    if len(words) != 24:
        raise PhraseError(
            f"A recovery phrase has 24 words; this one has {len(words)}.",
            "Type every word of the phrase from `citizen key backup`, separated by spaces.",
        )
    unknown = [w for w in words if w not in _WORDS.wordlist]
    if unknown:
        raise PhraseError(
            f"Not a recovery-phrase word: {', '.join(unknown)}.", "Check the spelling."
        )
    normal = " ".join(words)
    if not _WORDS.check(normal):
        raise PhraseError(
            "The recovery phrase's checksum does not match: a word is wrong or out of order.",
            "Compare it word by word with your written copy.",
        )
    return bytes(_WORDS.to_entropy(normal))


def wordlist() -> list[str]:
    """The 2048-word list, also used for short authentication strings."""
    return list(_WORDS.wordlist)
