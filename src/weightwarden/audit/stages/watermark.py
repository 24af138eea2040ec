"""The watermark half of the provenance stage: watermark sampled answers, then detect them, and unmarked ones.

The check must hold on any CPU. Sampled text differs between machines (other SIMD kernels round logits differently),
and a throw-away key is new on every run, so the verdict is a random event: the check is sized so that it is right
with overwhelming probability, not for one lucky text. Answers are gathered until the detector has `TARGET` distinct
tokens to score (a 135M model sometimes stops after a dozen), and the verdict is made at a false-positive rate of
1 in 10,000, so an unmarked answer is flagged by chance once in 10,000 audits. Measured on SmolLM2-135M (2026-12-05,
2-core VM, 30 random keys): one 64-token answer gave z from 2.9 to 7.2, about 0.75 per root token, so 128 scored
tokens put the mean z near 8.5 against a threshold near 3.7.
"""

from __future__ import annotations

from weightwarden.audit.result import Status
from weightwarden.audit.stages.check import Check
from weightwarden.config import Settings
from weightwarden.errors import WardenError
from weightwarden.runtimes.base import GenerationParams, Message, Runtime
from weightwarden.watermark.base import WatermarkConfig, ephemeral_config, load_watermark_config
from weightwarden.watermark.detect import detect_text
from weightwarden.watermark.greenlist import GreenList
from weightwarden.watermark.processor import WatermarkProcessor

PROMPTS = (
    "Write a short paragraph about how bread is made.",
    "Describe a walk along a river on a cold morning.",
    "Explain how a bicycle works to a curious child.",
    "Tell a short story about a lighthouse keeper.",
)
TOKENS = 96  # per answer
TARGET = 128  # distinct (context, token) pairs to score before deciding
FPR = 1e-4


def _config(settings: Settings | None) -> WatermarkConfig:
    """The user's key when one is configured (it proves that key works); otherwise a throw-away key."""
    if settings is not None:
        try:
            return load_watermark_config(settings)
        except WardenError:
            pass
    return ephemeral_config()


def _answers(runtime: Runtime, greenlist: GreenList, processor: WatermarkProcessor | None) -> tuple[str, int]:
    """Sampled answers, one prompt each, until the detector can score TARGET distinct tokens (or the prompts end)."""
    texts: list[str] = []
    for seed, prompt in enumerate(PROMPTS, start=1):
        params = GenerationParams(max_tokens=TOKENS, temperature=0.7, seed=seed, logits_processor=processor)
        answer = runtime.chat([Message("user", prompt)], params).text.strip()
        if answer:
            texts.append(answer)
        if texts and detect_text("\n\n".join(texts), runtime, greenlist, FPR).scored >= TARGET:
            break
    return "\n\n".join(texts), len(texts)


def watermark_check(runtime: Runtime, settings: Settings | None = None) -> Check:
    """Sampled answers with and without the watermark, each set run through the detector.

    ok: the marked answers are detected at a false-positive rate of 1e-4 and the unmarked ones are not; warn
    otherwise, or when the runtime cannot take a logits processor (a remote server).
    """
    config = _config(settings)
    public = {**config.public(), "key_source": "configured" if config.key_source != "ephemeral" else "ephemeral"}
    greenlist = GreenList(config)
    try:
        marked, n_marked = _answers(runtime, greenlist, WatermarkProcessor(config))
        plain, n_plain = _answers(runtime, greenlist, None)
    except WardenError as exc:
        return Check("warn", f"watermark not tried: {exc}", data={"watermark": public})
    try:
        hit = detect_text(marked, runtime, greenlist, FPR)
        miss = detect_text(plain, runtime, greenlist, FPR)
    except WardenError as exc:
        return Check("warn", f"watermark not checked: {exc}", data={"watermark": public})
    ok = hit.verdict == "watermarked" and miss.verdict != "watermarked"
    summary = (
        f"watermark (key {config.fingerprint}{', ephemeral' if public['key_source'] == 'ephemeral' else ''}): "
        f"marked answers z={hit.z:.1f} ({hit.verdict}, {hit.scored} tokens in {n_marked}), "
        f"unmarked z={miss.z:.1f} ({miss.verdict}, {miss.scored} tokens in {n_plain})"
    )
    data = {
        "watermark": public,
        "marked": {**hit.as_dict(), "answers": n_marked},
        "unmarked": {**miss.as_dict(), "answers": n_plain},
        "fpr": FPR,
        "target_scored": TARGET,
    }
    status: Status = "ok" if ok else "warn"
    return Check(status, summary, data=data)
