"""`warden bench` as a library: one workload against a list of backends, into one ledger run of kind `bench`.

with Ledger(url) as ledger:
    result = run_bench([parse_backend("default"), parse_backend("openai:http://127.0.0.1:8000/v1#default")],
                       Workload.bundled(8, clients=4, items=20), ledger, load_settings())
    print(result.run_id, result.rows)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from weightwarden.bench.backends import (
    BackendSpec,
    Target,
    check_reachable,
    open_backend,
    resolve_backend,
    runs_here,
)
from weightwarden.bench.energy import Cost, EnergyMeter, cost_per_million
from weightwarden.bench.latency import Phase, run_phase
from weightwarden.bench.quality import bench_tasks, evaluate, paired_quality
from weightwarden.bench.workload import Workload
from weightwarden.config import Settings
from weightwarden.errors import ConfigError
from weightwarden.ledger import ItemRecord, Ledger, ModelRecord
from weightwarden.runtimes import Artifact, GenerationParams, Message
from weightwarden.runtimes.platform_info import PLATFORM_KEY, platform_info

RUN_KIND = "bench"
WARMUP_TOKENS = 4
Say = Callable[[str], None]


@dataclass
class BackendResult:
    """One backend's measurements; quality is filled in once every backend has been evaluated."""

    spec: BackendSpec
    artifact: Artifact
    runtime: str
    concurrency: str
    phases: list[Phase]
    energy_j: float | None
    cost: Cost
    eval_run: str
    quality: dict[str, Any] = field(default_factory=dict)

    def phase(self, clients: int) -> Phase:
        return next(p for p in self.phases if p.clients == clients)

    def row(self, clients: int) -> dict[str, Any]:
        """The table's row: the figures at 1 and at `clients` clients, quality against the first backend, cost."""
        one, many = self.phase(1), self.phase(clients)
        q = self.quality
        return {
            "backend": self.spec.label,
            "runtime": self.runtime,
            "model_hash": self.artifact.sha256,
            "concurrency": self.concurrency,
            "tok_s_1": one.tokens_per_s,
            "ttft_p50_ms_1": one.ttft_p50_ms,
            "ttft_p99_ms_1": one.ttft_p99_ms,
            "clients": clients,
            "tok_s_n": many.tokens_per_s,
            "ttft_p50_ms_n": many.ttft_p50_ms,
            "ttft_p99_ms_n": many.ttft_p99_ms,
            "throttled": sum(p.throttled for p in self.phases),
            "quality": q.get("value"),
            "quality_n": q.get("n"),
            "quality_delta": q.get("delta"),
            "quality_p": q.get("p_value"),
            "quality_test": q.get("test"),
            "usd_per_1m": self.cost.usd_per_million,
            "cost_source": self.cost.source,
            "cost_kind": self.cost.kind,
        }

    def item(self, position: int) -> ItemRecord:
        a = self.artifact
        return ItemRecord(
            key=f"backend/{position:02d}",
            input={
                "position": position,
                "backend": self.spec.label,
                "ref": self.spec.ref,
                "runtime": self.runtime,
                "concurrency": self.concurrency,
                "model": {"name": a.name, "sha256": a.sha256, "format": a.format, "size_bytes": a.size_bytes},
            },
            output={
                "phases": [p.as_dict() for p in self.phases],
                "energy_j": self.energy_j,
                "cost": self.cost.as_dict(),
                "eval_run": self.eval_run,
                "quality": self.quality,
            },
            scores={k: v for k, v in self.row(max(p.clients for p in self.phases)).items() if isinstance(v, float)},
        )


@dataclass
class BenchResult:
    run_id: str
    workload: Workload
    backends: list[BackendResult]
    energy: str
    seconds: float

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [b.row(self.workload.clients) for b in self.backends]


def price_for(spec: BackendSpec, position: int, prices: Mapping[str, float]) -> float | None:
    """The hourly price given for this backend: by its label, its position (1-based), or for all ("*")."""
    for key in (spec.label, str(position), "*"):
        if key in prices:
            return prices[key]
    return None


def parse_prices(values: Sequence[str]) -> dict[str, float]:
    """`USD` (every backend) or `BACKEND=USD` (BACKEND: the backend as typed, or its position from 1)."""
    out: dict[str, float] = {}
    for text in values:
        key, sep, value = text.rpartition("=")
        key = key.strip() if sep else "*"
        try:
            price = float(value)
        except ValueError:
            price = -1.0
        if not price >= 0:
            raise ConfigError(
                f"--price-per-hour {text!r}: write USD (for every backend) or BACKEND=USD, e.g. 2=1.20 for the "
                "second backend at $1.20 an hour"
            )
        out[key] = price
    return out


