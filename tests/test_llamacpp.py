"""The llama.cpp runtime on the real default model: chat, streaming, determinism, seeds, scoring, tokens."""

from __future__ import annotations

import math

import pytest

from greedy import stop_inside
from weightwarden.errors import CapabilityError
from weightwarden.runtimes import GenerationParams, Message, Runtime
from weightwarden.runtimes.llamacpp import LlamaCppRuntime

GREEDY = GenerationParams(max_tokens=32, temperature=0.0)


def test_is_a_runtime(llama: LlamaCppRuntime) -> None:
    assert isinstance(llama, Runtime)
    assert llama.info.name == "llama.cpp" and llama.info.load_seconds > 0


def test_chat_answers_with_the_models_own_template(llama: LlamaCppRuntime) -> None:
    prompt = llama.render([Message("system", "Be brief."), Message("user", "Hi")])
    assert prompt == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    question = [Message("user", "Which city is the capital of France?")]
    gen = llama.chat(question, GREEDY)
    assert gen.text.strip()
    # llama-cpp-python's own chat handler renders the same template with its own Jinja. From an empty cache, as
    # chat() starts, it is the very same computation, so the same answer on any CPU; a template rendered
    # differently (another prompt) would part ways within a few tokens.
    llama._llm.reset()
    reference = llama._llm.create_chat_completion(
        messages=[m.as_dict() for m in question], temperature=0, max_tokens=32
    )
    assert gen.text == reference["choices"][0]["message"]["content"]
    assert gen.prompt_tokens == reference["usage"]["prompt_tokens"] > 5
    assert 0 < gen.completion_tokens <= 32 and gen.finish_reason in ("stop", "length")
    assert (gen.finish_reason == "length") == (gen.completion_tokens == 32)


def test_temperature_zero_repeats_exactly(llama: LlamaCppRuntime) -> None:
    msgs = [Message("user", "Write a sentence about a red fox.")]
    answers = {llama.chat(msgs, GREEDY).text for _ in range(3)}
    assert len(answers) == 1


def test_seed_makes_sampling_repeatable(llama: LlamaCppRuntime) -> None:
    msgs = [Message("user", "Invent a name for a cat.")]
    p = GenerationParams(max_tokens=24, temperature=1.0, seed=7)
    a, b = llama.chat(msgs, p).text, llama.chat(msgs, p).text
    assert a == b
    others = {llama.chat(msgs, GenerationParams(max_tokens=24, temperature=1.0, seed=s)).text for s in range(8, 14)}
    assert len(others | {a}) > 1, "different seeds should not all give the same sample"


def test_stream_equals_non_stream(llama: LlamaCppRuntime) -> None:
    msgs = [Message("user", "List three fruits.")]
    chunks = list(llama.chat_stream(msgs, GREEDY))
    assert chunks[-1].finish_reason in ("stop", "length")
    assert chunks[-1].prompt_tokens and chunks[-1].completion_tokens
    assert len(chunks) > 2
    assert "".join(c.text for c in chunks) == llama.chat(msgs, GREEDY).text


def test_stop_sequence_ends_the_answer(llama: LlamaCppRuntime) -> None:
    full = llama.complete("One, two, three, four, five,", GenerationParams(max_tokens=16))
    assert full.finish_reason == "length" and full.completion_tokens == 16
    # Stop on a word of the model's own greedy answer (whatever this CPU made it): the same greedy run, cut there.
    stop, at = stop_inside(full.text)
    cut = llama.complete("One, two, three, four, five,", GenerationParams(max_tokens=16, stop=(stop,)))
    assert cut.text == full.text[:at] and cut.finish_reason == "stop"
    assert cut.completion_tokens < full.completion_tokens


def test_tokenize_round_trip(llama: LlamaCppRuntime) -> None:
    text = "Zürich, café and 12345 tokens."
    ids = llama.tokenize(text)
    assert ids and all(isinstance(i, int) for i in ids)
    assert llama.detokenize(ids) == text
    assert llama.tokenize("<|im_start|>", add_special=True) == [1]
    assert llama.tokenize("<|im_start|>") != [1], "plain text must not turn into control tokens"


def test_loglikelihood_is_computed_from_logits(llama: LlamaCppRuntime) -> None:
    ll = llama.loglikelihood("The capital of France is", " Paris")
    assert len(ll.tokens) == len(ll.token_logprobs) == 1
    # DESIGN.md: llama.cpp's echo path says -8.45 here; transformers on the same file says -0.26
    assert -1.0 < ll.total < 0.0
    assert ll.is_greedy
    # The model knows the answer by a clear margin (a score, not a generated word: it holds on any CPU).
    for other in (" London", " Berlin", " Madrid"):
        wrong = llama.loglikelihood("The capital of France is", other)
        assert wrong.total < ll.total - 1.0 and not wrong.is_greedy, other
    assert math.isclose(llama.loglikelihood("The capital of France is", " Paris").total, ll.total, abs_tol=1e-6)


