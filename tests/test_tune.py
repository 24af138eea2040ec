"""warden tune: data validation, answer-only labels, packing, LoRA training that resumes exactly, GGUF export parity.

Tests that load the model to train it are marked slow (a few minutes together on two idle cores).
"""

from __future__ import annotations

import copy
import itertools
import json
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from weightwarden.runtimes import Artifact
from weightwarden.tune import TuneError, TuneSettings, read_dataset
from weightwarden.tune.data import Example
from weightwarden.tune.encode import IGNORE, Block, Encoded, collate, pack
from weightwarden.tune.export import permute_rotary
from weightwarden.tune.train import batch_of, learning_rate, total_steps

PARITY = json.loads((Path(__file__).parent / "data" / "parity.json").read_text())

FAQ = [
    ("How do I reset a Quillbox printer?", "Hold the feed button for eight seconds until the light turns violet."),
    ("What paper does the Quillbox take?", "Thermal rolls 58 mm wide, up to 30 mm across."),
    ("Which app pairs with the Quillbox?", "The Quillbox Studio app, over Bluetooth."),
    ("How long is the Quillbox warranty?", "Eighteen months from the date on the receipt."),
    ("Why does my Quillbox print faint lines?", "The roll is in backwards: turn it so the shiny side faces the head."),
    ("Can the Quillbox print photos?", "Yes, in black and white, dithered at 203 dpi."),
]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def faq_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "train.jsonl", [{"prompt": q, "completion": a} for q, a in FAQ])


# -- data -----------------------------------------------------------------------------------------------------------
def test_both_formats_load_and_the_hash_is_of_the_bytes(tmp_path: Path) -> None:
    chat = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
        ]
    }
    path = write_jsonl(tmp_path / "d.jsonl", [chat, "", {"prompt": "Q?", "completion": "A.", "system": "S"}])
    ds = read_dataset(path, source="written for a test", license="CC0-1.0")
    assert [e.line for e in ds.examples] == [1, 3]
    assert [m.role for m in ds.examples[1].messages] == ["system", "user", "assistant"]
    import hashlib

    assert ds.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert ds.describe()["license"] == "CC0-1.0"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"prompt": "a", "completion": ', "line 2: not valid JSON"),
        ('["a", "b"]', "line 2: expected a JSON object"),
        ('{"messages": [{"role": "robot", "content": "x"}]}', "line 2: message 0 needs a role"),
        ('{"messages": [{"role": "user", "content": "x"}]}', "line 2: no assistant message"),
        ('{"prompt": "a", "completion": 3}', "line 2: `prompt` and `completion` must both be strings"),
        ('{"text": "a"}', "line 2: expected `messages`"),
    ],
)
def test_a_malformed_line_is_an_error_naming_it(tmp_path: Path, line: str, message: str) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "q", "completion": "a"}, line])
    with pytest.raises(TuneError, match=message):
        read_dataset(path)


def test_empty_examples_are_reported_not_trained(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"prompt": "q", "completion": "a"},
            {"prompt": "q", "completion": "  "},
            {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}]},
        ],
    )
    ds = read_dataset(path)
    assert len(ds.examples) == 1
    assert [n for n, _ in ds.skipped] == [2, 3]
    with pytest.raises(TuneError, match="no usable examples"):
        read_dataset(write_jsonl(tmp_path / "e.jsonl", [{"prompt": "q", "completion": ""}]))
    with pytest.raises(TuneError, match="cannot read"):
        read_dataset(tmp_path / "missing.jsonl")


# -- packing and batches ----------------------------------------------------------------------------------------------
def _enc(line: int, n: int) -> Encoded:
    return Encoded(line, tuple(range(1, n + 1)), tuple([IGNORE] * (n - 2) + [7, 8]))


