"""The generation-time watermark of Kirchenbauer et al. (2023) and its detector.

    from weightwarden.watermark import load_watermark_config, WatermarkProcessor, detect_text
    config = load_watermark_config(settings)                       # key from the environment or a key file
    gen = runtime.chat(messages, GenerationParams(logits_processor=WatermarkProcessor(config)))
    detect_text(gen.text, load_tokenizer(artifact), config)        # .verdict, .z, .p_value

Detection needs the key and the generating model's tokenizer, never the model's weights.
"""

from weightwarden.config import Settings
from weightwarden.watermark.base import (
    SCHEME,
    WatermarkConfig,
    WatermarkError,
    ephemeral_config,
    fingerprint,
    load_watermark_config,
    new_key,
    write_key_file,
)
from weightwarden.watermark.detect import DEFAULT_FPR, Detection, detect_text, detect_tokens
from weightwarden.watermark.greenlist import GreenList
from weightwarden.watermark.processor import WatermarkProcessor

__all__ = [
    "DEFAULT_FPR",
    "SCHEME",
    "Detection",
    "GreenList",
    "WatermarkConfig",
    "WatermarkError",
    "WatermarkProcessor",
    "detect_text",
    "detect_tokens",
    "ephemeral_config",
    "fingerprint",
    "load_watermark_config",
    "new_key",
    "watermark_params",
    "write_key_file",
]


def watermark_params(settings: Settings) -> WatermarkProcessor:
    """The logits processor for `warden generate --watermark`: the configured key, made in HOME on first use.

    Its `.config.public()` is what may be printed or stored (the key's fingerprint, never the key).
    """
    return WatermarkProcessor(load_watermark_config(settings, create=True))
