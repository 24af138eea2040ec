"""Load time, prompt tokens/s and generation tokens/s of the default model: llama.cpp against transformers.

Run: .venv/bin/python bench/runtime.py [--repeats 3] [--skip-transformers] [--json]
Both runtimes load the same GGUF file in the same process; the ratio column is llama.cpp / transformers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from weightwarden.runtimes import GenerationParams, resolve
from weightwarden.runtimes.speed import measure_speed


def bench(backend: str, path: str, repeats: int) -> dict[str, float]:
    t0 = time.perf_counter()
    if backend == "llama.cpp":
        from weightwarden.runtimes.llamacpp import LlamaCppRuntime

        rt = LlamaCppRuntime(path)  # type: ignore[arg-type]
    else:
        from weightwarden.runtimes.hf import TransformersRuntime

        rt = TransformersRuntime(path)  # type: ignore[arg-type]
    load = time.perf_counter() - t0
    rt.complete("Warm up.", GenerationParams(max_tokens=4))
    speed = measure_speed(rt, repeats=repeats)
    t0 = time.perf_counter()
    for _ in range(20):
        rt.loglikelihood("The capital of France is", " Paris")
    ll_ms = (time.perf_counter() - t0) / 20 * 1000
    rt.close()
    return {
        "load_s": load,
        "prompt_tok_s": speed.prompt_tokens_per_s,
        "gen_tok_s": speed.generation_tokens_per_s,
        "first_token_ms": speed.first_token_s * 1000,
        "loglikelihood_ms": ll_ms,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-transformers", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    artifact = resolve("default")
    assert artifact.path is not None
    results = {"llama.cpp": bench("llama.cpp", str(artifact.path), args.repeats)}
    if not args.skip_transformers:
        results["transformers"] = bench("transformers", str(artifact.path), args.repeats)
    if args.json:
        print(
            json.dumps(
                {"machine": platform.processor() or platform.machine(), "cores": os.cpu_count(), **results}, indent=2
            )
        )
        return
    print(f"default model ({artifact.name}, {artifact.short_hash}) on {os.cpu_count()} cores, best of {args.repeats}")
    print(f"{'measure':<18}{'llama.cpp':>12}{'transformers':>14}{'ratio':>10}")
    for key in results["llama.cpp"]:
        a = results["llama.cpp"][key]
        b = results.get("transformers", {}).get(key)
        ratio = f"{a / b:.2f}x" if b else "-"
        print(f"{key:<18}{a:>12.2f}{(b if b is not None else float('nan')):>14.2f}{ratio:>10}")


if __name__ == "__main__":
    main()