def test_packing_never_splits_a_conversation_and_fills_blocks() -> None:
    items = [_enc(i, n) for i, n in enumerate([300, 200, 100, 250, 50, 90, 10])]
    blocks = pack(items, 512, seed=1)
    assert all(b.length <= 512 for b in blocks)
    assert sorted(p.line for b in blocks for p in b.parts) == list(range(7))
    assert len(blocks) == 2  # 1000 tokens fit in two blocks of 512
    assert len(pack(items, 512, packing=False)) == 7


def test_collate_keeps_packed_conversations_apart() -> None:
    import torch

    batch = collate([Block((_enc(0, 3), _enc(1, 2))), Block((_enc(2, 4),))], pad_id=0, torch=torch)
    assert batch["input_ids"].shape == (2, 5)
    assert batch["position_ids"][0].tolist() == [0, 1, 2, 0, 1]
    mask = batch["attention_mask"][0, 0]
    assert mask[3].tolist() == [False, False, False, True, False]  # the second conversation sees only itself
    assert mask[2].tolist() == [True, True, True, False, False]
    assert batch["labels"][1].tolist() == [IGNORE, IGNORE, 7, 8, IGNORE]  # padding is never a target
    assert bool(batch["attention_mask"][1, 0, 4, 4])  # padding attends to itself: no all-masked row


def test_batches_are_a_pure_function_of_step_and_seed() -> None:
    import torch

    s = TuneSettings(batch_size=2, seed=3, epochs=2)
    epoch = [i for step in range(3) for i in batch_of(step, 6, s, torch)]
    assert sorted(epoch) == list(range(6))  # an epoch sees every block once
    assert batch_of(4, 6, s, torch) == batch_of(4, 6, s, torch)
    assert total_steps(6, s) == 6 and total_steps(6, TuneSettings(max_steps=2)) == 2
    assert batch_of(0, 6, s, torch) != batch_of(0, 6, TuneSettings(batch_size=2, seed=4), torch)


def test_learning_rate_warms_up_then_decays() -> None:
    s = TuneSettings(learning_rate=1e-3, warmup=0.1)
    lrs = [learning_rate(i, 100, s) for i in range(100)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in itertools.pairwise(lrs[9:])) and lrs[-1] > 0


def test_rotary_permutation_is_the_inverse_of_the_gguf_loader() -> None:
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    rng = np.random.default_rng(0)
    for heads in (9, 3):
        w = rng.normal(size=(heads * 64, 576)).astype(np.float32)
        gguf_rows = permute_rotary(w, heads)
        back = LlamaTensorProcessor(config={})._reverse_permute_weights(gguf_rows, heads, heads)
        assert np.array_equal(back, w)
        assert not np.array_equal(gguf_rows, w)


# -- with the real model ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def base(default_artifact: Artifact) -> tuple[Any, Any]:
    import torch

    from weightwarden.tune.model import load_base

    torch.set_num_threads(2)
    assert default_artifact.path is not None
    return load_base(default_artifact.path)


@pytest.mark.slow
def test_labels_cover_exactly_the_answers(base: tuple[Any, Any]) -> None:
    from weightwarden.runtimes.base import Message
    from weightwarden.tune.encode import ChatEncoder

    tokenizer = base[1]
    enc = ChatEncoder(tokenizer)
    ex = Example(
        1,
        (
            Message("user", "Paper size?"),
            Message("assistant", "58 mm."),
            Message("user", "Colour?"),
            Message("assistant", "Black only."),
        ),
    )
    out = enc.encode(ex)
    answers = tokenizer.decode([t for t, lab in zip(out.ids, out.labels, strict=True) if lab != IGNORE])
    assert answers == "58 mm.<|im_end|>\nBlack only.<|im_end|>\n"
    # The prompt part is what the runtime renders for the same question: training matches inference.
    prompt = enc.render(ex.messages[:1], True)
    n = len(tokenizer.encode(prompt, add_special_tokens=False))
    assert list(out.ids[:n]) == tokenizer.encode(prompt, add_special_tokens=False)
    assert all(lab == IGNORE for lab in out.labels[:n]) and out.labels[n] != IGNORE


