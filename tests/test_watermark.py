"""The watermark: green lists, keys, the logits processor on the real default model, and the detector."""

from __future__ import annotations

import json
import os
import random
import stat
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binom

from weightwarden.config import load_settings
from weightwarden.errors import CapabilityError, ConfigError
from weightwarden.runtimes import GenerationParams, Message
from weightwarden.runtimes.llamacpp import LlamaCppRuntime
from weightwarden.watermark import (
    GreenList,
    WatermarkConfig,
    WatermarkError,
    WatermarkProcessor,
    detect_text,
    detect_tokens,
    fingerprint,
    load_watermark_config,
    watermark_params,
)
from weightwarden.watermark.detect import min_scored

KEY = b"test-key-for-weightwarden-0123456789"
CONFIG = WatermarkConfig(KEY)
PROMPT = "Write a short story about a lighthouse keeper."
# Sampled text differs between CPUs, so the assertions below must hold for any text the model may write, not for
# this machine's. Over 12 random keys (2026-12-05), an 80-token story gave z from 3.6 to 8.3 (one below the z > 4
# asserted below); 200 tokens gave 6.5 to 11.2.
TOKENS = 200
SAMPLED = GenerationParams(max_tokens=TOKENS, temperature=0.7, seed=11)  # greedy text has less room for a watermark

# Written for these tests: ordinary human prose the model did not write.
HUMAN = (
    "We left the cottage before sunrise, carrying more sandwiches than anyone could eat, and walked along the "
    "stream until the path gave out among the ferns. My sister insisted that the old mill was just over the next "
    "hill; it was not, and neither was it over the one after that. By noon we had found a heron, two broken gates "
    "and a farmer who laughed at our map, which turned out to be of a different valley altogether. We ate the "
    "sandwiches on a wall in the rain and agreed it had been a very good day."
)


@pytest.fixture(scope="module")
def marked(llama: LlamaCppRuntime) -> str:
    """A sampled answer written with the watermark on."""
    return llama.chat([Message("user", PROMPT)], replace(SAMPLED, logits_processor=WatermarkProcessor(CONFIG))).text


# -- green lists -----------------------------------------------------------------------------------------------
def test_green_list_is_a_gamma_share_and_agrees_with_the_per_token_test() -> None:
    green = GreenList(CONFIG)
    mask = green.mask([42], 49152)
    assert abs(mask.mean() - 0.25) < 0.01
    tokens = list(range(0, 49152, 97))
    assert list(green.is_green([[42]] * len(tokens), tokens)) == list(mask[tokens])
    assert (green.mask([42], 49152) == mask).all() and not (green.mask([43], 49152) == mask).all()
    other = GreenList(WatermarkConfig(b"another-key-of-sixteen-bytes-or-more"))
    assert abs((other.mask([42], 49152) & mask).mean() - 0.25 * 0.25) < 0.01, "another key: an independent list"


def test_green_list_uses_exactly_the_context_width() -> None:
    wide = GreenList(replace(CONFIG, context_width=2))
    assert (wide.mask([1, 2, 3], 1000) == wide.mask([9, 2, 3], 1000)).all()
    assert not (wide.mask([1, 2, 3], 1000) == wide.mask([1, 9, 3], 1000)).all()


def test_green_list_is_fixed_by_its_spec() -> None:
    # the documented function, written out independently: HMAC-SHA256 seed, then SplitMix64 below gamma * 2^64
    import hashlib
    import hmac
    import struct

    mask64 = (1 << 64) - 1
    seed = int.from_bytes(hmac.new(KEY, struct.pack("<I", 7), hashlib.sha256).digest()[:8], "little")

    def green(token: int) -> bool:
        z = (seed + (token + 1) * 0x9E3779B97F4A7C15) & mask64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask64
        return (z ^ (z >> 31)) < int(0.25 * 2**64)

    assert [green(t) for t in range(300)] == list(GreenList(CONFIG).mask([7], 300))


