"""Our multiple-choice accuracy against EleutherAI lm-evaluation-harness on the same task and the same weights.

Run: PYTHONPATH=src .venv/bin/python bench/vs_lm_eval.py [--items tests/data/compare_easy_mc.jsonl]
     [--lm-eval-python /work/lmeval-venv/bin/python] [--hf-dir DIR] [--batch-size 16] [--unbatched] [--json]
     [--out FILE]

lm-eval lives in its own venv (it pins its own datasets/evaluate stack):
  .venv/bin/python -m venv /work/lmeval-venv && /work/lmeval-venv/bin/pip install torch==2.13.0 lm_eval==0.4.13 \
      transformers==5.24.0 accelerate gguf

The default GGUF model is dequantized once (transformers) into a Hugging Face folder, unless --hf-dir names one.
lm-eval (its `hf` backend, float32, CPU) runs on that folder as a subprocess, on a local JSONL task written here
(`dataset_path: json`, `output_type: multiple_choice`, the prompt "Question: ...\\nAnswer:", choices after a
space). weightwarden scores the same items with the transformers runtime on the same folder and with llama.cpp on
the GGUF file. Nothing is downloaded: HF_HUB_OFFLINE and HF_DATASETS_OFFLINE are set for both.
The time ratio is lm-eval's wall time (its process: start, import, load, evaluate) over ours (load and score,
in this process); lm-eval's own evaluation time, without start-up, is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from easy_mc import EASY_MC, load_items, score_items  # noqa: E402
from weightwarden.runtimes.artifact import default_model_path  # noqa: E402

TASK_NAME = "ww_shared_mc"
TASK_YAML = """task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: answer
target_delimiter: " "
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: acc_norm
    aggregation: mean
    higher_is_better: true
"""


def dequantize(gguf: Path, out: Path) -> None:
    """The GGUF file as a float32 Hugging Face folder (model and tokenizer)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # the weights are already float32; the GGUF quantizer left behind only blocks save_pretrained
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tok.save_pretrained(out)


def run_lm_eval(python: str, hf_dir: Path, items_path: Path, work: Path, batch_size: int) -> dict[str, Any]:
    task_dir = work / "tasks"
    task_dir.mkdir(parents=True, exist_ok=True)
    (task_dir / f"{TASK_NAME}.yaml").write_text(TASK_YAML.format(name=TASK_NAME, data=items_path.resolve()))
    out_dir = work / "lm_eval_out"
    cmd = [
        python, "-m", "lm_eval", "run",
        "--model", "hf",
        "--model_args", f"pretrained={hf_dir},dtype=float32",
        "--tasks", TASK_NAME,
        "--include_path", str(task_dir),
        "--device", "cpu",
        "--batch_size", str(batch_size),
        "--output_path", str(out_dir),
        "--log_samples",
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("PYTHONPATH", None)  # lm-eval runs in its own venv; our source tree is not its business
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-8000:])
        raise SystemExit(f"lm-eval failed with exit code {proc.returncode}")
    results_file = max(out_dir.rglob("results_*.json"), key=lambda p: p.stat().st_mtime)
    results = json.loads(results_file.read_text())
    res = results["results"][TASK_NAME]
    samples_file = max(out_dir.rglob(f"samples_{TASK_NAME}_*.jsonl"), key=lambda p: p.stat().st_mtime)
    per_item = {}
    for line in samples_file.read_text().splitlines():
        s = json.loads(line)
        per_item[str(s["doc"]["id"])] = (float(s["acc"]), float(s["acc_norm"]))
    return {
        "acc": float(res["acc,none"]),
        "acc_norm": float(res["acc_norm,none"]),
        "n": len(per_item),
        "wall_s": wall,
        "eval_s": float(results.get("total_evaluation_time_seconds", "nan")),
        "per_item": per_item,
    }