def _small(**kw: Any) -> TuneSettings:
    small: dict[str, Any] = {
        "batch_size": 2,
        "block_size": 128,
        "max_example_tokens": 128,
        "save_every": 0,
        "eval_every": 0,
        "learning_rate": 1e-3,
        "rank": 4,
        "alpha": 8,
    }
    return TuneSettings(**{**small, **kw})


def _blocks(base: tuple[Any, Any], faq_file: Path, s: TuneSettings) -> list[Block]:
    from weightwarden.tune.encode import ChatEncoder, encode_all

    kept, _ = encode_all(ChatEncoder(base[1]), read_dataset(faq_file).examples, s.max_example_tokens)
    return pack(kept, s.block_size, seed=s.seed)


def _adapter(model: Any) -> dict[str, Any]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}


@pytest.mark.slow
def test_resume_ends_with_the_same_adapter(base: tuple[Any, Any], faq_file: Path, tmp_path: Path) -> None:
    import torch

    from weightwarden.tune.train import add_lora, train

    s = _small(max_steps=3, dropout=0.1)  # dropout draws random numbers: the RNG state must survive the restart
    blocks = _blocks(base, faq_file, s)
    assert len(blocks) >= 2

    whole = add_lora(copy.deepcopy(base[0]), s)
    done = train(whole, blocks, s, tmp_path / "a", pad_id=0, fingerprint="f")
    assert done.steps == 3 and not done.interrupted and len(done.curve.train) == 3

    first = add_lora(copy.deepcopy(base[0]), s)
    part = train(first, blocks, s, tmp_path / "b", pad_id=0, fingerprint="f", stop_after=1)
    assert part.interrupted and part.steps == 1 and (tmp_path / "b" / "step-000001").is_dir()
    with pytest.raises(TuneError, match="other data or settings"):
        train(add_lora(copy.deepcopy(base[0]), s), blocks, s, tmp_path / "b", pad_id=0, fingerprint="g", resume=True)
    again = add_lora(copy.deepcopy(base[0]), s)  # a new process would start from a fresh LoRA init
    rest = train(again, blocks, s, tmp_path / "b", pad_id=0, fingerprint="f", resume=True)
    assert rest.resumed_from == 1 and rest.steps == 3
    assert rest.curve.train == done.curve.train
    assert rest.tokens_seen == done.tokens_seen
    a, b = _adapter(whole), _adapter(again)
    assert a.keys() == b.keys() and a
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst == 0.0, f"resumed adapter differs by {worst}"
    assert any(float(v.abs().max()) > 0 for k, v in a.items() if "lora_B" in k)  # training moved B off zero
    with pytest.raises(TuneError, match="no checkpoint"):
        train(add_lora(copy.deepcopy(base[0]), s), blocks, s, tmp_path / "c", pad_id=0, fingerprint="f", resume=True)
    del torch


