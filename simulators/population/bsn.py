"""BSNs by construction: a keyed bijection between population index and burgerservicenummer.

Faker's ``ssn()`` repeats within 100,000 draws, so BSNs are built instead (issue 3, item 2).
The BSN space used here is every 9-digit number whose first digit is non-zero and that passes
the 11-proof: 9,000,000 seven-digit prefixes times the 9 eighth digits that leave a valid check
digit, i.e. exactly 81,000,000 = 9000 x 9000 numbers. A 6-round Feistel network over
Z_9000 x Z_9000 permutes that space, keyed by the population seed, so

* ``bsn_of(seed, i)`` is unique for every index (it is a permutation), 11-proof by construction;
* ``index_of(seed, bsn)`` inverts it in constant time and memory, no table growing with N.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

HALF = 9000
DOMAIN = HALF * HALF  # 81,000,000 distinct BSNs; more than the 18M a national population needs
_ROUNDS = 6
_MASK = 0xFFFFFFFF
_WEIGHTS = (9, 8, 7, 6, 5, 4, 3)


@lru_cache(maxsize=64)
def _keys(seed: int) -> tuple[int, ...]:
    """Round keys derived from the seed, so each population has its own BSN permutation."""
    return tuple(
        int.from_bytes(hashlib.blake2b(f"bsn:{seed}:{r}".encode(), digest_size=4).digest())
        for r in range(_ROUNDS)
    )


def _f(x: int, k: int) -> int:
    """Feistel round function: a cheap 32-bit integer mix, reduced to one half of the domain."""
    x = ((x ^ k) * 0x2545F491) & _MASK
    x ^= x >> 15
    x = (x * 0x4F6CDD1D) & _MASK
    x ^= x >> 13
    return x % HALF


def permute(seed: int, i: int) -> int:
    """Map an index in [0, DOMAIN) to a position in the BSN space."""
    left, right = divmod(i, HALF)
    for k in _keys(seed):
        left, right = right, (left + _f(right, k)) % HALF
    return left * HALF + right


def unpermute(seed: int, m: int) -> int:
    """Inverse of :func:`permute`."""
    left, right = divmod(m, HALF)
    for k in reversed(_keys(seed)):
        left, right = (right - _f(left, k)) % HALF, left
    return left * HALF + right


def _prefix_sum(prefix: int) -> int:
    """9*d1 + 8*d2 + ... + 3*d7 of a seven-digit prefix, last digit first (no str())."""
    s = 0
    for w in _WEIGHTS_LAST_FIRST:
        prefix, digit = divmod(prefix, 10)
        s += w * digit
    return s


_WEIGHTS_LAST_FIRST = _WEIGHTS[::-1]


def _excluded_digit(s: int) -> int:
    """The eighth digit that would need check digit 10 (6 is 2's inverse mod 11).

    10 means no digit is excluded; the scheme then leaves d8 = 9 unused, keeping 9 per prefix.
    """
    return (10 - s) % 11 * 6 % 11


def encode(m: int) -> str:
    """Position in the BSN space -> BSN string (9 digits, passes the 11-proof)."""
    q, r = divmod(m, 9)
    prefix = 1_000_000 + q
    s = _prefix_sum(prefix)
    excluded = _excluded_digit(s)
    d8 = r if r < excluded else r + 1
    return f"{prefix}{d8}{(s + 2 * d8) % 11}"


def decode(bsn: str) -> int | None:
    """BSN string -> position in the BSN space; None if it is not a BSN this scheme can build."""
    if len(bsn) != 9 or not bsn.isdigit() or bsn[0] == "0" or not is_valid(bsn):
        return None
    prefix, d8 = int(bsn[:7]), ord(bsn[7]) - 48
    s = _prefix_sum(prefix)
    rank = d8 if d8 < _excluded_digit(s) else d8 - 1
    return None if rank > 8 else (prefix - 1_000_000) * 9 + rank


def is_valid(bsn: str) -> bool:
    """The 11-proof (elfproef) for BSNs: 9*d1 + 8*d2 + ... + 2*d8 - 1*d9 is divisible by 11."""
    if len(bsn) != 9 or not bsn.isdigit():
        return False
    total = sum((9 - k) * (ord(bsn[k]) - 48) for k in range(8)) - (ord(bsn[8]) - 48)
    return total % 11 == 0


def bsn_of(seed: int, index: int) -> str:
    """The BSN of population member ``index``."""
    if not 0 <= index < DOMAIN:
        raise ValueError(f"index {index} outside the BSN space of {DOMAIN}")
    return encode(permute(seed, index))


def index_of(seed: int, bsn: str, size: int) -> int | None:
    """Population index of ``bsn``, or None when it belongs to no member of this population."""
    m = decode(bsn)
    if m is None:
        return None
    i = unpermute(seed, m)
    return i if i < size else None


def bulk(seed: int, start: int, stop: int) -> np.ndarray:
    """BSNs of indices [start, stop) as int64, vectorised: for tests and exports of millions."""
    import numpy as np

    idx = np.arange(start, stop, dtype=np.uint64)
    left, right = idx // HALF, idx % HALF
    for k in _keys(seed):
        x = ((right ^ np.uint64(k)) * np.uint64(0x2545F491)) & np.uint64(_MASK)
        x ^= x >> np.uint64(15)
        x = (x * np.uint64(0x4F6CDD1D)) & np.uint64(_MASK)
        x ^= x >> np.uint64(13)
        left, right = right, (left + x % np.uint64(HALF)) % np.uint64(HALF)
    m = (left * np.uint64(HALF) + right).astype(np.int64)
    q, r = m // 9, m % 9
    prefix = 1_000_000 + q
    s = np.zeros_like(prefix)
    p = prefix.copy()
    for w in reversed(_WEIGHTS):
        s += w * (p % 10)
        p //= 10
    excluded = (10 - s) % 11 * 6 % 11  # as _excluded_digit
    d8 = np.where(r < excluded, r, r + 1)
    return prefix * 100 + d8 * 10 + (s + 2 * d8) % 11
