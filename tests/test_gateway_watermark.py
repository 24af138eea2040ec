"""`watermark: true` in the serving policy: every answer is marked, the detector finds the mark in what the real
`openai` client received, and each audit row keeps the key's fingerprint, never the key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from gateway_server import NO_GUARD, Running, policy, serve
from weightwarden.errors import ConfigError
from weightwarden.gateway import ModelSpec
from weightwarden.runtimes import Artifact, GenerationParams, Message
from weightwarden.runtimes.llamacpp import LlamaCppRuntime
from weightwarden.runtimes.tokenizer import load_tokenizer
from weightwarden.watermark import WatermarkProcessor, detect_text
from weightwarden.watermark.base import WatermarkConfig

KEY = b"gateway-watermark-test-key-0123456789"
CONFIG = WatermarkConfig(KEY, gamma=0.25, delta=2.0, context_width=1, key_source="test")
PROMPT = "Write a short story about a lighthouse keeper and a storm."


@pytest.fixture(scope="module")
def marking(
    tmp_path_factory: pytest.TempPathFactory, llama: LlamaCppRuntime, default_artifact: Artifact
) -> Iterator[Running]:
    serving = policy(watermark=True, store_text=True, **NO_GUARD)
    with serve(tmp_path_factory.mktemp("marking"), llama, default_artifact, serving=serving, watermark=CONFIG) as g:
        yield g


def test_answers_are_marked_and_rows_keep_the_fingerprint(
    marking: Running, default_artifact: Artifact, llama: LlamaCppRuntime
) -> None:
    client = openai.OpenAI(base_url=marking.base_url, api_key=marking.key(), max_retries=0, timeout=120)
    chat = client.chat.completions.create(
        model="default",
        messages=[{"role": "user", "content": PROMPT}],
        max_tokens=200,
        temperature=0.7,
        seed=5,
    )
    streamed = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(
            model="default",
            messages=[{"role": "user", "content": "Describe a walk through a forest in autumn."}],
            max_tokens=200,
            temperature=0.7,
            seed=6,
            stream=True,
        )
        if c.choices
    )
    completion = client.completions.create(
        model="default", prompt="The history of the printing press", max_tokens=200, temperature=0.7, seed=7
    )
    answers = [chat.choices[0].message.content or "", streamed, completion.choices[0].text]

    # Each answer is what the model writes with the watermark processor on, same seed: the gateway marked all three.
    # (Whether one sampled answer carries enough evidence depends on the CPU's text: the completion prompt sometimes
    # stops after a dozen tokens, so detection is tested once, on the three together.)
    def marked(seed: int) -> GenerationParams:
        return GenerationParams(max_tokens=200, temperature=0.7, seed=seed, logits_processor=WatermarkProcessor(CONFIG))

    walk = [Message("user", "Describe a walk through a forest in autumn.")]
    assert answers[0] == llama.chat([Message("user", PROMPT)], marked(5)).text
    assert answers[1] == llama.chat(walk, marked(6)).text
    assert answers[2] == llama.complete("The history of the printing press", marked(7)).text
    tok = load_tokenizer(default_artifact)
    try:
        found = detect_text("\n\n".join(answers), tok, CONFIG, 1e-4)
        assert found.verdict == "watermarked", (found.as_dict(), answers)
        # The same model without the mark, same prompt and seed: not detected. Sampled text differs between CPUs,
        # and at 0.01 one plain text in a hundred is flagged by design: check at 1e-4, as the CLI test does.
        plain = llama.chat([Message("user", PROMPT)], GenerationParams(max_tokens=200, temperature=0.7, seed=5)).text
        assert detect_text(plain, tok, CONFIG, 1e-4).verdict != "watermarked"
    finally:
        tok.close()
    rows = marking.rows(3)
    assert len(rows) == 3 and {r.watermark for r in rows} == {CONFIG.fingerprint}
    db = (Path(marking.config.ledger_url.removeprefix("sqlite:///"))).read_bytes()
    assert KEY not in db, "the watermark key itself must never reach the ledger"


def test_watermark_policy_needs_a_key_and_local_models(tmp_path: Path, llama: LlamaCppRuntime) -> None:
    serving = policy(watermark=True, **NO_GUARD)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with pytest.raises(ConfigError, match="no watermark key"), serve(tmp_path / "a", llama, serving=serving):
        pass
    upstream = ModelSpec("far", "upstream", url="http://127.0.0.1:9/v1", upstream_model="m")
    with (
        pytest.raises(ConfigError, match="far is served by an upstream"),
        serve(tmp_path / "b", llama, extra=(upstream,), serving=serving, watermark=CONFIG),
    ):
        pass