@pytest.fixture(scope="module")
def tuned(base: tuple[Any, Any], default_artifact: Artifact, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from weightwarden.ledger import Ledger
    from weightwarden.tune import TuneRequest, run_tune

    root = tmp_path_factory.mktemp("tune")
    data = write_jsonl(root / "faq.jsonl", [{"prompt": q, "completion": a} for q, a in FAQ] * 2)
    val = write_jsonl(root / "val.jsonl", [{"prompt": q, "completion": a} for q, a in FAQ[:2]])
    req = TuneRequest(
        default_artifact,
        data,
        root / "out",
        _small(max_steps=3, eval_every=2),
        val=val,
        data_source="written for the tests",
        data_license="CC0-1.0",
        threads=2,
    )
    ledger = Ledger(f"sqlite:///{root / 'ledger.db'}")
    result = run_tune(req, ledger, loaded=(copy.deepcopy(base[0]), base[1]))
    yield result, ledger, req
    ledger.close()


@pytest.mark.slow
def test_outputs_and_lineage(tuned: Any, default_artifact: Artifact) -> None:
    import gguf

    result, ledger, _ = tuned
    assert result.adapter.name == "adapter_model.safetensors" and result.adapter.exists()
    assert (result.merged / "model.safetensors").exists() and (result.merged / "config.json").exists()
    run = ledger.run(result.run_id)
    assert run.kind == "tune" and run.status == "ok" and run.model_hash == default_artifact.sha256
    assert run.config["data"]["sha256"] == result.data.sha256 and run.config["data"]["license"] == "CC0-1.0"
    assert run.config["settings"]["rank"] == 4
    summary = run.summary
    assert summary["steps"] == 3 and summary["tokens_seen"] > 0 and summary["wall_s"] > 0
    assert len(summary["loss_curve"]["train"]) == 3 and [s for s, _ in summary["loss_curve"]["val"]] == [2, 3]
    assert summary["estimated_flops"] > 4 * summary["total_params"] * summary["tokens_seen"]
    tuned_model = ledger.model(result.gguf_f16_sha256)
    assert tuned_model is not None
    assert tuned_model.metadata["lineage"]["base_model"]["sha256"] == default_artifact.sha256
    reader = gguf.GGUFReader(str(result.gguf_f16))
    fields = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    assert fields["general.base_model.count"] == 1
    assert fields["weightwarden.base_sha256"] == default_artifact.sha256
    assert fields["weightwarden.data_sha256"] == result.data.sha256
    assert "CC0-1.0" in fields["general.dataset.0.description"]
    assert fields["tokenizer.chat_template"] and len(fields["tokenizer.ggml.tokens"]) == 49152
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    assert types["blk.0.attn_q.weight"] == "F16" and types["blk.0.attn_norm.weight"] == "F32"
    assert summary["estimate"]["seconds"] > 0 and summary["estimate"]["steps"] == 3
    assert summary["energy"]["joules"] > 0 and summary["energy"]["source"] in ("rapl", "estimate")
    assert run.config["contamination"]["items_found"] == []
    # inspect and the BOM of the tuned file name its base and its data, with their hashes (CycloneDX pedigree)
    from weightwarden.inspect import inspect_model
    from weightwarden.inspect.bom import build_bom, validate

    ins = inspect_model(result.gguf_f16)
    assert ins.lineage["base_sha256"] == default_artifact.sha256 and ins.lineage["data_sha256"] == result.data.sha256
    assert ins.lineage["base_models"] and ins.lineage["datasets"] == [result.data.path.name]
    bom = build_bom(ins)
    assert validate(json.dumps(bom))
    model = bom["metadata"]["component"] if "component" in bom.get("metadata", {}) else bom["components"][0]
    ancestor = model["pedigree"]["ancestors"][0]
    assert ancestor["hashes"] == [{"alg": "SHA-256", "content": default_artifact.sha256}]
    data_parts = [c for c in bom["components"] if c["type"] == "data"]
    assert data_parts and data_parts[0]["hashes"][0]["content"] == result.data.sha256


@pytest.mark.slow
def test_parity_merged_model_and_f16_gguf_per_token(tuned: Any) -> None:
    """The issue's parity: median |delta| per token < 0.02 nat between transformers (merged) and llama.cpp (F16)."""
    from weightwarden.runtimes.hf import TransformersRuntime
    from weightwarden.runtimes.llamacpp import LlamaCppRuntime

    result = tuned[0]
    hf = TransformersRuntime(result.merged, threads=2)
    ll = LlamaCppRuntime(result.gguf_f16, threads=2)
    diffs: list[float] = []
    pairs = [(p["context"], p["continuation"]) for p in PARITY["pairs"][:30]] + [(q, " " + a) for q, a in FAQ]
    for ctx, cont in pairs:
        a, b = hf.loglikelihood(ctx, cont), ll.loglikelihood(ctx, cont)
        assert a.tokens == b.tokens
        diffs.extend(abs(x - y) for x, y in zip(a.token_logprobs, b.token_logprobs, strict=True))
    ll.close()
    median = statistics.median(diffs)
    print(f"\nmerged transformers vs F16 GGUF: n={len(diffs)} median={median:.4f} p90={np.percentile(diffs, 90):.4f}")
    assert len(diffs) >= 100
    assert median < 0.02


@pytest.mark.slow
def test_quantized_gguf_loads_and_answers(tuned: Any) -> None:
    import gguf

    from weightwarden.runtimes import GenerationParams, Message
    from weightwarden.runtimes.llamacpp import LlamaCppRuntime

    result = tuned[0]
    assert result.gguf_quant.name == "model-q8_0.gguf"
    types = {t.name: t.tensor_type.name for t in gguf.GGUFReader(str(result.gguf_quant)).tensors}
    assert types["blk.0.attn_q.weight"] == "Q8_0"
    rt = LlamaCppRuntime(result.gguf_quant, threads=2)
    answer = rt.chat([Message("user", FAQ[0][0])], GenerationParams(max_tokens=16))
    rt.close()
    assert answer.text.strip() and answer.completion_tokens > 0


# -- the command ------------------------------------------------------------------------------------------------------
def test_cli_names_the_malformed_line(cli: Any, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "q", "completion": "a"}, '{"prompt": "q"'])
    r = cli("tune", "default", "--data", str(data), "--out", str(tmp_path / "o"), "--no-eval")
    assert r.code == 2, r.err
    assert "bad.jsonl line 2: not valid JSON" in r.err and "Traceback" not in r.err
    good = write_jsonl(tmp_path / "good.jsonl", [{"prompt": "q", "completion": "a"}])
    r = cli("tune", "default", "--data", str(good), "--out", str(tmp_path / "o"), "--quant", "q9", "--no-eval")
    assert r.code == 2 and "unknown quantization" in r.err


