"""The gateway under the load a team brings: streaming clients at 1, 8 and 64 against the runtime called directly.

Run: .venv/bin/python bench/gateway.py [--clients 1,8,64] [--seconds 60] [--repeats 3] [--no-guard] [--sketch-cost]
[--json]

The gateway runs in this process (as `warden serve default` would, with the default guard policy unless
--no-guard) over one llama.cpp runtime; the clients run in a separate process (asyncio + httpx, real SSE parsing),
so they do not share this process's interpreter with the server. Each client streams chat completions back to back
for --seconds; on a 429 it waits what the gateway's retry-after-ms says (at most 60 s) and tries again, as the
openai client does. For each number of clients the bench prints total generated tok/s, time to first token (p50/p99) of
admitted requests (the first content event: with the guard on, the output guard holds back the first ~100
characters of an answer while it scans them), status counts, dropped connections, and audit rows against requests
sent. Tokens are the completion tokens each stream's usage chunk reports.

The baseline, measured in the same run, is the same runtime called directly (chat_stream) by the same number of
threads: ratio = gateway / direct. With --repeats, gateway and direct rounds are interleaved (the direct one
first every other round) and the ratio is the median of the rounds'; a crowd above 8 clients is compared likewise
with one client through the same gateway, measured in the round beside it. Each row also says where the CPU went
(in cores): the model (llama.cpp's threads and the thread that calls it), the gateway's serving work (the rest of
this process: event loop, request threads, audit writer), the client process, and the rest of the machine; the
direct baseline's line gives its process's and the machine's. Column `busy` is the share of the row's time the
model's queue spent running requests (the direct baseline keeps it near 1: a gateway below it leaves the model idle
between requests);
`parked`, after the status, counts requests admitted after waiting for their turn instead of a 429 (gateway/queue.py).
Before anything is measured the sketch embedder finishes loading and --warmup seconds of one client go through each
gateway and directly, so the first round pays for no loading. --sketch-cost serves a second gateway without
sketches on the same runtime and ledger and runs it next to the first in every round (alternating which goes
first): the line `sketches on/off` gives p50 request latency and tok/s of each and their difference. Since that
difference is small against a small machine's noise, the sketch's cost is also counted directly on every gateway
that makes sketches: the time a request's thread spends handing its sketch over (the only sketch work on the
request path) and, per request, the CPU time of the sketch thread and of the idle-priority embedder process. At the
end of each row the bench waits for that row's sketches, so they are charged to it and not to the next row.

With --limits, each number of clients also runs with a key that has an rpm, a tpm and token and USD budgets, all
too large to refuse, so that every admitted request is counted, reserved and settled in the ledger
(ledger/quota.py); the line `limits` gives that run against the open key's. --db puts the ledger in PostgreSQL (a
postgresql+psycopg:// URL) instead of a SQLite file.

The targets: 0 responses >= 500, 0 dropped, audit rows == requests, total tok/s at 64 clients >= 0.9x one
client's, TTFT p50 at 64 <= 2x one client's, gateway/direct >= 0.95x at 1 and 8 clients, and with --limits the
limited key within a few percent of the open one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

PROMPT = "Count from one to one hundred in words, separated by commas."


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- the client process ------------------------------------------------------------------------------------


async def _client(http: Any, url: str, max_tokens: int, until: float, out: dict[str, Any]) -> None:
    import httpx

    body = {
        "model": "default",
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    async with http:
        while time.monotonic() < until:
            t0 = time.monotonic()
            try:
                async with http.stream("POST", url, json=body) as resp:
                    out["status"][resp.status_code] += 1
                    if resp.status_code == 429:
                        await resp.aread()
                        wait = float(resp.headers.get("retry-after-ms", "1000")) / 1000
                        # as the openai client does (up to 60 s), but not past the end of the measurement
                        await asyncio.sleep(max(0.0, min(60.0, wait, until - time.monotonic())))
                        continue
                    if resp.status_code != 200:
                        await resp.aread()
                        out["errors"].append(f"{resp.status_code}: {resp.text[:200]}")
                        continue
                    first, tokens, done = None, 0, False  # tokens: the usage chunk's count (the guard may merge deltas)
                    async for line in resp.aiter_lines():
                        if not line.startswith("data: "):
                            continue
                        data = line[6:]
                        if data == "[DONE]":
                            done = True
                            break
                        event = json.loads(data)
                        if "error" in event:
                            out["errors"].append(str(event["error"])[:200])
                            break
                        if event.get("usage"):
                            tokens = int(event["usage"]["completion_tokens"])
                        delta = event["choices"][0]["delta"] if event.get("choices") else {}
                        if delta.get("content") and first is None:
                            first = time.monotonic() - t0
                    if not done:
                        out["dropped"] += 1
                        continue
                    out["tokens"] += tokens
                    out["completed"] += 1
                    out["latency"].append(time.monotonic() - t0)
                    if first is not None:
                        out["ttft"].append(first)
            except (httpx.HTTPError, OSError) as exc:
                out["dropped"] += 1
                out["errors"].append(f"{type(exc).__name__}: {exc}"[:200])


async def _load(url: str, key: str, clients: int, seconds: float, max_tokens: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": Counter(),
        "tokens": 0,
        "completed": 0,
        "dropped": 0,
        "ttft": [],
        "latency": [],
        "errors": [],
    }
    import ssl

    import httpx

    # Every client is made before the clock starts, with one TLS context between them: httpx loads the CA store for
    # each client it makes (py-spy, 64 clients: 90 of the client process's 153 samples in a 12 s row, about 0.45 s
    # of CPU beside the model in the row's first moments).
    tls = ssl.create_default_context()
    headers = {"Authorization": f"Bearer {key}"}
    https = [httpx.AsyncClient(timeout=httpx.Timeout(120.0), headers=headers, verify=tls) for _ in range(clients)]
    t0, cpu0 = time.monotonic(), sum(os.times()[:2])
    until = t0 + seconds
    await asyncio.gather(*(_client(http, url, max_tokens, until, out) for http in https))
    wall = time.monotonic() - t0
    return {
        "client_cpu_s": sum(os.times()[:2]) - cpu0,  # from when the clients were made to the end
        "wall_s": wall,
        "requests": sum(out["status"].values()),
        "status": {str(k): v for k, v in sorted(out["status"].items())},
        "completed": out["completed"],
        "dropped": out["dropped"],
        "tokens": out["tokens"],
        "tok_s": out["tokens"] / wall,
        "ttft_p50_ms": percentile(out["ttft"], 0.5) * 1000,
        "ttft_p99_ms": percentile(out["ttft"], 0.99) * 1000,
        "latency_p50_ms": percentile(out["latency"], 0.5) * 1000,
        "errors": out["errors"][:5],
    }


def client_main(argv: list[str]) -> None:
    url, key, clients, seconds, max_tokens = argv
    result = asyncio.run(_load(url, key, int(clients), float(seconds), int(max_tokens)))
    print(json.dumps(result))


# -- the direct baseline -------------------------------------------------------------------------------------


def direct(rt: Any, clients: int, seconds: float, max_tokens: int) -> dict[str, Any]:
    """The same runtime called by `clients` threads back to back (racing for its lock), streaming."""
    from weightwarden.runtimes import GenerationParams, Message

    params = GenerationParams(max_tokens=max_tokens)
    lock = threading.Lock()
    tokens: list[int] = []
    ttft: list[float] = []
    until = time.monotonic() + seconds

    latency: list[float] = []

    def one() -> None:
        while time.monotonic() < until:
            t0, first, n = time.monotonic(), None, 0
            for chunk in rt.chat_stream([Message("user", PROMPT)], params):
                if chunk.text:
                    n += 1
                    if first is None:
                        first = time.monotonic() - t0
            with lock:
                tokens.append(n)
                latency.append(time.monotonic() - t0)
                if first is not None:
                    ttft.append(first)

    t0, cpu0, busy0 = time.monotonic(), sum(os.times()[:2]), _machine_busy()
    threads = [threading.Thread(target=one) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    return {
        "requests": len(tokens),
        "tokens": sum(tokens),
        "tok_s": sum(tokens) / wall,
        "ttft_p50_ms": percentile(ttft, 0.5) * 1000,
        "ttft_p99_ms": percentile(ttft, 0.99) * 1000,
        "latency_p50_ms": percentile(latency, 0.5) * 1000,
        "cpu": {
            "process_cores": (sum(os.times()[:2]) - cpu0) / wall,
            "machine_cores": (_machine_busy() - busy0) / wall,
        },
    }


def _cpu_seconds(task_dirs: list[str]) -> float:
    """Seconds on a CPU of the given /proc task folders, summed (schedstat: nanoseconds; 0.0 where unreadable)."""
    total = 0
    for task in task_dirs:
        try:
            with open(f"{task}/schedstat", encoding="ascii") as f:
                total += int(f.read().split()[0])
        except (OSError, IndexError, ValueError):
            continue  # gone, or not Linux
    return total / 1e9


def _tasks(pid: int) -> list[str]:
    try:
        return [f"/proc/{pid}/task/{tid}" for tid in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []


class SketchMeter:
    """What a gateway's request sketches cost, counted directly: the time each request's thread spends handing its
    sketch over (SketchWorker.submit, the only sketch work on the request path), and the CPU seconds of the sketch
    thread (normal priority, in this process) and of the embedder child process (idle priority)."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker
        self.submit_ns: list[int] = []
        inner = worker.submit

        def timed(*args: Any, **kwargs: Any) -> None:
            t0 = time.perf_counter_ns()
            try:
                inner(*args, **kwargs)
            finally:
                self.submit_ns.append(time.perf_counter_ns() - t0)

        worker.submit = timed
        self._mark = self._cpu()

    def _cpu(self) -> tuple[int, float, float]:
        from weightwarden.monitor import embed_process

        tid = self.worker._thread.native_id
        thread = _cpu_seconds([f"/proc/self/task/{tid}"]) if tid else 0.0
        child = embed_process._shared.pid if embed_process._shared is not None else None
        return len(self.submit_ns), thread, _cpu_seconds(_tasks(child)) if child else 0.0

    def take(self) -> dict[str, Any]:
        """The costs since the previous take, per sketched request."""
        n0, thread0, child0 = self._mark
        self.worker.flush()  # sketches of this row are made now, not during the next one
        self._mark = self._cpu()
        n, thread, child = self._mark
        ns = sorted(self.submit_ns[n0:n])
        count = max(1, len(ns))
        return {
            "requests": len(ns),
            "submit_p50_us": percentile([x / 1000 for x in ns], 0.5) if ns else float("nan"),
            "submit_p99_us": percentile([x / 1000 for x in ns], 0.99) if ns else float("nan"),
            "thread_cpu_ms_per_request": (thread - thread0) * 1000 / count,
            "child_cpu_ms_per_request": (child - child0) * 1000 / count,
        }