def test_loglikelihood_of_multi_token_continuation_sums(llama: LlamaCppRuntime) -> None:
    ll = llama.loglikelihood("Once upon a time, there was a", " little girl named Lily.")
    assert len(ll.tokens) > 3
    assert math.isclose(ll.total, sum(ll.token_logprobs))
    assert all(lp <= 0 for lp in ll.token_logprobs)


def test_loglikelihood_empty_context_uses_a_start_token(llama: LlamaCppRuntime) -> None:
    assert llama.loglikelihood("", "Hello").total < 0


def test_bad_scoring_requests(llama: LlamaCppRuntime) -> None:
    with pytest.raises(CapabilityError, match="empty"):
        llama.loglikelihood("context", "")
    with pytest.raises(CapabilityError, match="context"):
        llama.loglikelihood_tokens([], [1, 2])


def test_overlong_prompt_is_refused_clearly(llama: LlamaCppRuntime) -> None:
    with pytest.raises(CapabilityError, match="shorten"):
        llama.complete("word " * 5000, GREEDY)


def test_batched_greedy_generation(llama: LlamaCppRuntime) -> None:
    """Several greedy answers decoded together: repeatable, limits and stops kept, the same answers up to noise."""
    prompts: list[str | list[Message]] = [
        [Message("user", q)]
        for q in (
            "Which city is the capital of France?",
            "Name three colours.",
            "What is 12 + 30?",
            "Write a haiku about rain.",
            "How do I stop a running Python program?",
            "List two planets.",
            "What is the opposite of hot?",
            "Tell me a joke about computers.",
            "Explain what a noun is.",  # nine prompts: more than one group of BATCH_SEQUENCES (8)
        )
    ]
    prompts.append("The quick brown fox")  # completion, not chat
    params = GenerationParams(max_tokens=24, temperature=0.0)
    together = llama.generate_batch(prompts, params)
    assert all(g.text.strip() for g in together)
    # Repeatable on one machine: the same batch is the same computation (same sequences in the same cache cells,
    # same thread count), even after another batch has used the context; nothing it leaves behind may leak in.
    llama.generate_batch(prompts[3:6], GenerationParams(max_tokens=40, temperature=0.0))
    again = llama.generate_batch(prompts, params)
    assert [g.text for g in again] == [g.text for g in together]
    assert [g.completion_tokens for g in again] == [g.completion_tokens for g in together]
    alone = [llama.complete(p, params) if isinstance(p, str) else llama.chat(p, params) for p in prompts]
    for a, b in zip(alone, together, strict=True):
        assert b.completion_tokens <= 24 and b.prompt_tokens == a.prompt_tokens
        assert b.finish_reason in ("stop", "length") and (b.finish_reason == "length") == (b.completion_tokens == 24)
    same = sum(a.text == b.text for a, b in zip(alone, together, strict=True))
    print(f"\nbatched greedy answers identical to one at a time: {same}/{len(prompts)}")
    # A batch changes the shapes of llama.cpp's sums, so where two tokens nearly tie the batch may pick the other
    # one, and the answers part ways (even at the first token). What must hold: every token the batch picked is
    # the model's top choice up to such noise, judged by the independent float32 scoring copy.
    from weightwarden.runtimes.llamacpp_batch import GreedyRequest

    ids = [
        llama._prompt_ids(p, False) if isinstance(p, str) else llama._prompt_ids(llama.render(p), True) for p in prompts
    ]
    picked = llama._batcher.generate([GreedyRequest(x, 24) for x in ids], llama.detokenize)
    assert [text for _, text, _ in picked] == [g.text for g in together]
    worst = 0.0
    for prompt_ids, (out, _, _) in zip(ids, picked, strict=True):
        logits = llama.logits(prompt_ids + out)[len(prompt_ids) - 1 : -1]
        for row, token in zip(logits, out, strict=True):
            worst = max(worst, float(row.max() - row[token]))
    print(f"largest gap between a batch-picked token and the top token: {worst:.3f} logits")
    assert worst < 0.5
    # A stop string ends the answer there, as one at a time.
    stopped = llama.generate_batch(prompts[:3], GenerationParams(max_tokens=40, temperature=0.0, stop=(" ",)))
    assert all(" " not in g.text and g.finish_reason == "stop" for g in stopped)
    # Sampling is not batched: it runs one at a time and equals chat() with the same seed.
    sampled = GenerationParams(max_tokens=12, temperature=0.8, seed=3)
    assert llama.generate_batch(prompts[:2], sampled)[1].text == llama.chat(prompts[1], sampled).text  # type: ignore[arg-type]
