"""What per-key limits kept in the ledger cost a request: count, reserve and settle, on SQLite and PostgreSQL.

Run: .venv/bin/python bench/limits.py [--cycles 500] [--threads 8] [--pg URL] [--json] [--out FILE]

A cycle is what the gateway does for one request of a key with an rpm, a tpm and both budgets (none of them
refusing): count_request, reserve, then settle (queued; the time includes waiting for every settlement to be written
at the end). It runs `--cycles` times from one thread, then from `--threads` threads at once (one key each, as
replicas serving different keys would; and all on one key, where the key's row lock orders them). The baseline,
measured in the same run, is the same cycle for a key without limits (no database work), and a 16-token answer of
the default model called directly, for scale: `share` is a cycle's time over that answer's. On a busy machine the
wall times are mostly waits for a core (each decision crosses threads); one_thread_cpu_us is the CPU this process
spent per cycle (on SQLite, all of the database's work too), which load does not inflate as much.
--pg takes a postgresql+psycopg:// URL (an empty database or schema); without it only SQLite is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def cycles(limiter: Any, callers: list[Any], n: int, cpu: list[float] | None = None) -> float:
    """Seconds per cycle: n cycles spread over one thread per caller, each thread cycling its caller.

    cpu: gets this process's CPU seconds per cycle (all its threads; on SQLite that is all the database work).
    """
    per = max(1, n // len(callers))

    def run(caller: Any) -> None:
        for _ in range(per):
            limiter.count_request(caller)
            held = limiter.reserve(caller, 40, 0.0001)
            limiter.settle(held, 30, 0.00008)

    threads = [threading.Thread(target=run, args=(c,)) for c in callers]
    c0, t0 = time.process_time(), time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    limiter._ledger.flush()  # the settlements are part of the cost
    if cpu is not None:
        cpu.append((time.process_time() - c0) / (per * len(callers)))
    return (time.perf_counter() - t0) / (per * len(callers))


def measure(url: str, n: int, threads: int) -> dict[str, Any]:
    from weightwarden.gateway.auth import Caller, KeyStore
    from weightwarden.gateway.limits import Limiter
    from weightwarden.ledger import Ledger

    with Ledger(url) as ledger:
        big = 10**12

        def key(**limits: Any) -> Caller:
            _, rec = KeyStore(ledger).create("bench", **limits)
            return Caller(rec.id, "bench", False, rec)

        limits = {"rpm": 10**9, "tpm": 10**9, "budget_tokens": big, "budget_usd": 1e9}  # rpm, tpm: 32-bit columns
        limiter = Limiter(ledger)
        cycles(limiter, [key(**limits)], min(n, 50))  # warm the pool and the statement caches
        shared = key(**limits)
        cpu: list[float] = []
        return {
            "ledger": ledger.dialect,
            "open_key_us": cycles(limiter, [key()], n) * 1e6,
            "one_thread_us": cycles(limiter, [key(**limits)], n, cpu) * 1e6,
            "one_thread_cpu_us": cpu[0] * 1e6,
            f"{threads}_threads_{threads}_keys_us": cycles(limiter, [key(**limits) for _ in range(threads)], n) * 1e6,
            f"{threads}_threads_one_key_us": cycles(limiter, [shared] * threads, n) * 1e6,
            "budget_only_us": cycles(limiter, [key(budget_tokens=big)], n) * 1e6,
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cycles", type=int, default=500)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--pg", help="A PostgreSQL URL to measure too.")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    from weightwarden.runtimes import GenerationParams, Message, resolve
    from weightwarden.runtimes.llamacpp import LlamaCppRuntime

    artifact = resolve("default")
    assert artifact.path is not None
    rt = LlamaCppRuntime(artifact.path)
    prompt = [Message("user", "Count from one to one hundred in words, separated by commas.")]
    rt.chat(prompt, GenerationParams(max_tokens=4))
    t0 = time.perf_counter()
    for _ in range(3):
        rt.chat(prompt, GenerationParams(max_tokens=16))
    answer_ms = (time.perf_counter() - t0) / 3 * 1000
    rt.close()

    tmp = Path(tempfile.mkdtemp(prefix="warden-bench-limits-"))
    rows = [measure(f"sqlite:///{tmp / 'ledger.db'}", args.cycles, args.threads)]
    if args.pg:
        rows.append(measure(args.pg, args.cycles, args.threads))
    report = {
        "machine": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_average_1m_at_end": os.getloadavg()[0],
        "cycles": args.cycles,
        "answer_16_tokens_ms": answer_ms,
        "ledgers": rows,
    }
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(
        f"a 16-token answer of the default model, direct: {answer_ms:.0f} ms "
        f"({report['cores']} cores, load {report['load_average_1m_at_end']:.1f})"
    )
    for row in rows:
        print(f"{row['ledger']}: µs per request (count + reserve + settle), share of one answer")
        for name, value in row.items():
            if name != "ledger":
                print(f"  {name:<28} {value:>9.0f} µs  {value / 1000 / answer_ms:>7.2%}")


if __name__ == "__main__":
    main()