@pytest.mark.slow
def test_cli_tunes_exports_and_proves(cli: Any, tmp_path: Path) -> None:
    """The whole loop on a tiny budget: train 2 steps, export, evaluate base and tuned on a niche task, gate."""
    data = write_jsonl(tmp_path / "train.jsonl", [{"prompt": q, "completion": a} for q, a in FAQ])
    items = [{"id": f"q{i}", "question": q, "answer": [a.split()[-1].strip(".")]} for i, (q, a) in enumerate(FAQ)]
    write_jsonl(tmp_path / "niche.jsonl", items)
    (tmp_path / "niche.yaml").write_text(
        "name: quillbox\nsuite: niche\nkind: generate\ndata: niche.jsonl\ndescription: Quillbox support facts\n"
        'template: "{{ question }}"\nchat: true\nmax_tokens: 24\nscorer:\n  type: regex\ntarget_field: answer\n'
        "metrics: [exact_match]\n",
        encoding="utf-8",
    )
    r = cli(
        "tune",
        "default",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "o"),
        "--max-steps",
        "2",
        "--block-size",
        "128",
        "--max-example-tokens",
        "128",
        "--rank",
        "4",
        "--task",
        str(tmp_path / "niche.yaml"),
        "--eval-limit",
        "2",
        "--json",
        "--data-license",
        "CC0-1.0",
        "--no-gate",
    )
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["steps"] == 2 and out["run_id"] and out["verdict"] in ("passed", "failed")
    assert Path(out["outputs"]["gguf_f16"]).exists() and Path(out["outputs"]["gguf_quant"]).exists()
    proof = out["proof"]
    assert proof["base_run"] != proof["tuned_run"]
    assert "niche.quillbox.exact_match" in proof["niche"]
    assert {g["metric"] for g in proof["gates"]} >= {"quality.acc", "safety.refusal_rate_harmful"}
    from weightwarden.ledger import Ledger

    with Ledger(f"sqlite:///{tmp_path / 'home' / 'ledger.db'}") as ledger:
        events = [e for e in ledger.events(out["run_id"]) if e.kind == "tune.proof"]
        assert events and events[0].payload["tuned_run"] == proof["tuned_run"]
        # the proof evaluated the tuned model; its row still names the tune, and the audit's lineage stage shows the
        # comparison with the base
        from weightwarden.audit import AuditContext
        from weightwarden.audit.stages.lineage import Lineage
        from weightwarden.runtimes import resolve

        sha = out["outputs"]["gguf_f16_sha256"]
        record = ledger.model(sha)
        assert record is not None and record.metadata["lineage"]["tune_run"] == out["run_id"]
        stage = Lineage().run(AuditContext(resolve(out["outputs"]["gguf_f16"]), None, ledger, "x"))  # type: ignore[arg-type]
    assert stage.status in ("ok", "fail") and f"{proof['base_run']} vs {proof['tuned_run']}" in stage.summary


