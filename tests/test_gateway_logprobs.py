"""Exact prompt log-probabilities through the gateway: echo + logprobs as OpenAI's legacy API shapes them, the remote
runtime's alignment probe, and the requests EleutherAI lm-evaluation-harness's `local-completions` model sends."""

from __future__ import annotations

import math
from collections.abc import Iterator
from operator import itemgetter
from typing import Any

import httpx
import openai
import pytest

from gateway_server import Running, serve
from weightwarden.runtimes import Artifact, GenerationParams
from weightwarden.runtimes.llamacpp import LlamaCppRuntime
from weightwarden.runtimes.remote import RemoteRuntime


@pytest.fixture(scope="module")
def gw(
    tmp_path_factory: pytest.TempPathFactory, llama: LlamaCppRuntime, default_artifact: Artifact
) -> Iterator[Running]:
    with serve(tmp_path_factory.mktemp("gw"), llama, default_artifact) as g:
        yield g


@pytest.fixture(scope="module")
def key(gw: Running) -> str:
    return gw.key(name="scoring")


def test_prompt_logprobs_agree_with_loglikelihood_tokens(llama: LlamaCppRuntime) -> None:
    ctx, cont = llama.tokenize("The capital of France is"), llama.tokenize(" Paris, and of Spain, Madrid.")
    scored = llama.prompt_logprobs(ctx + cont, top=5)
    reference = llama.loglikelihood_tokens(ctx, cont)
    assert len(scored.token_logprobs) == len(ctx + cont) - 1 and len(scored.top) == len(ctx + cont)
    assert scored.token_logprobs[len(ctx) - 1 :] == pytest.approx(reference.token_logprobs, abs=1e-9)
    for i, row in enumerate(scored.top):
        values = [lp for _, lp in row]
        assert len(row) == 5 and values == sorted(values, reverse=True) and all(v <= 0 for v in values)
        if i + 1 < len(ctx + cont):  # the true token is never more likely than the best one
            assert scored.token_logprobs[i] <= values[0] + 1e-12
    greedy = [row[0][0] == tok for row, tok in zip(scored.top[len(ctx) - 1 : -1], cont, strict=True)]
    assert all(greedy) == reference.is_greedy
    assert math.isclose(sum(math.exp(lp) for _, lp in llama.prompt_logprobs(ctx, top=49152).top[-1]), 1.0, abs_tol=1e-6)
    assert llama.prompt_logprobs(ctx, top=0).top == ((),) * len(ctx)


def test_echo_logprobs_are_the_exact_prompt_logprobs(gw: Running, key: str, llama: LlamaCppRuntime) -> None:
    client = openai.OpenAI(base_url=gw.base_url, api_key=key, max_retries=0)
    prompt = "The capital of France is Paris"
    out = client.completions.create(model="default", prompt=prompt, max_tokens=1, temperature=0, echo=True, logprobs=3)
    lp = out.choices[0].logprobs
    assert lp is not None and lp.tokens and lp.token_logprobs and lp.text_offset and lp.top_logprobs
    ids = llama.tokenize(prompt)
    assert lp.tokens[: len(ids)] == [llama.detokenize([i]) for i in ids] and len(lp.tokens) == len(ids) + 1
    assert "".join(lp.tokens).startswith(prompt) and out.choices[0].text == "".join(lp.tokens)
    assert lp.text_offset[: len(ids)] == [len(llama.detokenize(ids[:i])) for i in range(len(ids))]
    assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    # " Paris" after the context: DESIGN.md's trap; llama.cpp's own echo path says -8.45 here.
    paris = llama.loglikelihood("The capital of France is", " Paris").token_logprobs[0]
    assert lp.token_logprobs[len(ids) - 1] == pytest.approx(paris, abs=1e-9) and paris > -1.0
    for token, value, top in zip(lp.tokens[1:], lp.token_logprobs[1:], lp.top_logprobs[1:], strict=True):
        assert top is not None and token in top and top[token] == value and len(top) <= 4
        assert max(top.values()) >= value
    plain = client.completions.create(model="default", prompt=prompt, max_tokens=2, temperature=0, logprobs=1)
    plp = plain.choices[0].logprobs
    assert plp is not None and plp.tokens and "".join(plp.tokens) == plain.choices[0].text
    assert plp.text_offset and plp.text_offset[0] == len(prompt)


def test_the_remote_runtime_scores_through_the_gateway_like_the_local_runtime(
    gw: Running, key: str, llama: LlamaCppRuntime
) -> None:
    remote = RemoteRuntime(gw.base_url, "default", api_key=key)
    remote.check_alignment()  # the counting probe: a gateway never shifts log-probabilities by a token
    for ctx, cont in [("The capital of France is", " Paris"), ("Once upon a time, there was a", " little dog.")]:
        got, want = remote.loglikelihood(ctx, cont), llama.loglikelihood(ctx, cont)
        assert got.total == pytest.approx(want.total, abs=1e-6)
        assert got.token_logprobs == pytest.approx(want.token_logprobs, abs=1e-6)
        assert got.is_greedy == want.is_greedy
    remote.close()