def _machine_busy() -> float:
    """CPU seconds spent not idle on all cores since boot (/proc/stat; 0.0 where unreadable)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()[1:9]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields)
    except (OSError, ValueError):
        return 0.0
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """Where the CPU went during a row, in cores (CPU seconds per second of the row): the model (the queue's
    worker threads and llama.cpp's own threads, which Python does not know), the rest of this process (event loop,
    request threads, audit writer, sketch thread: the gateway's serving work), the client process, and everything
    else on the machine (the sketch embedder child included)."""

    def __init__(self) -> None:
        self._mark = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float, float]:
        python = {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
        model = 0.0
        for task in _tasks(os.getpid()):
            name = python.get(int(task.rsplit("/", 1)[1]))
            if name is None or name.startswith("model-") or name == "MainThread":
                model += _cpu_seconds([task])  # llama.cpp's threads, the Python thread calling it (or direct's)
        times = os.times()  # the process's threads that ended are still counted here
        return time.monotonic(), model, times.user + times.system - model, _machine_busy()

    def take(self, client_cpu_s: float) -> dict[str, float]:
        t0, model0, serving0, busy0 = self._mark
        self._mark = now = self._sample()
        span = max(1e-9, now[0] - t0)
        model, serving, busy = now[1] - model0, now[2] - serving0, now[3] - busy0
        return {
            "model_cores": model / span,
            "serving_cores": serving / span,
            "client_cores": client_cpu_s / span,
            "other_cores": max(0.0, busy - model - serving - client_cpu_s) / span,
        }


def ratio(a: float, b: float) -> float:
    """a / b, NaN when b is 0 (a side that generated nothing: its row's status and errors say why)."""
    return a / b if b else float("nan")


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_gateway(config: Any, ledger: Any) -> tuple[Any, threading.Thread, str, Any]:
    """Serve a gateway app for config on a free loopback port: (server, its thread, chat URL, the Gateway)."""
    import uvicorn

    from weightwarden.gateway import create_app

    app = create_app(config, ledger=ledger)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", backlog=4096, timeout_keep_alive=30)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}/v1/chat/completions", app.state.gateway


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", default="1,8,64", help="Comma-separated numbers of concurrent streaming clients.")
    ap.add_argument("--seconds", type=float, default=60.0, help="How long each number of clients streams.")
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--no-guard", action="store_true", help="Serve without the guard (the default policy is on).")
    ap.add_argument(
        "--no-sketches", action="store_true", help="Serve without request sketches for drift (the default makes one)."
    )
    ap.add_argument(
        "--sketch-cost",
        action="store_true",
        help="Also serve a second gateway without sketches (same runtime, same ledger) and, for each number of "
        "clients up to 8, run it in every round next to the one with sketches (in alternating order): prints p50 "
        "request latency and tok/s of each and their difference (the median over rounds).",
    )
    ap.add_argument(
        "--sketch-max-delay",
        type=float,
        help="Seconds a request's sketch may wait for an idle model (default: the product's, 300): a few seconds "
        "shows what sketches cost traffic that never pauses, since they are then made while the model generates.",
    )
    ap.add_argument("--slots", type=int, help="Requests admitted at once, running or waiting (default: the product's).")
    ap.add_argument(
        "--limits", action="store_true", help="Also run each row with a key that has every limit (none refuses)."
    )
    ap.add_argument("--db", help="Ledger URL (default: a SQLite file in a temporary folder).")
    ap.add_argument("--direct-seconds", type=float, default=20.0, help="How long each direct baseline runs.")
    ap.add_argument(
        "--warmup",
        type=float,
        default=5.0,
        help="Seconds of one client through each gateway, and as many direct calls, before anything is measured "
        "(after the sketch embedder has loaded): the first round does not pay for loading or first calls.",
    )
    ap.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="Rounds for each number of clients: up to 8 clients, gateway and direct interleaved (the direct one "
        "first every other round); above 8, the crowd and one client through the same gateway, interleaved alike. "
        "Ratios reported are the medians of the rounds' ratios (a single round on a small machine swings with "
        "whatever else runs).",
    )
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", type=Path, help="Also write the JSON result here.")
    args = ap.parse_args()

    from weightwarden.gateway import GatewayConfig, ModelSpec
    from weightwarden.gateway.auth import KeyStore
    from weightwarden.gateway.policy import parse_serving_policy
    from weightwarden.ledger import Ledger
    from weightwarden.runtimes import resolve
    from weightwarden.runtimes.llamacpp import LlamaCppRuntime

    artifact = resolve("default")
    assert artifact.path is not None
    rt = LlamaCppRuntime(artifact.path)
    counts = [int(c) for c in args.clients.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="warden-bench-"))
    url = args.db or f"sqlite:///{tmp / 'ledger.db'}"
    policy: dict[str, object] = {"input": {}, "output": {}} if args.no_guard else {}
    ledger = Ledger(url)
    secret, _ = KeyStore(ledger).create("bench")
    big = 10**12
    limited, _ = KeyStore(ledger).create("bench-limits", rpm=10**9, tpm=10**9, budget_tokens=big, budget_usd=1e9)
    spec = ModelSpec("default", runtime=rt, model_hash=artifact.sha256)
    if args.slots:
        spec = ModelSpec("default", runtime=rt, model_hash=artifact.sha256, slots=args.slots)

    def config(sketches: bool) -> GatewayConfig:
        serving = parse_serving_policy({**policy, "sketches": sketches}, "bench")
        return GatewayConfig(ledger_url=url, models=(spec,), policy=serving)

    main_gw = start_gateway(config(not args.no_sketches), ledger)
    other_gw = start_gateway(config(args.no_sketches), ledger) if args.sketch_cost else None
    gateways = [g for g in (main_gw, other_gw) if g is not None]
    endpoint = main_gw[2]

    meters = {g[2]: SketchMeter(g[3].audit.sketches) for g in gateways if g[3].audit.sketches is not None}
    if args.sketch_max_delay is not None:
        for g in gateways:
            if g[3].audit.sketches is not None:
                g[3].audit.sketches.max_delay = args.sketch_max_delay

    def through_gateway(n: int, key: str, seconds: float, at: str = endpoint) -> dict[str, Any]:
        gw = next(g[3] for g in gateways if g[2] == at)
        if at in meters:
            meters[at].take()  # start counting here
        queue = gw.router.backends["default"].queue
        before, busy0, parked0 = len(ledger.requests(limit=1_000_000)), queue.busy_seconds, queue.parked_admitted
        cpu = CpuMeter()
        proc = subprocess.run(
            [sys.executable, __file__, "--client", at, key, str(n), str(seconds), str(args.max_tokens)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            sys.exit(f"the load process failed: {proc.stderr[-2000:]}")
        load: dict[str, Any] = json.loads(proc.stdout)
        load["cpu"] = cpu.take(load.pop("client_cpu_s"))
        load["model_busy"] = (queue.busy_seconds - busy0) / load["wall_s"]  # the direct baseline's is about 1
        load["parked"] = queue.parked_admitted - parked0  # admitted after waiting for their turn instead of a 429
        ledger.flush()
        load["audit_rows"] = len(ledger.requests(limit=1_000_000)) - before
        if at in meters:
            load["sketch"] = meters[at].take()
        return load

    # Warm up both sides: the sketch embedder loads at gateway start (in the background); first calls are slow.
    for g in gateways:
        sketches = g[3].audit.sketches
        if sketches is not None:
            sketches.ready.wait(300)
    if args.warmup > 0:
        for g in gateways:
            through_gateway(1, secret, args.warmup, g[2])
        direct(rt, 1, args.warmup, args.max_tokens)
        for g in gateways:
            if g[3].audit.sketches is not None:
                g[3].audit.sketches.flush()
        time.sleep(1.0)

    results: dict[str, dict[str, Any]] = {}
    for n in counts:
        rounds = max(1, args.repeats)
        entry: dict[str, Any] = {}
        cost_rounds: list[dict[str, Any]] = []
        for r in range(rounds):
            # Every other round the baseline goes first, so a machine speeding up or slowing down during the row
            # favours neither side.
            early: dict[str, Any] | None = None
            if r % 2 == 1:
                if n <= 8:
                    early = direct(rt, n, args.direct_seconds, args.max_tokens)
                elif args.repeats > 1:
                    early = through_gateway(1, secret, args.seconds)
                time.sleep(1.0)
            other: dict[str, Any] | None = None
            if other_gw is not None and n <= 8 and r % 2 == 1:  # every other round, the other gateway goes first
                other = through_gateway(n, secret, args.seconds, other_gw[2])
                time.sleep(1.0)
            load = through_gateway(n, secret, args.seconds)
            time.sleep(1.0)
            if other_gw is not None and n <= 8 and other is None:
                other = through_gateway(n, secret, args.seconds, other_gw[2])
                time.sleep(1.0)
            if other is not None:
                on, off = (other, load) if args.no_sketches else (load, other)
                cost_rounds.append({"on": on, "off": off})
            if r == 0 and args.limits:
                entry["limits"] = through_gateway(n, limited, args.seconds)
                time.sleep(1.0)
            if n > 8 and args.repeats > 1:
                # A crowd is compared with one client measured right beside it, so the machine's drift between
                # rows (15-30% within minutes on a shared VM) does not decide the ratio.
                one = early or through_gateway(1, secret, args.seconds)
                time.sleep(1.0)
                entry.setdefault("against_one", []).append(
                    {
                        "tok_s": load["tok_s"],
                        "one_tok_s": one["tok_s"],
                        "tok_s_ratio": ratio(load["tok_s"], one["tok_s"]),
                        "ttft_p50_ms": load["ttft_p50_ms"],
                        "one_ttft_p50_ms": one["ttft_p50_ms"],
                        "ttft_ratio": ratio(load["ttft_p50_ms"], one["ttft_p50_ms"]),
                        "status": load["status"],
                        "dropped": load["dropped"],
                        "audit_rows": load["audit_rows"],
                        "requests": load["requests"],
                    }
                )
            base = early if n <= 8 and early is not None else None
            if n <= 8 and base is None:
                base = direct(rt, n, args.direct_seconds, args.max_tokens)
            if r == 0:
                entry["gateway"], entry["rounds"] = load, []
                if base is not None:
                    entry["direct"] = base
            if base is not None:
                entry["rounds"].append(
                    {
                        "gateway_tok_s": load["tok_s"],
                        "direct_tok_s": base["tok_s"],
                        "ratio": ratio(load["tok_s"], base["tok_s"]),
                        "model_busy": load["model_busy"],
                        "status": load["status"],
                        "ttft_p50_ms": load["ttft_p50_ms"],
                    }
                )
            time.sleep(1.0)
        if entry["rounds"]:
            ratios = sorted(x["ratio"] for x in entry["rounds"])
            entry["ratio_median"] = median(ratios)
            entry["ratio_range"] = [ratios[0], ratios[-1]]
        if pairs := entry.get("against_one"):
            tok, ttft = sorted(x["tok_s_ratio"] for x in pairs), sorted(x["ttft_ratio"] for x in pairs)
            entry["against_one_median"] = {
                "tok_s_ratio": median(tok),
                "tok_s_ratio_range": [tok[0], tok[-1]],
                "ttft_ratio": median(ttft),
                "ttft_ratio_range": [ttft[0], ttft[-1]],
                "status_5xx": sum(v for x in pairs for k, v in x["status"].items() if k.startswith("5")),
                "dropped": sum(x["dropped"] for x in pairs),
                "audit_rows_minus_requests": sum(x["audit_rows"] - x["requests"] for x in pairs),
            }
        if cost_rounds:
            entry["sketch_cost"] = {
                "rounds": [
                    {
                        side: {
                            k: x[side][k]
                            for k in ("tok_s", "latency_p50_ms", "ttft_p50_ms", "requests", "status", "sketch")
                            if k in x[side]
                        }
                        for side in ("on", "off")
                    }
                    for x in cost_rounds
                ],
                "latency_p50_ms_on": median([x["on"]["latency_p50_ms"] for x in cost_rounds]),
                "latency_p50_ms_off": median([x["off"]["latency_p50_ms"] for x in cost_rounds]),
                "latency_p50_diff_ms": median(
                    [x["on"]["latency_p50_ms"] - x["off"]["latency_p50_ms"] for x in cost_rounds]
                ),
                "tok_s_on": median([x["on"]["tok_s"] for x in cost_rounds]),
                "tok_s_off": median([x["off"]["tok_s"] for x in cost_rounds]),
                "tok_s_ratio": median([ratio(x["on"]["tok_s"], x["off"]["tok_s"]) for x in cost_rounds]),
                "latency_p50_diff_ms_range": [
                    min(x["on"]["latency_p50_ms"] - x["off"]["latency_p50_ms"] for x in cost_rounds),
                    max(x["on"]["latency_p50_ms"] - x["off"]["latency_p50_ms"] for x in cost_rounds),
                ],
                "direct": [x["on"]["sketch"] for x in cost_rounds if "sketch" in x["on"]],
            }
        results[str(n)] = entry
    for server, thread, _, _ in gateways:
        server.should_exit = True
        thread.join(timeout=30)
    ledger.close()
    rt.close()

    meta = {
        "machine": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_average_1m_at_end": os.getloadavg()[0],
        "seconds": args.seconds,
        "max_tokens": args.max_tokens,
        "guard": not args.no_guard,
        "sketches": not args.no_sketches,
        "warmup_s": args.warmup,
        "threads": rt.thread_choice.describe(),
        "slots": spec.slots,
        "ledger": ledger.dialect,
        "repeats": args.repeats,
        "sketch_max_delay_s": args.sketch_max_delay,
    }
    report = {**meta, "clients": results}
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print_report(meta, results)


def print_report(meta: dict[str, Any], results: dict[str, dict[str, Any]]) -> None:
    print(
        f"streaming chat completions of {meta['max_tokens']} tokens for {meta['seconds']:.0f} s per row, guard "
        f"{'on' if meta['guard'] else 'off'}, sketches {'on' if meta['sketches'] else 'off'}, {meta['slots']} slots, "
        f"{meta['cores']} cores, llama.cpp threads {meta['threads']}"
    )
    print(
        f"{'clients':>7} {'tok/s':>8} {'direct':>8} {'ratio':>6} {'TTFT p50':>9} {'p99':>8} "
        f"{'requests':>8} {'audit':>6} {'dropped':>7} {'busy':>5}  status"
    )
    one = results.get("1", {}).get("gateway")
    for n, entry in results.items():
        g, d = entry["gateway"], entry.get("direct")
        shown = f"{entry['ratio_median']:.2f}x" if d else "-"
        print(
            f"{n:>7} {g['tok_s']:>8.1f} {(d['tok_s'] if d else float('nan')):>8.1f} {shown:>6} "
            f"{g['ttft_p50_ms']:>7.0f}ms {g['ttft_p99_ms']:>6.0f}ms {g['requests']:>8} {g['audit_rows']:>6} "
            f"{g['dropped']:>7} {g['model_busy']:>5.2f}  {g['status']} parked {g['parked']}"
        )
        for err in g["errors"]:
            print(f"        error: {err}")
        if d and (cpu := d.get("cpu")):
            print(
                f"        direct CPU in cores: this process {cpu['process_cores']:.2f}, whole machine "
                f"{cpu['machine_cores']:.2f}"
            )
        if cpu := g.get("cpu"):
            print(
                f"        CPU in cores: model {cpu['model_cores']:.2f}, gateway's serving work "
                f"{cpu['serving_cores']:.2f}, clients {cpu['client_cores']:.2f}, rest of the machine "
                f"{cpu['other_cores']:.2f}"
            )
        if lim := entry.get("limits"):
            print(
                f"{'limits':>7} {lim['tok_s']:>8.1f} {'':>8} {ratio(lim['tok_s'], g['tok_s']):>5.2f}x "
                f"{lim['ttft_p50_ms']:>7.0f}ms {lim['ttft_p99_ms']:>6.0f}ms {lim['requests']:>8} "
                f"{lim['audit_rows']:>6} {lim['dropped']:>7}  {lim['status']}   (ratio: against the open key)"
            )
            for err in lim["errors"]:
                print(f"        error: {err}")
        if len(entry.get("rounds", [])) > 1:
            lo, hi = entry["ratio_range"]
            per_round = ", ".join(
                f"{x['gateway_tok_s']:.1f}/{x['direct_tok_s']:.1f} busy {x['model_busy']:.2f}" for x in entry["rounds"]
            )
            print(
                f"        gateway/direct over {len(entry['rounds'])} interleaved rounds: median "
                f"{entry['ratio_median']:.2f}x, range {lo:.2f}x-{hi:.2f}x ({per_round})"
            )
        if cost := entry.get("sketch_cost"):
            print(
                f"        sketches on/off over {len(cost['rounds'])} rounds (medians): p50 request latency "
                f"{cost['latency_p50_ms_on']:.1f}/{cost['latency_p50_ms_off']:.1f} ms, difference "
                f"{cost['latency_p50_diff_ms']:+.1f} ms; tok/s {cost['tok_s_on']:.1f}/{cost['tok_s_off']:.1f} "
                f"({cost['tok_s_ratio']:.2f}x); difference range {cost['latency_p50_diff_ms_range'][0]:+.1f} to "
                f"{cost['latency_p50_diff_ms_range'][1]:+.1f} ms"
            )
        if sketch := entry["gateway"].get("sketch"):
            print(
                f"        sketch cost counted directly: handing over {sketch['submit_p50_us']:.1f} us p50 "
                f"({sketch['submit_p99_us']:.1f} us p99) on the request path; off it, per request, "
                f"{sketch['thread_cpu_ms_per_request']:.2f} ms CPU in the sketch thread and "
                f"{sketch['child_cpu_ms_per_request']:.2f} ms in the idle-priority embedder process"
            )
    for n, entry in results.items():
        if m := entry.get("against_one_median"):
            lo, hi = m["tok_s_ratio_range"]
            print(
                f"{n} clients against one client measured beside each round, {len(entry['against_one'])} rounds "
                f"(medians): tok/s {m['tok_s_ratio']:.2f}x (range {lo:.2f}x-{hi:.2f}x), TTFT p50 "
                f"{m['ttft_ratio']:.2f}x (range {m['ttft_ratio_range'][0]:.2f}x-{m['ttft_ratio_range'][1]:.2f}x); "
                f"over all its rounds {m['status_5xx']} responses >= 500, {m['dropped']} dropped, audit rows minus "
                f"requests {m['audit_rows_minus_requests']}"
            )
    if one and "64" in results:
        g = results["64"]["gateway"]
        print(
            f"64 clients against one (its first round): tok/s {ratio(g['tok_s'], one['tok_s']):.2f}x, "
            f"TTFT p50 {ratio(g['ttft_p50_ms'], one['ttft_p50_ms']):.2f}x"
        )
        rounds = results["1"].get("rounds", [])
        if len(rounds) > 1:
            tok_s = median([x["gateway_tok_s"] for x in rounds])
            ttft = median([x["ttft_p50_ms"] for x in rounds])
            print(
                f"64 clients against one (the median of its {len(rounds)} rounds): tok/s "
                f"{ratio(g['tok_s'], tok_s):.2f}x, TTFT p50 {ratio(g['ttft_p50_ms'], ttft):.2f}x"
            )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client_main(sys.argv[2:])
    else:
        main()