def run_ours(backend: str, path: Path, items: list[dict[str, Any]], batched: bool) -> dict[str, Any]:
    t0 = time.perf_counter()
    if backend == "transformers":
        from weightwarden.runtimes.hf import TransformersRuntime

        rt: Any = TransformersRuntime(path)
    else:
        from weightwarden.runtimes.llamacpp import LlamaCppRuntime

        rt = LlamaCppRuntime(path, n_ctx=2048)
    scores = score_items(rt, items, batched=batched)
    wall = time.perf_counter() - t0
    rt.close()
    per_item: dict[str, list[float]] = {}
    for s in scores:
        per_item.setdefault(s.item_id, [0.0, 0.0])[0 if s.metric == "acc" else 1] = s.value
    n = len(per_item)
    return {
        "acc": sum(v[0] for v in per_item.values()) / n,
        "acc_norm": sum(v[1] for v in per_item.values()) / n,
        "n": n,
        "wall_s": wall,
        "per_item": {k: tuple(v) for k, v in per_item.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=Path, default=EASY_MC, help="JSONL: id, question, choices, answer (index).")
    ap.add_argument("--lm-eval-python", default="/work/lmeval-venv/bin/python")
    ap.add_argument("--hf-dir", type=Path, default=None, help="A dequantized folder to reuse (default: make one).")
    ap.add_argument("--batch-size", type=int, default=16, help="lm-eval's --batch_size (1: one request at a time).")
    ap.add_argument("--unbatched", action="store_true", help="Score ours one request at a time (default: batched).")
    ap.add_argument("--json", action="store_true", help="Print the summary as JSON instead of a table.")
    ap.add_argument("--out", type=Path, default=None, help="Also write the summary as JSON to this file.")
    args = ap.parse_args()
    gguf = default_model_path()
    items = load_items(args.items)
    with tempfile.TemporaryDirectory(prefix="ww-vs-lmeval-") as tmp:
        work = Path(tmp)
        hf_dir = args.hf_dir
        if hf_dir is None:
            hf_dir = work / "hf"
            t0 = time.perf_counter()
            dequantize(gguf, hf_dir)
            print(f"dequantized {gguf.name} into {hf_dir} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        lm = run_lm_eval(args.lm_eval_python, hf_dir, args.items, work, args.batch_size)
        hf = run_ours("transformers", hf_dir, items, not args.unbatched)
        ll = run_ours("llama.cpp", gguf, items, not args.unbatched)
    rows = {"lm-eval (hf)": lm, "weightwarden transformers": hf, "weightwarden llama.cpp": ll}
    agree = {name: sum(r["per_item"][k][0] == lm["per_item"][k][0] for k in lm["per_item"]) for name, r in rows.items()}
    summary = {
        "task": args.items.name,
        "n": lm["n"],
        "lm_eval_batch_size": args.batch_size,
        "ours_batched": not args.unbatched,
        **{
            name: {k: r[k] for k in ("acc", "acc_norm", "wall_s")} | {"acc_agree_with_lm_eval": agree[name]}
            for name, r in rows.items()
        },
        "lm_eval_eval_s": lm["eval_s"],
        "acc_diff_points_transformers": 100 * (hf["acc"] - lm["acc"]),
        "acc_norm_diff_points_transformers": 100 * (hf["acc_norm"] - lm["acc_norm"]),
        "acc_diff_points_llamacpp": 100 * (ll["acc"] - lm["acc"]),
        "acc_norm_diff_points_llamacpp": 100 * (ll["acc_norm"] - lm["acc_norm"]),
        "time_ratio_lm_eval_over_transformers": lm["wall_s"] / hf["wall_s"],
        "time_ratio_lm_eval_over_llamacpp": lm["wall_s"] / ll["wall_s"],
    }
    if args.out is not None:
        args.out.write_text(json.dumps(summary, indent=2) + "\n")
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(f"task: {args.items.name}, {lm['n']} items, same weights (default GGUF; dequantized for hf)")
    print(f"lm-eval --batch_size {args.batch_size}; ours {'one request at a time' if args.unbatched else 'batched'}")
    print(f"{'':28} {'acc':>7} {'acc_norm':>9} {'wall s':>8} {'same acc as lm-eval':>20}")
    for name, r in rows.items():
        print(f"{name:28} {r['acc']:7.4f} {r['acc_norm']:9.4f} {r['wall_s']:8.1f} {agree[name]:>14}/{lm['n']}")
    print(f"lm-eval evaluation alone (no start-up): {lm['eval_s']:.1f} s")
    for tag, r in (("transformers", hf), ("llama.cpp", ll)):
        print(
            f"difference {tag} - lm-eval: acc {100 * (r['acc'] - lm['acc']):+.2f} points, "
            f"acc_norm {100 * (r['acc_norm'] - lm['acc_norm']):+.2f} points; "
            f"wall-time ratio lm-eval / {tag}: {lm['wall_s'] / r['wall_s']:.2f}x"
        )


if __name__ == "__main__":
    main()