# -- keys ------------------------------------------------------------------------------------------------------
def test_key_is_never_shown(tmp_path: Path) -> None:
    secret = "s3cret-watermark-key-do-not-print"
    s = load_settings(env={"WARDEN_HOME": str(tmp_path), "WARDEN_WATERMARK_KEY": secret})
    config = load_watermark_config(s)
    assert config.key == secret.encode() and config.fingerprint == fingerprint(secret.encode())
    shown = [repr(s), repr(config), repr(WatermarkProcessor(config)), repr(GreenList(config)), str(config.public())]
    shown.append(repr(GenerationParams(logits_processor=WatermarkProcessor(config))))
    assert not any(secret in text for text in shown)
    assert config.fingerprint in str(config.public()) and len(config.fingerprint) == 16


def test_key_sources_and_their_errors(tmp_path: Path) -> None:
    env = {"WARDEN_HOME": str(tmp_path / "home")}
    with pytest.raises(WatermarkError, match=r"no watermark key.*keygen"):
        load_watermark_config(load_settings(env=env))  # detection never invents a key
    assert not (tmp_path / "home" / "watermark.key").exists()
    made = load_watermark_config(load_settings(env=env), create=True)  # generation makes one, owner-only
    path = tmp_path / "home" / "watermark.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_watermark_config(load_settings(env=env)).key == made.key
    keyfile = tmp_path / "k.txt"
    keyfile.write_text("  from-a-key-file-0123456789\n")
    from_file = load_watermark_config(load_settings(env={**env, "WARDEN_WATERMARK_KEY_FILE": str(keyfile)}))
    assert from_file.key == b"from-a-key-file-0123456789"
    with pytest.raises(WatermarkError, match="at least 16"):
        load_watermark_config(load_settings(env={**env, "WARDEN_WATERMARK_KEY": "short"}))
    with pytest.raises(WatermarkError, match="cannot read"):
        load_watermark_config(load_settings(env={**env, "WARDEN_WATERMARK_KEY_FILE": str(tmp_path / "none")}))
    with pytest.raises(ConfigError, match="gamma"):
        load_watermark_config(load_settings(env={**env, "WARDEN_WATERMARK_GAMMA": "1.5"}))


def test_generate_hook_makes_a_processor(tmp_path: Path) -> None:
    processor = watermark_params(load_settings(env={"WARDEN_HOME": str(tmp_path)}))
    assert isinstance(processor, WatermarkProcessor) and (tmp_path / "watermark.key").exists()
    logits = np.zeros(100, dtype=np.float32)
    out = processor([5, 6], logits)
    assert out.dtype == np.float32 and set(np.unique(out)) == {0.0, 2.0}
    assert (out == 2.0 * processor.greenlist.mask([6], 100)).all()


# -- generation ------------------------------------------------------------------------------------------------
def test_a_processor_that_changes_nothing_changes_nothing(llama: LlamaCppRuntime) -> None:
    msgs = [Message("user", "Name three rivers.")]
    greedy = GenerationParams(max_tokens=12)
    seen: list[int] = []

    def identity(ids: object, logits: np.ndarray) -> np.ndarray:
        seen.append(len(ids))  # type: ignore[arg-type]
        return logits

    assert llama.chat(msgs, replace(greedy, logits_processor=identity)).text == llama.chat(msgs, greedy).text
    assert seen and seen[1] == seen[0] + 1, "called once per token with the ids so far, prompt included"
    streamed = "".join(c.text for c in llama.chat_stream(msgs, replace(greedy, logits_processor=identity)))
    assert streamed == llama.chat(msgs, greedy).text


def test_watermarked_answer_is_detected_and_plain_one_is_not(llama: LlamaCppRuntime, marked: str) -> None:
    plain = llama.chat([Message("user", PROMPT)], SAMPLED).text
    hit, miss = detect_text(marked, llama, CONFIG), detect_text(plain, llama, CONFIG)
    assert hit.verdict == "watermarked" and hit.z > 4 and hit.p_value < 1e-4, hit
    assert miss.verdict == "not detected" and miss.z < 3, miss
    assert detect_text(marked, llama, WatermarkConfig(b"the-wrong-key-0123456789")).verdict == "not detected"
    assert detect_text(HUMAN, llama, CONFIG).verdict == "not detected"


