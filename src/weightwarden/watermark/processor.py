"""The watermark at generation time: a logits processor that adds δ to the green tokens' logits."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from weightwarden.watermark.base import WatermarkConfig
from weightwarden.watermark.greenlist import GreenList


class WatermarkProcessor:
    """A `GenerationParams.logits_processor` for the llama.cpp and transformers runtimes.

    It sees the prompt's tokens too, so the first generated token is seeded by the prompt's last token(s); the detector,
    which sees only the answer, skips the first context_width tokens.
    """

    def __init__(self, config: WatermarkConfig) -> None:
        self.config = config
        self.greenlist = GreenList(config)
        self._delta = np.float32(config.delta)

    def __repr__(self) -> str:
        c = self.config
        return f"WatermarkProcessor(fingerprint={c.fingerprint!r}, gamma={c.gamma}, delta={c.delta})"

    def __call__(self, input_ids: Sequence[int], logits: np.ndarray) -> np.ndarray:
        width = self.config.context_width
        if len(input_ids) < width:  # a prompt shorter than the context: nothing to seed from
            return logits
        mask = self.greenlist.mask([int(t) for t in input_ids[-width:]], logits.shape[-1])
        return np.asarray(logits + self._delta * mask, dtype=logits.dtype)