def _measure(target: Target, workload: Workload, meter: EnergyMeter, say: Say) -> tuple[list[Phase], float | None]:
    params = GenerationParams(max_tokens=workload.max_tokens, temperature=0.0, seed=workload.seed)
    # A first request pays for cold caches and lazy setup; it is not timed.
    for _ in target.stream([Message("user", workload.prompts[0])], GenerationParams(max_tokens=WARMUP_TOKENS)):
        pass
    phases: list[Phase] = []
    joules: float | None = None
    for clients in workload.concurrency:
        say(f"{target.spec.label}: {clients} client(s) x {len(workload.prompts)} prompt(s)")
        before = target.throttled
        meter.start()
        phase = run_phase(target.stream, workload.prompts, clients, params)
        used = meter.stop() if meter.available else None
        phases.append(Phase(**{**phase.as_dict(), "throttled": target.throttled - before}))
        joules = used  # the cost comes from the last phase: the most concurrent one
    return phases, joules


def run_bench(
    specs: Sequence[BackendSpec],
    workload: Workload,
    ledger: Ledger,
    settings: Settings,
    *,
    prices: Mapping[str, float] | None = None,
    say: Say | None = None,
    eval_progress: Callable[[str], Callable[[int, int, str], None] | None] | None = None,
) -> BenchResult:
    """Measure every backend in turn (one loaded at a time), evaluate it, pair its quality with the first's, and
    write the ledger run. Every backend is resolved before any work starts, so a bad name fails at once."""
    if not specs:
        raise ConfigError("name at least one backend: `default`, a model path, or openai:http://host:port/v1#model")
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"a backend is named twice in {', '.join(labels)}: name each once")
    say = say or (lambda _: None)
    prices = dict(prices or {})
    unknown = set(prices) - {"*", *labels, *map(str, range(1, len(specs) + 1))}
    if unknown:
        raise ConfigError(
            f"--price-per-hour names {', '.join(sorted(unknown))}, which is not a backend: use a backend as typed "
            "or its position (1, 2, ...)"
        )
    started = time.perf_counter()
    artifacts = [resolve_backend(s, settings) for s in specs]
    for a in artifacts:
        check_reachable(a)
    tasks = bench_tasks(workload.tasks)
    meter = EnergyMeter()
    for a in artifacts:
        ledger.upsert_model(ModelRecord.of(a))
    config = {
        "workload": workload.as_dict(),
        "backends": [
            {"backend": s.label, "ref": s.ref, "runtime": s.runtime, "sha256": a.sha256}
            for s, a in zip(specs, artifacts, strict=True)
        ],
        "prices_per_hour": prices,
        "energy": meter.describe(),
        "usd_per_kwh": settings.usd_per_kwh,
        "power_watts": settings.power_watts,
        PLATFORM_KEY: platform_info(threads=settings.threads or None).as_dict(),
    }
    run_id = ledger.start_run(RUN_KIND, artifacts[0].sha256, config)
    results: list[BackendResult] = []
    try:
        for position, (spec, artifact) in enumerate(zip(specs, artifacts, strict=True), start=1):
            say(f"{spec.label}: loading")
            target = open_backend(spec, artifact, settings)
            try:
                phases, joules = _measure(target, workload, meter, say)
                say(f"{spec.label}: {len(tasks)} eval task(s) x {workload.items} item(s)")
                progress = eval_progress(spec.label) if eval_progress else None
                eval_run = evaluate(target.runtime, artifact.sha256, tasks, ledger, workload.items, progress)
                last = phases[-1]
                cost = cost_per_million(
                    tokens=last.tokens,
                    wall_s=last.wall_s,
                    joules=joules,
                    energy_source=meter.describe(),
                    price_per_hour=price_for(spec, position, prices),
                    usd_per_kwh=settings.usd_per_kwh,
                    power_watts=settings.power_watts,
                    runs_here=runs_here(artifact),
                )
                results.append(
                    BackendResult(
                        spec, artifact, target.runtime_name, target.concurrency, phases, joules, cost, eval_run
                    )
                )
            finally:
                target.close()
        for r in results:
            r.quality = paired_quality(ledger, results[0].eval_run, r.eval_run)
        ledger.add_items(run_id, [r.item(i) for i, r in enumerate(results, start=1)])
    except BaseException:
        ledger.finish_run(run_id, "interrupted", {"backends_done": len(results), "backends": len(specs)})
        raise
    result = BenchResult(run_id, workload, results, meter.describe(), time.perf_counter() - started)
    ledger.finish_run(run_id, "ok", {"rows": result.rows, "seconds": round(result.seconds, 3)})
    return result