def test_detection_needs_only_the_tokenizer(default_artifact, marked: str) -> None:  # type: ignore[no-untyped-def]
    from weightwarden.runtimes.tokenizer import GGUFTokenizer

    tok = GGUFTokenizer(default_artifact.path)
    try:
        assert detect_text(marked, tok, CONFIG).verdict == "watermarked"
    finally:
        tok.close()


def test_transformers_wrapper_applies_the_processor_per_row() -> None:
    import torch

    from weightwarden.runtimes.hf import _TorchLogits

    processor = WatermarkProcessor(CONFIG)
    wrap = _TorchLogits(processor, torch)
    ids = torch.tensor([[1, 5], [2, 7]])
    scores = torch.zeros(2, 300)
    out = wrap(ids, scores)
    assert out.shape == (2, 300) and out.dtype == torch.float32
    assert (out[0].numpy() == 2.0 * processor.greenlist.mask([5], 300)).all()
    assert (out[1].numpy() == 2.0 * processor.greenlist.mask([7], 300)).all()


def test_remote_runtime_refuses_a_processor() -> None:
    from weightwarden.runtimes.remote import RemoteRuntime

    remote = RemoteRuntime.__new__(RemoteRuntime)  # no server needed: the check comes before any request
    remote.base_url, remote.model = "http://127.0.0.1:9/v1", "m"
    assert remote._params(GenerationParams())["model"] == "m"
    with pytest.raises(CapabilityError, match="watermark"):
        remote._params(GenerationParams(logits_processor=WatermarkProcessor(CONFIG)))


# -- the statistics --------------------------------------------------------------------------------------------
def test_p_value_is_the_exact_binomial_tail_and_holds_its_rate_on_chance_text() -> None:
    green = GreenList(CONFIG)
    rng = random.Random(1)
    ids = [rng.randrange(49152) for _ in range(150)]
    d = detect_tokens(ids, green, 0.01)
    assert d.scored == 149 and d.p_value == pytest.approx(binom.sf(d.green - 1, d.scored, 0.25))
    assert d.z == pytest.approx((d.green - 0.25 * d.scored) / np.sqrt(d.scored * 0.25 * 0.75))
    flagged = sum(
        detect_tokens([rng.randrange(49152) for _ in range(100)], green, 0.01).p_value <= 0.01 for _ in range(2000)
    )
    assert flagged / 2000 < 0.02, "an exact test at 1% must not flag much more than 1% of chance text"


def test_repeated_pairs_count_once(llama: LlamaCppRuntime) -> None:
    text = "the cat sat on the mat. " * 40
    d = detect_text(text, llama, CONFIG)
    assert d.tokens > 200 and d.scored < 10 and d.repeated == d.tokens - 1 - d.scored
    # a long looping text: the miss is reported, and so is how little it rests on
    assert d.verdict == "not detected"
    assert any("weak evidence" in n and f"only {d.scored} distinct" in n for n in d.notes), d.notes
    assert not any("weak evidence" in n for n in detect_text(HUMAN, llama, CONFIG).notes)


def test_short_text_and_bad_input_give_clear_answers(llama: LlamaCppRuntime) -> None:
    for text in ("Hi", "Hello there, friend."):
        d = detect_text(text, llama, CONFIG, fpr=1e-3)
        assert d.verdict == "too short" and d.scored < min_scored(0.25, 1e-3) == 5
        assert any("at least 5" in n for n in d.notes)
    with pytest.raises(WatermarkError, match="no text"):
        detect_text("   \n", llama, CONFIG)
    with pytest.raises(WatermarkError, match="false-positive rate"):
        detect_text(HUMAN, llama, CONFIG, fpr=0.9)
    # another model's control tokens and scripts the model rarely saw: plain text to this tokenizer, never a crash
    odd = "[CLS] <s> <|endoftext|> 你好，世界！ 🌍🚀 ∑∫√ " * 5
    assert detect_text(odd, llama, CONFIG).verdict in ("not detected", "too short")