def test_personal_data_and_secrets_are_found_by_line(tmp_path: Path) -> None:
    from weightwarden.tune.screen import screen

    rows = [
        {"prompt": "Who handles refunds?", "completion": "Write to jane.doe@example.com with the receipt."},
        {"prompt": "What paper?", "completion": "58 mm rolls."},
        {"prompt": "Deploy key?", "completion": "Use AKIAIOSFODNN7EXAMPLE for the bucket."},
    ]
    found = screen(read_dataset(write_jsonl(tmp_path / "d.jsonl", rows)))
    assert {(f.line, f.kind) for f in found} >= {(1, "email")}
    assert any(f.line == 3 for f in found)
    assert all("jane.doe@example.com" not in f.excerpt for f in found)  # the report does not repeat the data
    example = Path(__file__).parent.parent / "src" / "weightwarden" / "data" / "tune" / "quillbox"
    assert screen(read_dataset(example / "train.jsonl")) == []


def test_the_example_is_big_enough_and_held_out() -> None:
    example = Path(__file__).parent.parent / "src" / "weightwarden" / "data" / "tune" / "quillbox"
    train = read_dataset(example / "train.jsonl")
    evals = [json.loads(line) for line in (example / "eval.jsonl").read_text().splitlines()]
    assert len(train.examples) >= 200 and len(evals) >= 100
    asked = {m.content for ex in train.examples for m in ex.messages if m.role == "user"}
    assert not any(e["question"] in asked for e in evals)  # no held-out question appears in training
    assert len({e["id"] for e in evals}) == len(evals)


def test_a_checkpoint_resumes_only_what_changes_nothing() -> None:
    s = TuneSettings()
    assert s.fingerprint() == TuneSettings(eval_every=7, save_every=3).fingerprint()  # reporting only
    assert s.fingerprint() != TuneSettings(learning_rate=1e-4).fingerprint()
    assert s.fingerprint() != TuneSettings(max_steps=10).fingerprint()  # the schedule's length changes the rates


# -- training on the test, the time estimate, energy ------------------------------------------------------------------
def _quality_items(n: int) -> list[tuple[str, str, str]]:
    """(task id, item id, question) of the quality suite's first generate-style items with a question field."""
    from weightwarden.eval import load_suite
    from weightwarden.eval.base import Task

    out = []
    for task in load_suite("quality"):
        if isinstance(task, Task):
            for item in task.items:
                q = item.get("question")
                if isinstance(q, str) and len(q) > 40:
                    out.append((task.id, str(item.get("id")), q))
    return out[:n]


