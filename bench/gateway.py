"""Requests/s and p50/p99 latency of short chat completions through the gateway against the runtime called directly.

Run: .venv/bin/python bench/gateway.py [--clients 1,4] [--requests 40] [--max-tokens 8] [--guard] [--json]
Both paths use one llama.cpp runtime in this process, N concurrent clients and the same prompt; the gateway path
adds HTTP over loopback, JSON, the key check, limits, the queue, the audit row (and the guard with --guard).
The ratio column is gateway / direct. With one client the ratio is the gateway's overhead per request; with several,
both paths wait for the one model, and the gateway's first-come-first-served queue trades a higher median for a
much lower p99 than threads racing for the runtime's lock.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import httpx
import uvicorn

from weightwarden.gateway import GatewayConfig, ModelSpec, create_app
from weightwarden.gateway.auth import KeyStore
from weightwarden.gateway.policy import parse_serving_policy
from weightwarden.ledger import Ledger
from weightwarden.runtimes import GenerationParams, Message, resolve
from weightwarden.runtimes.llamacpp import LlamaCppRuntime

QUESTION = "Which city is the capital of France?"


def measure(call: Callable[[], None], clients: int, requests: int) -> dict[str, float]:
    """Run `requests` calls from `clients` threads; requests/s and latency percentiles in ms."""
    latencies: list[float] = []
    lock = threading.Lock()

    def one(_: int) -> None:
        t0 = time.perf_counter()
        call()
        with lock:
            latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(requests)))
    wall = time.perf_counter() - t0
    ms = sorted(x * 1000 for x in latencies)
    return {
        "rps": requests / wall,
        "p50_ms": statistics.median(ms),
        "p99_ms": ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))],
    }


def direct_call(rt: LlamaCppRuntime, params: GenerationParams) -> None:
    rt.chat([Message("user", QUESTION)], params)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", default="1,4", help="Comma-separated numbers of concurrent clients.")
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--max-tokens", type=int, default=8)
    ap.add_argument("--guard", action="store_true", help="Run the guard's bundled policy on input and output.")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    artifact = resolve("default")
    assert artifact.path is not None
    rt = LlamaCppRuntime(artifact.path)
    params = GenerationParams(max_tokens=args.max_tokens)
    rt.chat([Message("user", QUESTION)], params)  # warm up
    counts = [int(c) for c in args.clients.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="warden-bench-"))
    url = f"sqlite:///{tmp / 'ledger.db'}"
    serving = parse_serving_policy({} if args.guard else {"input": {}, "output": {}}, "bench")
    ledger = Ledger(url)
    secret, _ = KeyStore(ledger).create("bench")
    config = GatewayConfig(
        ledger_url=url,
        models=(ModelSpec("default", runtime=rt, model_hash=artifact.sha256, slots=max(counts) * 2),),
        policy=serving,
    )
    app = create_app(config, ledger=ledger)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    body = {
        "model": "default",
        "messages": [{"role": "user", "content": QUESTION}],
        "max_tokens": args.max_tokens,
        "temperature": 0,
    }
    local = threading.local()

    def via_gateway() -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(headers={"Authorization": f"Bearer {secret}"}, timeout=300)
        resp = client.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body)
        if resp.status_code != 200:
            sys.exit(f"the gateway answered {resp.status_code}: {resp.text}")

    via_gateway()  # warm up
    results: dict[str, dict[str, dict[str, float]]] = {}
    for n in counts:
        direct = measure(lambda: direct_call(rt, params), n, args.requests)
        results[str(n)] = {"direct": direct, "gateway": measure(via_gateway, n, args.requests)}
    server.should_exit = True
    thread.join(timeout=30)
    ledger.flush()
    audited = len(ledger.requests(limit=100_000))
    ledger.close()

    meta = {
        "machine": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "load_average_1m": os.getloadavg()[0],
        "requests": args.requests,
        "max_tokens": args.max_tokens,
        "guard": args.guard,
        "audit_rows": audited,
    }
    if args.json:
        print(json.dumps({**meta, "clients": results}, indent=2))
        return
    guard = "on" if args.guard else "off"
    print(
        f"{args.requests} chat completions of {args.max_tokens} tokens each, guard {guard}, {os.cpu_count()} cores "
        f"(load average {meta['load_average_1m']:.1f}); {audited} audit rows written"
    )
    print(f"{'clients':<9}{'measure':<10}{'direct':>12}{'gateway':>12}{'ratio':>10}")
    for clients, pair in results.items():
        for key in ("rps", "p50_ms", "p99_ms"):
            a, b = pair["direct"][key], pair["gateway"][key]
            print(f"{clients:<9}{key:<10}{a:>12.2f}{b:>12.2f}{b / a:>9.2f}x")


if __name__ == "__main__":
    main()
