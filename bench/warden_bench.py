"""`warden bench` for real: the default model on llama.cpp against (1) the same model behind a local `warden serve`
on loopback, standing in for a cloud endpoint, and (2) transformers on the same GGUF file (dequantized).

Run: .venv/bin/python bench/warden_bench.py [--clients 4] [--items 20] [--prompts 8] [--max-tokens 64]
                                            [--skip-transformers]

Each comparison is one `warden bench` command (printed), run in a subprocess with its own WARDEN_HOME; the gateway
runs with no guard and no sketches, so it adds only HTTP and its queue. The baseline is the first backend, measured
in the same run: the ratio columns are backend / baseline. Writes bench/results/warden_bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ADMIN = "ww-bench-admin-secret-for-loopback"
OUT = Path(__file__).resolve().parent / "results" / "warden_bench.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def warden(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "weightwarden.cli.main", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env)


def serve(home: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    policy = home / "policy.yaml"
    policy.write_text("input: {}\noutput: {}\nsketches: false\n")
    port = free_port()
    env = {**os.environ, "WARDEN_HOME": str(home), "WARDEN_ADMIN_KEY": ADMIN}
    args = ["serve", "default", "--port", str(port), "--no-embedder", "--quiet", "--policy", str(policy)]
    proc = subprocess.Popen([sys.executable, "-m", "weightwarden.cli.main", *args], env=env)
    root = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while True:
        try:
            if httpx.get(f"{root}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.time() > deadline or proc.poll() is not None:
            proc.kill()
            raise SystemExit("warden serve did not come up")
        time.sleep(0.3)
    key = httpx.post(f"{root}/admin/keys", headers={"Authorization": f"Bearer {ADMIN}"}, json={"name": "bench"})
    return proc, f"{root}/v1", key.json()["key"]


def bench(backends: list[str], args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    flags = ["--clients", str(args.clients), "--items", str(args.items), "--prompts", str(args.prompts)]
    flags += ["--max-tokens", str(args.max_tokens)]
    command = ["warden", "bench", *backends, *flags]
    print("$ " + " ".join(command), file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    done = warden("bench", *backends, *flags, "--json", env=env)
    if done.returncode != 0:
        raise SystemExit(f"warden bench failed ({done.returncode}): {done.stderr[-2000:]}")
    data = json.loads(done.stdout)
    rows = data["rows"]
    base = rows[0]
    for r in rows:
        r["ratio_tok_s_1"] = r["tok_s_1"] / base["tok_s_1"] if base["tok_s_1"] else None
        r["ratio_tok_s_n"] = r["tok_s_n"] / base["tok_s_n"] if base["tok_s_n"] else None
    return {"command": " ".join(command), "seconds": round(time.perf_counter() - t0, 1), **data}


def show(run: dict[str, Any]) -> None:
    n = run["workload"]["clients"]
    print(f"\n{run['command']}  (run {run['run_id']}, {run['seconds']} s)")
    head = f"{'backend':<48} {'tok/s@1':>8} {f'tok/s@{n}':>8} {'x base':>7} {'TTFT@1 p50/p99':>15} "
    print(head + f"{f'TTFT@{n} p50/p99':>16} {'quality':>8} {'p':>5} {'$/1M':>8}  cost source")
    for r in run["rows"]:
        usd = "-" if r["usd_per_1m"] is None else f"{r['usd_per_1m']:.4f}"
        print(
            f"{r['backend'][:48]:<48} {r['tok_s_1']:>8.1f} {r['tok_s_n']:>8.1f} {r['ratio_tok_s_n']:>6.2f}x "
            f"{r['ttft_p50_ms_1']:>7.0f}/{r['ttft_p99_ms_1']:<7.0f} "
            f"{r['ttft_p50_ms_n']:>7.0f}/{r['ttft_p99_ms_n']:<8.0f} "
            f"{r['quality']:>8.3f} {r['quality_p']:>5.2g} {usd:>8}  {r['cost_source']}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--items", type=int, default=20)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--skip-transformers", action="store_true")
    args = ap.parse_args()
    started = datetime.now(UTC)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        serve_home, bench_home = Path(tmp, "serve"), Path(tmp, "bench")
        serve_home.mkdir()
        proc, url, key = serve(serve_home)
        try:
            env = {**os.environ, "WARDEN_HOME": str(bench_home), "OPENAI_API_KEY": key, "COLUMNS": "200"}
            runs.append(bench(["default", f"openai:{url}#default"], args, env))
        finally:
            proc.terminate()
            proc.wait(timeout=60)
        if not args.skip_transformers:
            runs.append(bench(["default", "transformers:default"], args, env))
    for run in runs:
        show(run)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "measured_at_utc": started.isoformat(timespec="seconds"),
                "machine": {
                    "node": platform.node(),
                    "cpu": platform.processor() or platform.machine(),
                    "cores": os.cpu_count(),
                    "python": platform.python_version(),
                },
                "gpu": "none on this machine: vLLM cannot run here, so no GPU upstream was measured",
                "runs": runs,
            },
            indent=2,
        )
    )
    print(f"\nwrote {OUT}")


if __name__ == "__main__":
    main()