def lm_eval_parse_logprobs(outputs: dict[str, Any], ctxlens: list[int]) -> list[tuple[float, bool]]:
    """lm-eval 0.4.13's LocalCompletionsAPI.parse_logprobs (lm_eval/models/openai_completions.py), in substance."""
    res = []
    for choice, ctxlen in zip(sorted(outputs["choices"], key=itemgetter("index")), ctxlens, strict=False):
        assert ctxlen > 0
        logprobs = sum(choice["logprobs"]["token_logprobs"][ctxlen:-1])
        tokens_logprobs = choice["logprobs"]["token_logprobs"][ctxlen:-1]
        top_logprobs = choice["logprobs"]["top_logprobs"][ctxlen:-1]
        is_greedy = True
        for tok, top in zip(tokens_logprobs, top_logprobs, strict=False):
            if tok != max(top.values()):
                is_greedy = False
                break
        res.append((logprobs, is_greedy))
    return res


def test_lm_eval_local_completions_scores_multiple_choice(gw: Running, key: str, llama: LlamaCppRuntime) -> None:
    """lm-eval sends, for loglikelihood, a batch of token-id lists (tokenized_requests=True) or strings."""
    question = "Question: What is the capital of France?\nAnswer:"
    choices = [" Paris", " London", " Berlin", " Madrid"]
    ctx = llama.tokenize(question)
    batch = [ctx + llama.tokenize(c) for c in choices]
    payload = {
        "model": "default",
        "prompt": batch,
        "temperature": 0,
        "max_tokens": 1,
        "logprobs": 1,
        "seed": 1234,
        "echo": True,
    }  # LocalCompletionsAPI._create_payload(generate=False)
    resp = httpx.post(
        f"{gw.base_url}/completions", json=payload, headers={"Authorization": f"Bearer {key}"}, timeout=60
    )
    assert resp.status_code == 200, resp.text
    scores = lm_eval_parse_logprobs(resp.json(), [len(ctx)] * len(batch))
    for (total, greedy), choice in zip(scores, choices, strict=True):
        want = llama.loglikelihood_tokens(ctx, llama.tokenize(choice))
        assert total == pytest.approx(want.total, abs=1e-6) and greedy == want.is_greedy
    assert max(range(4), key=lambda i: scores[i][0]) == 0, "the model knows Paris; llama.cpp's echo would not say so"
    # tokenized_requests=False with batch size 1: one string
    text_payload = {**payload, "prompt": question + choices[0]}
    one = httpx.post(f"{gw.base_url}/completions", json=text_payload, headers={"Authorization": f"Bearer {key}"}).json()
    assert lm_eval_parse_logprobs(one, [len(ctx)])[0][0] == pytest.approx(scores[0][0], abs=1e-6)


def test_lm_eval_generation_and_remote_tokenizer_requests_are_accepted(
    gw: Running, key: str, llama: LlamaCppRuntime
) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    gen = {
        "prompt": [llama.tokenize("1, 2, 3,")],
        "model": "default",
        "max_tokens": 4,
        "temperature": 0,
        "stop": ["<|endoftext|>", "\n\n"],
        "seed": 1234,
    }  # _create_payload(generate=True)
    out = httpx.post(f"{gw.base_url}/completions", json=gen, headers=auth).json()
    direct = llama.complete("1, 2, 3,", GenerationParams(max_tokens=4, seed=1234, stop=("<|endoftext|>", "\n\n")))
    assert out["choices"][0]["text"] == direct.text and direct.text
    # lm-eval's RemoteTokenizer (tokenizer_backend="remote"): /tokenizer_info, /tokenize, /detokenize at the root
    info = httpx.get(f"{gw.root}/tokenizer_info", headers=auth).json()
    assert info["eos_token"] == "<|im_end|>" and "im_start" in (info["chat_template"] or "")
    eos = httpx.post(
        f"{gw.root}/tokenize", json={"prompt": info["eos_token"], "add_special_tokens": False}, headers=auth
    )
    assert eos.json()["tokens"] == [llama.eos_id]
    text = "Zürich, café and 12345 tokens."
    ids = httpx.post(f"{gw.root}/tokenize", json={"prompt": text, "add_special_tokens": False}, headers=auth).json()
    assert ids["tokens"] == llama.tokenize(text) and ids["count"] == len(ids["tokens"]) and ids["max_model_len"] == 2048
    back = httpx.post(f"{gw.root}/detokenize", json={"tokens": ids["tokens"]}, headers=auth).json()
    assert back == {"prompt": text}


def test_max_tokens_zero_with_echo_scores_the_prompt_only(gw: Running, key: str, llama: LlamaCppRuntime) -> None:
    body = {"model": "default", "prompt": "Once upon a time", "max_tokens": 0, "echo": True, "logprobs": 0}
    out = httpx.post(f"{gw.base_url}/completions", json=body, headers={"Authorization": f"Bearer {key}"}).json()
    lp = out["choices"][0]["logprobs"]
    ids = llama.tokenize("Once upon a time")
    assert out["choices"][0]["text"] == "Once upon a time" and len(lp["tokens"]) == len(ids)
    assert out["usage"] == {"prompt_tokens": len(ids), "completion_tokens": 0, "total_tokens": len(ids)}
    assert all(top is None or list(top) == [tok] for tok, top in zip(lp["tokens"], lp["top_logprobs"], strict=True))
    no_echo = httpx.post(
        f"{gw.base_url}/completions", json={**body, "echo": False}, headers={"Authorization": f"Bearer {key}"}
    )
    assert no_echo.status_code == 400 and "echo" in no_echo.json()["error"]["message"]
