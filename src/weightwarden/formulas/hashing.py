"""64-bit hashing shared by the watermark, the contamination index and the guard's n-gram features.

- splitmix64: the finalizer of Steele, Lea and Flood's SplitMix64 generator, a bijection on 64-bit integers that
  mixes every input bit into every output bit. Adding k·φ to a seed and finalizing gives the generator's k-th output.
- A polynomial rolling hash modulo 2^64 with an odd multiplier P: after one pass of prefix sums, the hash of any run
  of values (a character n-gram, a word, a window of words) costs O(1), so a whole text is hashed with a few
  vectorised NumPy operations.

Arithmetic wraps at 2^64 on purpose (NumPy's overflow warnings are silenced where it does).
"""

from __future__ import annotations

import numpy as np

PHI = 0x9E3779B97F4A7C15  # 2^64 / golden ratio, SplitMix64's increment
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
P = 0x100000001B3  # odd, so it has an inverse modulo 2^64
P_INV = pow(P, -1, 1 << 64)
_POW_TABLE = 1 << 16  # values covered by the read-only tables below; longer inputs compute their own


def splitmix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's output function applied to each uint64 of z."""
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        out: np.ndarray = z ^ (z >> np.uint64(31))
    return out


def _power_table(n: int) -> tuple[np.ndarray, np.ndarray]:
    """P**i and P**-i modulo 2**64 for i < n."""
    p = np.full(n, P, dtype=np.uint64)
    p[0] = 1
    q = np.full(n, P_INV, dtype=np.uint64)
    q[0] = 1
    with np.errstate(over="ignore"):
        return np.cumprod(p, dtype=np.uint64), np.cumprod(q, dtype=np.uint64)


# Built once at import and never written again (read-only arrays): the gateway hashes from many threads at once.
_POWERS = _power_table(_POW_TABLE)
for _table in _POWERS:
    _table.setflags(write=False)


def powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """P**i and P**-i modulo 2**64 for i < n: views of the shared tables, or fresh arrays past their end."""
    if n <= _POW_TABLE:
        return _POWERS[0][:n], _POWERS[1][:n]
    return _power_table(n)


def substring_hashes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prefix hashes H (len n+1) of a sequence of integers, and the powers of P.

    The hash of values[s:e] is H[e] - H[s] * P**(e - s) = sum of (values[k] + 1) * P**(e - k) for s <= k < e.
    """
    n = len(values)
    pw, inv = powers(n + 1)
    with np.errstate(over="ignore"):
        c = values.astype(np.uint64) + np.uint64(1)
        prefix = np.empty(n + 1, dtype=np.uint64)
        prefix[0] = 0
        prefix[1:] = np.cumsum(c * inv[:n], dtype=np.uint64) * pw[1 : n + 1]
    return prefix, pw


def window_hashes(values: np.ndarray, n: int) -> np.ndarray:
    """A well-mixed uint64 hash of every window values[i : i + n]; empty when there are fewer than n values."""
    count = values.shape[0] - n + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    with np.errstate(over="ignore"):
        prefix, pw = substring_hashes(splitmix64(values.astype(np.uint64) + np.uint64(PHI)))
        return splitmix64(prefix[n:] - prefix[:count] * pw[n] + np.uint64(n))
