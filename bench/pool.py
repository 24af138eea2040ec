"""An upstream pool of two servers against one, at N concurrent clients, and one of the two killed mid-run.

Run: PYTHONPATH=src nice -n 10 python bench/pool.py [--clients 4] [--requests 6] [--max-tokens 16] [--write]

Two `warden serve default` processes (one llama.cpp thread each, no guard) are the upstreams; one gateway in this
process serves them as two public models: `one` (a pool of the first alone, the baseline) and `two` (a pool of
both). Clients are threads streaming chat completions with httpx (each sends --requests back to back); the bench
reports completion tok/s over the wall time, time to first token (p50/p99) and failures, then the ratio two / one,
measured in the same run (the rounds alternate one, two, one, two so that load from other jobs falls on both).

The kill case: the same clients on `two`, half of the requests streamed and half whole; the second upstream is
SIGKILLed as soon as it has two requests under way. It reports failed requests, those that failed before their first
token reached the client (the target is 0), the pool's retries and restarts, and the breaker's transitions.

On a machine with fewer free cores than upstreams, two upstreams are no faster than one: the pool spreads requests,
but the cores are the limit. --write stores the figures in bench/results/pool.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SECRET = "bench-pool-upstream"
KEY_ENV = "WW_BENCH_POOL_KEY"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def start_upstream(home: Path, port: int) -> subprocess.Popen[bytes]:
    home.mkdir(parents=True, exist_ok=True)
    (home / "routes.yaml").write_text("models:\n  default: {model: default, slots: 16}\n")
    (home / "policy.yaml").write_text("input: {}\noutput: {}\nsketches: false\n")
    env = {**os.environ, "WARDEN_HOME": str(home), "WARDEN_THREADS": "1", "WARDEN_ADMIN_KEY": SECRET}
    args = ["serve", "--routes", "routes.yaml", "--policy", "policy.yaml", "--no-embedder", "--quiet"]
    return subprocess.Popen(
        [sys.executable, "-m", "weightwarden.cli.main", *args, "--port", str(port)],
        cwd=home,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_up(port: int, proc: subprocess.Popen[bytes], timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the upstream on port {port} exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the upstream on port {port} did not start in {timeout:.0f} s")


def one_request(url: str, key: str, model: str, max_tokens: int, i: int, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": f"Write two sentences about the number {i}."}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": stream,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    out: dict[str, Any] = {"stream": stream, "text_chunks": 0, "tokens": 0, "ttft": None, "error": None}
    t0 = time.perf_counter()
    headers = {"Authorization": f"Bearer {key}"}
    try:
        if not stream:
            resp = httpx.post(f"{url}/chat/completions", json=body, headers=headers, timeout=300)
            data = resp.json()
            if resp.status_code != 200:
                out["error"] = f"{resp.status_code}: {data.get('error', {}).get('message', '')[:120]}"
            else:
                out["tokens"] = data["usage"]["completion_tokens"]
                out["text_chunks"] = int(bool(data["choices"][0]["message"]["content"]))
            return out
        with httpx.stream("POST", f"{url}/chat/completions", json=body, headers=headers, timeout=300) as resp:
            if resp.status_code != 200:
                out["error"] = f"{resp.status_code}: {resp.read()[:120]!r}"
                return out
            for line in resp.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                event = json.loads(line[6:])
                if "error" in event:
                    out["error"] = event["error"]["message"][:120]
                    break
                if event.get("usage"):
                    out["tokens"] = event["usage"]["completion_tokens"]
                for choice in event.get("choices", []):
                    if choice["delta"].get("content"):
                        out["text_chunks"] += 1
                        if out["ttft"] is None:
                            out["ttft"] = time.perf_counter() - t0
    except httpx.HTTPError as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    return out


def run_clients(
    url: str, key: str, model: str, clients: int, requests: int, max_tokens: int, *, mixed: bool = False
) -> tuple[list[dict[str, Any]], float]:
    results: list[dict[str, Any]] = []
    lock = threading.Lock()

    def client(c: int) -> None:
        for r in range(requests):
            i = c * requests + r
            got = one_request(url, key, model, max_tokens, i, stream=not (mixed and i % 2))
            with lock:
                results.append(got)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.perf_counter() - t0


def summary(results: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    tokens = sum(r["tokens"] for r in results)
    ttfts = [r["ttft"] for r in results if r["ttft"] is not None]
    return {
        "requests": len(results),
        "failed": sum(r["error"] is not None for r in results),
        "completion_tokens": tokens,
        "seconds": round(seconds, 2),
        "tok_per_s": round(tokens / seconds, 2),
        "ttft_p50_ms": round(percentile(ttfts, 0.5) * 1000, 1),
        "ttft_p99_ms": round(percentile(ttfts, 0.99) * 1000, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--requests", type=int, default=6, help="requests each client sends, back to back")
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=2, help="rounds of (one, two)")
    ap.add_argument("--write", action="store_true", help="write bench/results/pool.json")
    args = ap.parse_args()

    import uvicorn

    from weightwarden.gateway import GatewayConfig, ModelSpec, create_app
    from weightwarden.gateway.auth import KeyStore
    from weightwarden.gateway.config import PoolSettings
    from weightwarden.gateway.policy import parse_serving_policy
    from weightwarden.ledger import Ledger

    tmp = Path(tempfile.mkdtemp(prefix="bench-pool-"))
    ports = [free_port(), free_port()]
    procs = [start_upstream(tmp / f"up{i}", port) for i, port in enumerate(ports)]
    server: uvicorn.Server | None = None
    try:
        for port, proc in zip(ports, procs, strict=True):
            wait_up(port, proc)
        urls = [f"http://127.0.0.1:{p}/v1" for p in ports]
        os.environ[KEY_ENV] = SECRET
        settings = PoolSettings(failures=2, cooldown=5.0, health_every=1.0)
        specs = tuple(
            ModelSpec(name, "upstream", upstream_model="default", api_key_env=KEY_ENV, upstreams=ups, pool=settings)
            for name, ups in (("one", (urls[0],)), ("two", tuple(urls)))
        )
        db = f"sqlite:///{tmp / 'ledger.db'}"
        ledger = Ledger(db)
        config = GatewayConfig(
            ledger_url=db,
            models=specs,
            policy=parse_serving_policy({"input": {}, "output": {}, "sketches": False}, "bench"),
            admin_key="bench-admin",
        )
        app = create_app(config, ledger=ledger)
        key, _ = KeyStore(ledger).create("bench")
        gport = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=gport, log_level="error"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{gport}/v1"
        metrics = app.state.gateway.metrics

        one_request(url, key, "two", 4, 0, stream=True)  # warm both pools' clients and the upstreams' caches
        one_request(url, key, "two", 4, 1, stream=True)
        rounds: dict[str, list[dict[str, Any]]] = {"one": [], "two": []}
        for _ in range(args.rounds):
            for model in ("one", "two"):
                results, seconds = run_clients(url, key, model, args.clients, args.requests, args.max_tokens)
                rounds[model].append(summary(results, seconds))
                print(model, rounds[model][-1], flush=True)
        spread = {
            u: metrics.value("warden_upstream_requests_total", model="two", upstream=u, outcome="ok") for u in urls
        }

        def total(name: str) -> float:
            return sum(r[name] for r in rounds["two"]) / max(1e-9, sum(r[name] for r in rounds["one"]))

        # The kill case: the second upstream dies as soon as it has two requests under way.
        retries0 = metrics.value("warden_upstream_retries_total", model="two")
        restarts0 = metrics.value("warden_upstream_restarts_total", model="two")
        killed_at: list[float] = []

        def killer() -> None:
            deadline = time.time() + 120
            while time.time() < deadline:
                if metrics.value("warden_upstream_in_flight", model="two", upstream=urls[1]) >= 2:
                    procs[1].send_signal(signal.SIGKILL)
                    killed_at.append(time.time())
                    return
                time.sleep(0.005)

        k = threading.Thread(target=killer)
        k.start()
        results, seconds = run_clients(url, key, "two", args.clients, args.requests, args.max_tokens, mixed=True)
        k.join()
        failed = [r for r in results if r["error"] is not None]
        kill = {
            **summary(results, seconds),
            "killed": bool(killed_at),
            "streamed": sum(r["stream"] for r in results),
            "failed_streamed_after_text": sum(r["stream"] and r["text_chunks"] > 0 for r in failed),
            "failed_before_first_token": sum(r["text_chunks"] == 0 for r in failed),
            "errors": sorted({str(r["error"]) for r in failed}),
            "retries": metrics.value("warden_upstream_retries_total", model="two") - retries0,
            "restarts": metrics.value("warden_upstream_restarts_total", model="two") - restarts0,
            "breaker_opened": metrics.value(
                "warden_upstream_breaker_transitions_total", model="two", upstream=urls[1], state="open"
            ),
        }
        print("kill", kill, flush=True)
        load = os.getloadavg()
        report = {
            "bench": "pool",
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            "load_average_after": [round(x, 2) for x in load],
            "command": "PYTHONPATH=src nice -n 10 python bench/pool.py " + " ".join(sys.argv[1:]),
            "setup": {
                "upstreams": "2 x `warden serve default` (WARDEN_THREADS=1, no guard, 16 slots)",
                "clients": args.clients,
                "requests_per_client": args.requests,
                "max_tokens": args.max_tokens,
            },
            "one_upstream": rounds["one"],
            "two_upstreams": rounds["two"],
            "ratio_two_over_one": {
                "tok_per_s": round(
                    sum(r["tok_per_s"] for r in rounds["two"]) / sum(r["tok_per_s"] for r in rounds["one"]), 3
                ),
                "wall_seconds": round(total("seconds"), 3),
            },
            "two_upstreams_spread_ok_requests": spread,
            "kill_mid_run": kill,
        }
        print(json.dumps(report["ratio_two_over_one"]), flush=True)
        if args.write:
            out = Path(__file__).parent / "results" / "pool.json"
            out.write_text(json.dumps(report, indent=2) + "\n")
            print(f"wrote {out}")
    finally:
        if server is not None:
            server.should_exit = True
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()


if __name__ == "__main__":
    main()