def test_text_read_with_another_tokenizer_is_not_detected_and_says_why(marked: str) -> None:
    from weightwarden.runtimes.artifact import embedder_path
    from weightwarden.runtimes.tokenizer import HFTokenizer

    bert = HFTokenizer(embedder_path())  # all-MiniLM-L6-v2's WordPiece: lowercases, so text does not round-trip
    d = detect_text(marked, bert, CONFIG)
    assert d.verdict == "not detected"
    assert any("not the one that wrote it" in n for n in d.notes)


# -- the command line ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_detect(tmp_path: Path, marked: str) -> None:
    from warden_provenance_cli import run_warden

    home, env = tmp_path / "home", {"WARDEN_WATERMARK_KEY": KEY.decode()}
    (tmp_path / "answer.txt").write_text(marked)
    res = run_warden(home, tmp_path, "watermark", "detect", "--file", "answer.txt", env=env)
    assert res.code == 0 and res.out.startswith("watermarked") and "z = " in res.out, res
    assert KEY.decode() not in res.out + res.err
    res = run_warden(home, tmp_path, "watermark", "detect", "-", "--json", "--fpr", "0.01", stdin=HUMAN, env=env)
    assert res.code == 0, res
    data = json.loads(res.out)
    assert data["verdict"] == "not detected" and data["fpr"] == 0.01 and data["key_fingerprint"] == fingerprint(KEY)
    res = run_warden(home, tmp_path, "watermark", "detect", "Hi", env=env)
    assert res.code == 0 and res.out.startswith("too short") and "needs at least" in res.err
    res = run_warden(home, tmp_path, "watermark", "detect", "some text")  # no key anywhere
    assert res.code == 2 and "no watermark key" in res.err and "Traceback" not in res.err
    res = run_warden(home, tmp_path, "watermark", "detect", "--file", "missing.txt", env=env)
    assert res.code == 2 and "cannot read" in res.err
    res = run_warden(home, tmp_path, "watermark", "keygen")
    assert res.code == 0 and "fingerprint" in res.out and (home / "watermark.key").exists()
    assert (home / "watermark.key").read_text().strip() not in res.out
    res = run_warden(home, tmp_path, "watermark", "keygen")
    assert res.code == 2 and "exists" in res.err


# -- warden generate --watermark ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_generate_watermark_round_trip(tmp_path: Path) -> None:
    """--watermark makes a key in HOME on first use, reports only its fingerprint, and detect finds the mark."""
    from warden_provenance_cli import run_warden

    home = tmp_path / "home"
    prompt = "Write a short story about a lighthouse keeper and a storm."
    args = ["--max-tokens", "200", "--temperature", "0.7", "--seed", "3", "--json"]
    res = run_warden(home, tmp_path, "generate", "default", prompt, "--watermark", *args)
    assert res.code == 0, res
    out = json.loads(res.out)
    key = (home / "watermark.key").read_text().strip()
    assert out["watermark"]["key_fingerprint"] == fingerprint(key.encode()) and key not in res.out
    (tmp_path / "marked.txt").write_text(out["text"])
    res = run_warden(home, tmp_path, "watermark", "detect", "--file", "marked.txt", "--json", "--fpr", "0.01")
    assert res.code == 0 and json.loads(res.out)["verdict"] == "watermarked", res
    plain = run_warden(home, tmp_path, "generate", "default", prompt, *args)
    assert plain.code == 0 and json.loads(plain.out)["watermark"] is None
    (tmp_path / "plain.txt").write_text(json.loads(plain.out)["text"])
    # the key is random, so at --fpr 0.01 one plain text in a hundred is flagged by design: check at 1e-4
    res = run_warden(home, tmp_path, "watermark", "detect", "--file", "plain.txt", "--json", "--fpr", "0.0001")
    assert res.code == 0 and json.loads(res.out)["verdict"] != "watermarked", res
    bad = run_warden(home, tmp_path, "generate", "default", "hi", "--watermark", env={"WARDEN_WATERMARK_KEY": "short"})
    assert bad.code == 2 and "watermark key" in bad.err and "Traceback" not in bad.err
