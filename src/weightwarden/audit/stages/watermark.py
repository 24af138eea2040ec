"""The watermark half of the provenance stage: watermark one short answer, then detect it, and an unmarked one."""

from __future__ import annotations

from dataclasses import replace

from weightwarden.audit.result import Status
from weightwarden.audit.stages.check import Check
from weightwarden.config import Settings
from weightwarden.errors import WardenError
from weightwarden.runtimes.base import GenerationParams, Message, Runtime
from weightwarden.watermark.base import WatermarkConfig, ephemeral_config, load_watermark_config
from weightwarden.watermark.detect import detect_text
from weightwarden.watermark.processor import WatermarkProcessor

PROMPT = "Write a short paragraph about how bread is made."
TOKENS = 64
FPR = 0.01


def _config(settings: Settings | None) -> WatermarkConfig:
    """The user's key when one is configured (it proves that key works); otherwise a throw-away key."""
    if settings is not None:
        try:
            return load_watermark_config(settings)
        except WardenError:
            pass
    return ephemeral_config()


def watermark_check(runtime: Runtime, settings: Settings | None = None) -> Check:
    """A sampled answer with and without the watermark, each run through the detector.

    ok: the marked answer is detected at a 1% false-positive rate and the unmarked one is not; warn otherwise, or when
    the runtime cannot take a logits processor (a remote server).
    """
    config = _config(settings)
    public = {**config.public(), "key_source": "configured" if config.key_source != "ephemeral" else "ephemeral"}
    sampled = GenerationParams(max_tokens=TOKENS, temperature=0.7, seed=1)
    messages = [Message("user", PROMPT)]
    try:
        marked = runtime.chat(messages, replace(sampled, logits_processor=WatermarkProcessor(config)))
        plain = runtime.chat(messages, sampled)
    except WardenError as exc:
        return Check("warn", f"watermark not tried: {exc}", data={"watermark": public})
    try:
        hit = detect_text(marked.text, runtime, config, FPR)
        miss = detect_text(plain.text, runtime, config, FPR)
    except WardenError as exc:
        return Check("warn", f"watermark not checked: {exc}", data={"watermark": public})
    ok = hit.verdict == "watermarked" and miss.verdict != "watermarked"
    summary = (
        f"watermark (key {config.fingerprint}{', ephemeral' if public['key_source'] == 'ephemeral' else ''}): "
        f"marked answer z={hit.z:.1f} ({hit.verdict}, {hit.scored} tokens), unmarked z={miss.z:.1f} ({miss.verdict})"
    )
    data = {"watermark": public, "marked": hit.as_dict(), "unmarked": miss.as_dict(), "fpr": FPR}
    status: Status = "ok" if ok else "warn"
    return Check(status, summary, data=data)
