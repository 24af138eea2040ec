"""The green list of Kirchenbauer et al. (2023): a keyed hash of the previous token(s) marks a fraction γ of the
vocabulary green.

For context ids c (the `context_width` tokens before a position), seed = the first 8 bytes (little-endian) of
HMAC-SHA256(key, c as little-endian uint32). Token t is green when splitmix64(seed + (t + 1) * φ) < γ·2^64, where φ is
0x9E3779B97F4A7C15 and arithmetic wraps at 2^64: the (t + 1)-th output of a SplitMix64 generator seeded with seed.

Each token is green independently with probability γ rather than exactly γ·|V| tokens being green: under the null
hypothesis (text written without the key) the detector's test is then exactly binomial, the detector never needs the
vocabulary size, and the list is defined by this docstring alone, not by a NumPy version's shuffle algorithm.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from weightwarden.formulas.hashing import PHI, splitmix64
from weightwarden.watermark.base import WatermarkConfig

_PHI = np.uint64(PHI)
_CACHE = 64  # contexts whose masks are kept: a mask costs 0.5 ms, a token about 10 ms, so a small cache is enough


class GreenList:
    """Which tokens are green after which context, for one key. Generation and detection share this class."""

    def __init__(self, config: WatermarkConfig) -> None:
        self.gamma = config.gamma
        self.context_width = config.context_width
        self.fingerprint = config.fingerprint
        self._mac = hmac.new(config.key, digestmod=hashlib.sha256)
        self._threshold = np.uint64(min(int(config.gamma * 2.0**64), 2**64 - 1))
        self._steps: np.ndarray = np.zeros(0, dtype=np.uint64)
        self._masks: OrderedDict[tuple[int, ...], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()  # one processor may serve several generations at once (the gateway)

    def __repr__(self) -> str:
        return f"GreenList(fingerprint={self.fingerprint!r}, gamma={self.gamma}, context_width={self.context_width})"

    def seed(self, context: Sequence[int]) -> int:
        mac = self._mac.copy()
        mac.update(struct.pack(f"<{len(context)}I", *context))
        return int.from_bytes(mac.digest()[:8], "little")

    def mask(self, context: Sequence[int], vocab_size: int) -> np.ndarray:
        """A boolean array over the vocabulary: True where the token is green after context."""
        key = tuple(int(t) for t in context[-self.context_width :])
        with self._lock:
            cached = self._masks.get(key)
            if cached is not None and cached.shape[0] == vocab_size:
                self._masks.move_to_end(key)
                return cached
            if self._steps.shape[0] != vocab_size:
                self._steps = (np.arange(vocab_size, dtype=np.uint64) + np.uint64(1)) * _PHI
            steps = self._steps
        mask = splitmix64(np.uint64(self.seed(key)) + steps) < self._threshold
        mask.flags.writeable = False
        with self._lock:
            self._masks[key] = mask
            if len(self._masks) > _CACHE:
                self._masks.popitem(last=False)
        return mask

    def is_green(self, contexts: Sequence[Sequence[int]], tokens: Sequence[int]) -> np.ndarray:
        """For each (context, token) pair, whether the token is green after its context; one hash per pair."""
        if len(contexts) != len(tokens):
            raise ValueError(f"{len(contexts)} contexts for {len(tokens)} tokens")
        if not tokens:
            return np.zeros(0, dtype=bool)
        seeds = np.array([self.seed(c[-self.context_width :]) for c in contexts], dtype=np.uint64)
        steps = (np.asarray(tokens, dtype=np.uint64) + np.uint64(1)) * _PHI
        result: np.ndarray = splitmix64(seeds + steps) < self._threshold
        return result
