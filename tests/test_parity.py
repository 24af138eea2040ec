"""llama.cpp against transformers on the same GGUF: exact log-likelihoods must agree (the issue's parity test)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
import pytest

from greedy import NOISE, answer_gap, chat_ids
from weightwarden.errors import CapabilityError
from weightwarden.runtimes import Message
from weightwarden.runtimes.hf import TransformersRuntime
from weightwarden.runtimes.llamacpp import LlamaCppRuntime

DATA = json.loads((Path(__file__).parent / "data" / "parity.json").read_text())
pytestmark = pytest.mark.slow


def test_parity_data_is_big_enough() -> None:
    assert len(DATA["pairs"]) >= 50
    assert len(DATA["choices"]) >= 40
    assert all(len(item["choices"]) == 4 for item in DATA["choices"])


def test_tokenizers_agree(llama: LlamaCppRuntime, hf_gguf: TransformersRuntime) -> None:
    texts = [p["context"] for p in DATA["pairs"]] + [p["continuation"] for p in DATA["pairs"]]
    mismatched = [t for t in texts if llama.tokenize(t) != hf_gguf.tokenize(t)]
    assert not mismatched, f"{len(mismatched)} texts tokenize differently, e.g. {mismatched[:3]}"


def test_tokenizer_facts_agree(llama: LlamaCppRuntime, hf_gguf: TransformersRuntime) -> None:
    """The gateway's /tokenizer_info reads these: both runtimes on one file report the same special tokens."""
    a, b = llama.tokenizer_facts(), hf_gguf.tokenizer_facts()
    assert (a.bos_id, a.eos_id, a.add_bos) == (b.bos_id, b.eos_id, b.add_bos)
    assert a.bos_token == b.bos_token and a.eos_token == b.eos_token and a.bos_token
    assert a.vocab_size == b.vocab_size and a.chat_template == b.chat_template
    assert b.n_ctx == hf_gguf.max_context


def test_chat_template_renders_like_transformers(llama: LlamaCppRuntime, hf_gguf: TransformersRuntime) -> None:
    msgs = [
        Message("system", "You are terse."),
        Message("user", "Hello there"),
        Message("assistant", "Hi."),
        Message("user", "Bye"),
    ]
    reference = hf_gguf.tokenizer.apply_chat_template(
        [m.as_dict() for m in msgs], tokenize=False, add_generation_prompt=True
    )
    assert llama.render(msgs) == reference


def test_per_token_logprobs_agree(llama: LlamaCppRuntime, hf_gguf: TransformersRuntime) -> None:
    diffs: list[float] = []
    for p in DATA["pairs"]:
        ctx, cont = llama.context_ids(p["context"]), llama.tokenize(p["continuation"])
        a = llama.loglikelihood_tokens(ctx, cont)
        b = hf_gguf.loglikelihood_tokens(ctx, cont)
        assert a.tokens == b.tokens
        diffs.extend(abs(x - y) for x, y in zip(a.token_logprobs, b.token_logprobs, strict=True))
    median = statistics.median(diffs)
    print(
        f"\nper-token |llama.cpp - transformers|: n={len(diffs)} median={median:.4f} p90={np.percentile(diffs, 90):.4f}"
    )
    assert len(diffs) >= 50
    assert median < 0.1


def test_paris_is_not_the_broken_echo_value(llama: LlamaCppRuntime, hf_gguf: TransformersRuntime) -> None:
    a = llama.loglikelihood("The capital of France is", " Paris").total
    b = hf_gguf.loglikelihood("The capital of France is", " Paris").total
    assert abs(a - b) < 0.1, (a, b)


def test_multiple_choice_argmax_agrees(llama: LlamaCppRuntime, hf_gguf: TransformersRuntime) -> None:
    same = 0
    for item in DATA["choices"]:
        ctx = llama.context_ids(item["context"])
        la = [llama.loglikelihood_tokens(ctx, llama.tokenize(c)).total for c in item["choices"]]
        lb = [hf_gguf.loglikelihood_tokens(ctx, llama.tokenize(c)).total for c in item["choices"]]
        same += int(np.argmax(la) == np.argmax(lb))
    rate = same / len(DATA["choices"])
    print(f"\nmultiple-choice argmax agreement: {same}/{len(DATA['choices'])} = {rate:.3f}")
    assert rate >= 0.95


