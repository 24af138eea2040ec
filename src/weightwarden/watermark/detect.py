"""The watermark detector: re-tokenize, count green tokens, and test against chance with an exact binomial tail.

Each distinct (context, token) pair counts once, the paper's remedy for repetitive text: a phrase repeated ten times
is one piece of evidence, not ten. Distinct pairs hash to independent green bits, so under the null hypothesis (text
written without the key) the green count is exactly Binomial(scored, γ) and the p-value is exact at any length.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from weightwarden.runtimes.tokenizer import Tokenizer
from weightwarden.watermark.base import SCHEME, WatermarkConfig, WatermarkError
from weightwarden.watermark.greenlist import GreenList

Verdict = Literal["watermarked", "not detected", "too short"]

DEFAULT_FPR = 1e-3
USEFUL_SCORED = 25  # distinct scored tokens below which a miss says little (see the "too short" note)


@dataclass(frozen=True)
class Detection:
    """What the detector found in one text.

    tokens: tokens after re-tokenizing; scored: distinct (context, token) pairs tested; green: how many were green;
    z: (green - γ·scored) / sqrt(scored·γ·(1-γ)); p_value: P(at least `green` green of `scored` | no watermark);
    fpr: the false-positive rate the verdict was made at; min_scored: fewest scored tokens that could reach it.
    """

    verdict: Verdict
    z: float
    p_value: float
    green: int
    scored: int
    tokens: int
    repeated: int
    fpr: float
    min_scored: int
    gamma: float
    context_width: int
    key_fingerprint: str
    notes: tuple[str, ...] = ()

    @property
    def green_fraction(self) -> float:
        return self.green / self.scored if self.scored else 0.0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["notes"] = list(self.notes)
        out["green_fraction"] = round(self.green_fraction, 4)
        out["scheme"] = SCHEME
        return out


def min_scored(gamma: float, fpr: float) -> int:
    """Fewest scored tokens for which even an all-green text reaches p <= fpr (p = γ^n then)."""
    return max(1, math.ceil(math.log(fpr) / math.log(gamma) - 1e-9))


def check_fpr(fpr: float) -> float:
    if not 0.0 < fpr < 0.5:
        raise WatermarkError(f"the false-positive rate is {fpr}; choose one between 0 and 0.5, such as 0.001 or 0.01")
    return fpr


def detect_tokens(
    ids: Sequence[int], greenlist: GreenList, fpr: float = DEFAULT_FPR, notes: Sequence[str] = ()
) -> Detection:
    """Test token ids for the watermark whose green list is given."""
    check_fpr(fpr)
    width, gamma = greenlist.context_width, greenlist.gamma
    pairs = [(tuple(int(t) for t in ids[i - width : i]), int(ids[i])) for i in range(width, len(ids))]
    unique = list(dict.fromkeys(pairs))
    flags = greenlist.is_green([c for c, _ in unique], [t for _, t in unique])
    scored, green = len(unique), int(flags.sum())
    need = min_scored(gamma, fpr)
    if scored:
        from scipy.stats import binom  # here, not at the top: SciPy costs the CLI's start-up 0.8 s

        z = (green - gamma * scored) / math.sqrt(scored * gamma * (1.0 - gamma))
        p = float(binom.sf(green - 1, scored, gamma))
    else:
        z, p = 0.0, 1.0
    verdict: Verdict = "too short" if scored < need else ("watermarked" if p <= fpr else "not detected")
    return Detection(
        verdict=verdict,
        z=float(z),
        p_value=p,
        green=green,
        scored=scored,
        tokens=len(ids),
        repeated=len(pairs) - scored,
        fpr=fpr,
        min_scored=need,
        gamma=gamma,
        context_width=width,
        key_fingerprint=greenlist.fingerprint,
        notes=tuple(notes),
    )


def detect_text(
    text: str, tokenizer: Tokenizer, config: WatermarkConfig | GreenList, fpr: float = DEFAULT_FPR
) -> Detection:
    """Re-tokenize text with the generating model's tokenizer and test it for the watermark.

    config: the watermark (its key and γ), or a GreenList made from it, to reuse across many texts.
    """
    if not text.strip():
        raise WatermarkError("there is no text to check: pass the text, --file FILE, or - to read standard input")
    greenlist = config if isinstance(config, GreenList) else GreenList(config)
    ids = tokenizer.tokenize(text)
    notes: list[str] = []
    if tokenizer.detokenize(ids) != text:
        notes.append(
            "re-tokenizing does not give the text back: this tokenizer is probably not the one that wrote it "
            "(name the generating model with --tokenizer)"
        )
    detection = detect_tokens(ids, greenlist, fpr, notes)
    if detection.verdict == "not detected" and detection.scored < USEFUL_SCORED:
        # A looping answer can be long and still give the test little to read: say so, or "not detected" reads as
        # evidence that the text is unmarked.
        notes.append(
            f"only {detection.scored} distinct tokens of {detection.tokens} could be scored (repeated phrases count "
            f"once); with fewer than {USEFUL_SCORED} even a marked text is often missed, so this is weak evidence "
            "either way"
        )
        detection = replace(detection, notes=tuple(notes))
    if detection.verdict == "too short":
        notes.append(
            f"{detection.scored} distinct tokens could be scored; at a false-positive rate of {fpr:g} the test needs "
            f"at least {detection.min_scored} (about {USEFUL_SCORED} or more for a useful test)"
        )
        detection = replace(detection, notes=tuple(notes))
    return detection
