"""What the portable llama.cpp build costs: the same generation and scoring on the AVX2 build against a native one.

Run: .venv/bin/python bench/llama_builds.py [--rounds 3] [--json]

`make` keeps each llama-cpp-python wheel it builds in ~/.cache/weightwarden/wheels/<version>-<flavour>; build the
other flavour once with `make LLAMA_CPU=native` (or avx2) in a scratch clone. Each wheel is unpacked into a folder of
its own and put first on PYTHONPATH of a child process that runs bench/runtime.py's measurement (llama.cpp only, one
fixed thread count so that the builds alone differ); the flavours alternate for --rounds rounds and the best of each
is kept. The ratio column is native / avx2. It also checks whether the two builds agree: the default model's greedy
answer to one question and the largest difference between their logits on one prompt.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEELS = Path(os.environ.get("WHEELS", Path.home() / ".cache" / "weightwarden" / "wheels"))

CHILD = r"""
import json, os, sys, time
import numpy as np
import llama_cpp
from weightwarden.runtimes import GenerationParams, Message, resolve
from weightwarden.runtimes.llamacpp import LlamaCppRuntime
from weightwarden.runtimes.speed import measure_speed
rt = LlamaCppRuntime(resolve("default").path, threads=int(sys.argv[1]))
rt.complete("Warm up.", GenerationParams(max_tokens=4))
speed = measure_speed(rt, repeats=2)
t0 = time.perf_counter()
for _ in range(20):
    rt.loglikelihood("The capital of France is", " Paris")
ll_ms = (time.perf_counter() - t0) / 20 * 1000
answer = rt.chat([Message("user", "Which city is the capital of France?")], GenerationParams(max_tokens=16)).text
logits = rt.logits(rt.tokenize("The quick brown fox jumps over the lazy dog, and then it runs into the forest."))
np.save(sys.argv[2], logits)
print(json.dumps({
    "system_info": llama_cpp.llama_print_system_info().decode().strip(),
    "prompt_tok_s": speed.prompt_tokens_per_s, "gen_tok_s": speed.generation_tokens_per_s,
    "first_token_ms": speed.first_token_s * 1000, "loglikelihood_ms": ll_ms, "answer": answer,
}))
"""


def unpack(wheel: Path, into: Path) -> Path:
    with zipfile.ZipFile(wheel) as z:
        z.extractall(into)
    return into


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    found = {}
    for flavour in ("avx2", "native"):
        wheels = sorted(WHEELS.glob(f"llama-cpp-python-*-{flavour}/llama_cpp_python-*.whl"))
        if not wheels:
            sys.exit(f"no {flavour} wheel under {WHEELS}: run `make LLAMA_CPU={flavour}` once in a scratch clone")
        found[flavour] = wheels[-1]
    tmp = Path(tempfile.mkdtemp(prefix="warden-builds-"))
    paths = {f: unpack(w, tmp / f) for f, w in found.items()}
    src = Path(__file__).resolve().parents[1] / "src"
    best: dict[str, dict[str, float]] = {}
    seen: dict[str, dict[str, str]] = {}
    for _ in range(args.rounds):
        for flavour, path in paths.items():
            env = {**os.environ, "PYTHONPATH": f"{path}{os.pathsep}{src}", "HF_HUB_OFFLINE": "1"}
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(args.threads), str(tmp / f"{flavour}.npy")],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            )
            got = json.loads(out.stdout.strip().splitlines()[-1])
            seen[flavour] = {"system_info": got.pop("system_info"), "answer": got.pop("answer")}
            mine = best.setdefault(flavour, got)
            for key, value in got.items():
                better = min if key.endswith("_ms") else max
                mine[key] = better(mine[key], value)
    import numpy as np

    gap = float(np.abs(np.load(tmp / "avx2.npy") - np.load(tmp / "native.npy")).max())
    report = {"threads": args.threads, "rounds": args.rounds, "best": best, "builds": seen, "max_logit_diff": gap}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"default model, llama.cpp, {args.threads} threads, best of {args.rounds} alternating rounds")
    for flavour, info in seen.items():
        print(f"  {flavour}: {info['system_info']}")
    print(f"{'measure':<18}{'avx2':>10}{'native':>10}{'native/avx2':>13}")
    for key in best["avx2"]:
        a, n = best["avx2"][key], best["native"][key]
        print(f"{key:<18}{a:>10.2f}{n:>10.2f}{n / a:>12.2f}x")
    print(f"greedy answers: avx2 {seen['avx2']['answer']!r}; native {seen['native']['answer']!r}")
    print(f"largest logit difference between the builds on one prompt: {gap:.4f}")


if __name__ == "__main__":
    main()