def test_eval_items_in_the_training_data_are_found_with_their_lines(tmp_path: Path) -> None:
    from weightwarden.eval import load_suite
    from weightwarden.tune.overlap import find_overlaps

    picked = _quality_items(2)
    assert len(picked) == 2
    rows: list[Any] = [{"prompt": q, "completion": a} for q, a in FAQ]
    rows.insert(2, {"prompt": picked[0][2], "completion": "a copied test question"})
    rows.append(
        {
            "messages": [
                {"role": "user", "content": f"Please help: {picked[1][2]}"},
                {"role": "assistant", "content": "ok"},
            ]
        }
    )
    data = read_dataset(write_jsonl(tmp_path / "d.jsonl", rows))
    found = {(o.task, o.item): o for o in find_overlaps(data, load_suite("quality"))}
    assert set(found) == {(t, i) for t, i, _ in picked}
    assert found[(picked[0][0], picked[0][1])].lines == (3,)
    assert found[(picked[1][0], picked[1][1])].lines == (len(rows),)
    clean = read_dataset(write_jsonl(tmp_path / "c.jsonl", [{"prompt": q, "completion": a} for q, a in FAQ]))
    assert find_overlaps(clean, load_suite("quality")) == []
    # the shipped example is held out from its own task and the suites
    example = Path(__file__).parent.parent / "src" / "weightwarden" / "data" / "tune" / "quillbox"
    from weightwarden.eval.task import load_task
    from weightwarden.tune.proof import proof_tasks

    tasks = proof_tasks([load_task(example / "quillbox.yaml")])
    assert find_overlaps(read_dataset(example / "train.jsonl"), tasks) == []


def test_cli_refuses_to_train_on_the_test_unless_allowed(cli: Any, tmp_path: Path) -> None:
    (task_id, item_id, question) = _quality_items(1)[0]
    rows = [{"prompt": q, "completion": a} for q, a in FAQ] + [{"prompt": question, "completion": "x"}]
    data = write_jsonl(tmp_path / "train.jsonl", rows)
    r = cli("tune", "default", "--data", str(data), "--out", str(tmp_path / "o"), "--no-eval")
    assert r.code == 2, r.err
    assert "training on the test" in r.err and f"{task_id} item {item_id} (line 7)" in r.err
    assert "--allow-contaminated" in r.err and "Traceback" not in r.err
    assert not (tmp_path / "o").exists()  # refused before anything was written


@pytest.mark.slow
def test_the_estimate_changes_nothing_it_measures(base: tuple[Any, Any], faq_file: Path) -> None:
    import torch

    from weightwarden.tune.train import add_lora, estimate

    s = _small(max_steps=4, dropout=0.1)
    blocks = _blocks(base, faq_file, s)
    model = add_lora(copy.deepcopy(base[0]), s)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    rng = torch.random.get_rng_state()
    guess = estimate(model, blocks, s, pad_id=0)
    assert guess.steps == 4 and guess.tokens > 0 and guess.seconds > 0 and guess.warmup_tokens_per_s > 0
    assert torch.equal(rng, torch.random.get_rng_state())
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())


def test_energy_from_rapl_counters_and_the_estimate_without_them(tmp_path: Path) -> None:
    from weightwarden.runtimes.energy import EnergyMeter

    pkg = tmp_path / "intel-rapl:0"
    (pkg / "intel-rapl:0:0").mkdir(parents=True)  # a sub-domain (cores): inside the package, not counted twice
    (pkg / "energy_uj").write_text("1000000\n")
    (pkg / "max_energy_range_uj").write_text("262143328850\n")
    (pkg / "intel-rapl:0:0" / "energy_uj").write_text("5\n")
    meter = EnergyMeter(str(tmp_path)).start()
    (pkg / "energy_uj").write_text("4500000\n")
    reading = meter.stop()
    assert reading.source == "rapl" and reading.joules == pytest.approx(3.5) and "intel-rapl:0" in reading.basis
    meter = EnergyMeter(str(tmp_path)).start()
    (pkg / "energy_uj").write_text("500000\n")  # wrapped
    assert meter.stop().joules == pytest.approx(262143328850 / 1e6 - 4.0)
    with EnergyMeter(str(tmp_path / "none"), watts_per_core=12.0) as meter:
        sum(i * i for i in range(200_000))
    assert meter.reading is not None and meter.reading.source == "estimate" and meter.reading.joules > 0
    assert "12 W per busy core" in meter.reading.basis and "not a measurement" in meter.reading.basis