def test_batched_scoring_equals_one_at_a_time(llama: LlamaCppRuntime, hf_gguf: TransformersRuntime) -> None:
    """Batches (shared prefixes in llama.cpp, left-padded batches in transformers) change no score beyond noise."""
    requests = [(item["context"], c) for item in DATA["choices"][:12] for c in item["choices"]]
    requests += [(p["context"], p["continuation"]) for p in DATA["pairs"][:20]]
    requests.append(("", "Hello"))  # an empty context: BOS alone
    for rt, tolerance in ((llama, 1e-6), (hf_gguf, 1e-3)):
        one = [rt.loglikelihood(c, x) for c, x in requests]
        together = rt.loglikelihood_batch(requests)
        assert [a.tokens for a in one] == [b.tokens for b in together]
        worst = max(
            float(np.max(np.abs(np.subtract(a.token_logprobs, b.token_logprobs))))
            for a, b in zip(one, together, strict=True)
        )
        print(f"\n{rt.info.name}: batched vs one at a time, largest |difference| {worst:.2e} nats")
        assert worst <= tolerance
        assert [a.is_greedy for a in one] == [b.is_greedy for b in together]
    # transformers in small batches (several forward passes, uneven lengths) gives the same too.
    small = hf_gguf.loglikelihood_batch(requests, max_batch=3)
    assert [a.total for a in small] == pytest.approx([b.total for b in hf_gguf.loglikelihood_batch(requests)], abs=1e-3)
    # A model whose forward pass has no logits_to_keep gets every position computed and the end kept.
    real = hf_gguf.model

    def without_logits_to_keep(**kwargs: object) -> object:
        if "logits_to_keep" in kwargs:
            raise TypeError("forward() got an unexpected keyword argument 'logits_to_keep'")
        return real(**kwargs)

    hf_gguf.model = without_logits_to_keep
    try:
        fallback = hf_gguf.loglikelihood_batch(requests[:10])
    finally:
        hf_gguf.model = real
    assert [a.total for a in fallback] == pytest.approx([b.total for b in small[:10]], abs=1e-3)
    with pytest.raises(CapabilityError, match="empty"):
        llama.loglikelihood_batch([("a", "")])
    with pytest.raises(CapabilityError, match="empty"):
        hf_gguf.loglikelihood_batch([("a", "")])


def test_transformers_greedy_generation_matches_llama_cpp_start(
    llama: LlamaCppRuntime, hf_gguf: TransformersRuntime
) -> None:
    """Every token of each backend's greedy answer is the other's top choice up to noise (near ties pick either)."""
    from weightwarden.runtimes import GenerationParams

    p = GenerationParams(max_tokens=6)
    question = "Which city is the capital of France?"
    msgs = [Message("user", question)]
    a, b = llama.chat(msgs, p), hf_gguf.chat(msgs, p)
    assert a.prompt_tokens == b.prompt_tokens and a.text.strip() and b.text.strip()
    gaps = (
        answer_gap(hf_gguf, chat_ids(hf_gguf, question), a.text),
        answer_gap(llama, chat_ids(llama, question), b.text),
    )
    print(f"\ngreedy answers, largest gap to the other backend's top choice: {gaps[0]:.3f}, {gaps[1]:.3f} logits")
    assert max(gaps) < NOISE


def test_transformers_runtime_on_a_hugging_face_folder(hf_gguf: TransformersRuntime, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Save the dequantized model as config.json + safetensors, resolve the folder, and get the same scores."""
    from safetensors.torch import save_model

    from weightwarden.runtimes import load_runtime, resolve

    # transformers will not save a model it loaded from GGUF, so write the layout by hand
    save_model(hf_gguf.model, str(tmp_path / "model.safetensors"))
    config = hf_gguf.model.config.to_dict()
    config.pop("quantization_config", None)
    (tmp_path / "config.json").write_text(json.dumps(config))
    hf_gguf.tokenizer.save_pretrained(tmp_path)
    artifact = resolve(str(tmp_path))
    assert artifact.format == "hf" and any(name.endswith(".safetensors") for name in artifact.files)
    rt = load_runtime(artifact)
    assert isinstance(rt, TransformersRuntime)
    a = rt.loglikelihood("The capital of France is", " Paris")
    b = hf_gguf.loglikelihood("The capital of France is", " Paris")
    assert a.total == pytest.approx(b.total, abs=1e-5)
    # The same weights through the same transformers code in this process: the same computation, the same words.
    assert (
        rt.chat([Message("user", "Which city is the capital of France?")]).text
        == hf_gguf.chat([Message("user", "Which city is the capital of France?")]).text
    )


def test_transformers_sampling_is_seeded(hf_gguf: TransformersRuntime) -> None:
    from weightwarden.runtimes import GenerationParams

    p = GenerationParams(max_tokens=12, temperature=1.0, seed=5)
    msgs = [Message("user", "Invent a name for a cat.")]
    assert hf_gguf.chat(msgs, p).text == hf_gguf.chat(msgs, p).text
