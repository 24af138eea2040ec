"""Load time, prompt tokens/s and generation tokens/s of the default model: llama.cpp against transformers.

Run: .venv/bin/python bench/runtime.py [--repeats 3] [--skip-transformers] [--json]
Both runtimes load the same GGUF file in the same process; the ratio column is llama.cpp / transformers.

Run: .venv/bin/python bench/runtime.py --busy [--seconds 20] [--json]
llama.cpp generation tok/s with the machine quiet and with one competing CPU-bound process, for the old default
(threads = every core, fixed) and the new one (threads chosen per call from the load), in one run; the ratio column
is busy / quiet. Each figure is the tokens generated over `--seconds` of back-to-back 64-token answers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
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


def _spin() -> subprocess.Popen[bytes]:
    """One CPU-bound process, as another user's job would be."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def generation_rate(rt: object, seconds: float) -> float:
    """Tokens per second over back-to-back 64-token answers for `seconds` (after one warm-up answer)."""
    from weightwarden.runtimes.llamacpp import LlamaCppRuntime

    assert isinstance(rt, LlamaCppRuntime)
    params = GenerationParams(max_tokens=64, stop=())
    prompt = "Count from one to one hundred in words: one, two, three,"
    rt.complete(prompt, params)
    tokens, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        tokens += rt.complete(prompt, params).completion_tokens
    return tokens / (time.perf_counter() - t0)


def busy(path: str, seconds: float) -> dict[str, dict[str, float]]:
    """Generation tok/s quiet and beside one CPU-bound process, for fixed all-core threads and the per-call choice."""
    from weightwarden.runtimes.llamacpp import LlamaCppRuntime
    from weightwarden.runtimes.threads import usable_cores

    cores = usable_cores()
    out: dict[str, dict[str, float]] = {}
    for name, threads in ((f"fixed {cores} threads (old default)", cores), ("chosen per call (new default)", 0)):
        rt = LlamaCppRuntime(path, threads=threads)  # type: ignore[arg-type]
        quiet = generation_rate(rt, seconds)
        other = _spin()
        try:
            time.sleep(1.0)  # let the competitor show up in /proc/stat before the first choice
            loaded = generation_rate(rt, seconds)
            chosen = rt.thread_choice.choose()
        finally:
            other.kill()
            other.wait()
        rt.close()
        out[name] = {"quiet_tok_s": quiet, "busy_tok_s": loaded, "ratio": loaded / quiet, "threads_when_busy": chosen}
        time.sleep(1.0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-transformers", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--busy", action="store_true", help="Quiet against one competing process, old and new threads.")
    ap.add_argument("--seconds", type=float, default=20.0, help="With --busy: seconds of generation per figure.")
    args = ap.parse_args()
    artifact = resolve("default")
    assert artifact.path is not None
    if args.busy:
        figures = busy(str(artifact.path), args.seconds)
        if args.json:
            print(json.dumps({"machine": platform.processor() or platform.machine(), "busy": figures}, indent=2))
            return
        print(f"default model, llama.cpp generation, {os.cpu_count()} cores, one competing CPU-bound process")
        print(f"{'threads':<36}{'quiet tok/s':>12}{'busy tok/s':>12}{'busy/quiet':>12}")
        for name, f in figures.items():
            print(f"{name:<36}{f['quiet_tok_s']:>12.1f}{f['busy_tok_s']:>12.1f}{f['ratio']:>11.2f}x")
        base, new = figures.values()
        print(f"new default busy / old default quiet: {new['busy_tok_s'] / base['quiet_tok_s']:.2f}x")
        return
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
