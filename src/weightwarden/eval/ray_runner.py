"""Evaluation fanned out over Ray actors: each actor loads its own runtime; the driver alone writes the ledger.

with Ledger(url) as ledger:
    result = run_eval_ray(artifact, load_suite("quality"), ledger, workers=2, limit=20)

The driver opens the run exactly as `run_eval` does (same config, so either kind of run resumes the other), splits
the items still to do into units, and keeps every actor busy with up to `in_flight` units. An actor scores a unit
with the very function the in-process run uses (runner.score_items) and returns the item records and the new cache
answers; the driver writes the answers into the eval cache at once and the items in the run's order, so the ledger
holds the same items, in the same order, as a one-process run. An actor that dies (killed, its node lost) loses
only its unfinished units: they go back to the queue for the other actors, or for a new actor when none is left.
A driver that dies leaves an interrupted run that `warden eval` resumes like any other.

Ray is an optional extra: `pip install 'weightwarden[ray]'`.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from weightwarden.errors import ConfigError, RemoteError, WardenError
from weightwarden.eval.base import EvalResult, Task
from weightwarden.eval.cache import (
    CachedRuntime,
    MemoryStore,
    generation_request,
    loglikelihood_request,
    request_sha,
)
from weightwarden.eval.runner import (
    DEFAULT_BATCH_ITEMS,
    ProgressFn,
    begin_eval,
    check_eval_args,
    eval_work,
    finish_eval,
    generation_requests,
    loglikelihood_requests,
    score_items,
    work_key,
)
from weightwarden.eval.suites import EvalTask
from weightwarden.ledger import ItemRecord, Ledger
from weightwarden.runtimes import Artifact, Backend, Runtime, load_runtime
from weightwarden.runtimes.platform_info import platform_differences, platform_info
from weightwarden.runtimes.threads import usable_cores

RAY_VERSION = "2.60.0"  # the version requirements.lock pins and the tests ran with
RAY_MISSING = (
    f"--ray needs Ray, which is not installed: `pip install 'weightwarden[ray]'` (Ray {RAY_VERSION}, about 80 MB), "
    "or run without --ray"
)
RAY_EVENT = "eval.ray"  # event of a run scored on Ray: the cluster, the workers, any lost and the items redone
UNITS_PER_WORKER = 4  # at least this many units per worker, so a lost or slow worker leaves little to redo
LOCAL_OBJECT_STORE = 128 * 1024 * 1024  # a local cluster's shared memory: units and results are small JSON
WORK = tuple[EvalTask, Task, dict[str, Any]]


def import_ray() -> Any:
    """The ray module, or a ConfigError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(RAY_MISSING) from None
    return ray


@dataclass(frozen=True)
class WorkerSpec:
    """What each actor needs to load its runtime and find its items (pickled to every actor)."""

    artifact: Artifact
    backend: Backend
    n_ctx: int
    threads: int  # llama.cpp/torch threads of each actor; 0: chosen per call from the load, as in-process
    timeout: float
    limit: int | None
    use_cache: bool
    batch_generations: bool
    niceness: int | None = None  # a local cluster's actors run at the driver's niceness (`nice warden eval --ray`)


@dataclass
class UnitResult:
    """What an actor returns for a unit: its item records (in the unit's order) and the answers it added."""

    indices: list[int]
    records: list[ItemRecord]
    cache: dict[str, Any]
    calls: int
    hits: int


class EvalWorker:
    """One actor's work: a runtime loaded once, scoring units of items named by their index in the run's work.

    A plain class (Ray wraps it with ray.remote), so it also runs, and is tested, without Ray. A model that cannot
    be loaded is not raised from the constructor (Ray would turn it into an opaque dead actor): about() reports it.
    """

    def __init__(self, spec: WorkerSpec, tasks: Sequence[EvalTask]) -> None:
        self.spec = spec
        self.work = eval_work(tasks, spec.limit)
        self.store = MemoryStore()  # this actor's answers so far, and those the driver sent with each unit
        self.runtime: Runtime | None = None
        self.error: str | None = None
        if spec.niceness is not None and hasattr(os, "setpriority"):
            # Ray's daemons may run at another priority than the driver; the model's work keeps the driver's.
            with suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, 0, spec.niceness)
        try:
            self.runtime = load_runtime(
                spec.artifact, spec.backend, n_ctx=spec.n_ctx, threads=spec.threads, timeout=spec.timeout
            )
        except Exception as exc:  # reported by about(): the driver turns it into one clear error
            self.error = str(exc) if isinstance(exc, WardenError) else f"{type(exc).__name__}: {exc}"

    def about(self) -> dict[str, Any]:
        """Where this actor runs and with what runtime, or {"error": why its model did not load}."""
        if self.runtime is None:
            return {"error": self.error or "no runtime"}
        threads = self.runtime.info.details.get("threads")
        return {
            "backend": self.runtime.info.name,
            "threads": threads,
            "platform": platform_info(threads=threads).as_dict(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }

    def score(self, indices: list[int], seed: dict[str, Any], prefetch: bool) -> UnitResult:
        """Score the items at these indices; seed: cached answers the driver found in the ledger for them."""
        if self.runtime is None:
            raise RemoteError(f"this Ray worker has no model: {self.error}")
        self.store.responses.update(seed)
        rt = CachedRuntime(
            self.runtime,
            self.spec.artifact.sha256,
            self.store if self.spec.use_cache else None,
            batch_generations=self.spec.batch_generations,
        )
        todo = [self.work[i] for i in indices]
        records = list(score_items(rt, todo, prefetch=prefetch, batch_generations=self.spec.batch_generations))
        return UnitResult(indices, records, self.store.take_added(), rt.calls, rt.hits)

    def close(self) -> None:
        if self.runtime is not None:
            self.runtime.close()


def plan_units(
    work: Sequence[WORK], done_keys: set[str], batch_size: int, batch_generations: bool, workers: int
) -> list[list[int]]:
    """The items still to do, as units of indices into work, in work order.

    Units never cross the in-process run's chunks (batch_size items), so a unit's batched requests are a subset of
    what the one-process run batches together. With batch_generations the chunks are kept whole: batched answers
    depend on which items share the batch. Otherwise chunks are split so each worker gets UNITS_PER_WORKER or more.
    """
    size = batch_size or 1
    chunks = [
        [i for i in range(first, min(first + size, len(work))) if work_key(*work[i]) not in done_keys]
        for first in range(0, len(work), size)
    ]
    chunks = [c for c in chunks if c]
    if batch_generations:
        return chunks
    todo = sum(len(c) for c in chunks)
    unit = max(1, min(size, math.ceil(todo / (UNITS_PER_WORKER * max(1, workers)))))
    return [c[j : j + unit] for c in chunks for j in range(0, len(c), unit)]


@dataclass(frozen=True)
class WorkerPlan:
    """How many actors, the CPUs Ray reserves for each, and the threads each runtime gets."""

    workers: int
    cpus: float
    threads: int


def plan_workers(ray: Any, workers: int, threads: int, *, remote: bool, items: int) -> WorkerPlan:
    """Size the actors to the cluster: a CPU (or `threads` CPUs) each; a remote model's actors reserve none."""
    total = int(ray.cluster_resources().get("CPU", 0))
    nodes = [int(n.get("Resources", {}).get("CPU", 0)) for n in ray.nodes() if n.get("Alive")]
    biggest = max(nodes, default=total)
    if remote:  # the upstream does the work: actors only wait on HTTP
        return WorkerPlan(max(1, min(workers or total or 1, items)), 0.0, 0)
    if total < 1:
        raise RemoteError("the Ray cluster has no CPUs to run the model on: add a node with `ray start`")
    n = max(1, min(workers or max(1, total // max(1, threads)), items))
    per = threads or max(1, min(total // n, biggest))
    if n * per > total or per > biggest:
        raise ConfigError(
            f"{n} Ray workers with {per} thread(s) each need {n * per} CPUs ({per} on one node); the cluster has "
            f"{total} (at most {biggest} on a node): pass fewer --ray-workers or a smaller --threads"
        )
    # One worker with a whole node chooses its threads per call from the load, as the in-process run does; several
    # workers on a node each keep to their share (llama.cpp's spinning threads would otherwise fight).
    runtime_threads = threads or (0 if n == 1 and per >= biggest else per)
    return WorkerPlan(n, float(per), runtime_threads)


@contextmanager
def ray_session(ray: Any, address: str | None, num_cpus: int | None = None) -> Iterator[str]:
    """Connect to the Ray cluster at address, or start a local one (num_cpus: this machine's cores); yield where.

    A Ray session the caller already opened (a notebook, a test) is used as it is and left running.
    """
    if ray.is_initialized():
        yield "existing session"
        return
    quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
    try:
        if address:
            ray.init(address=address, **quiet)
        else:
            ray.init(
                address="local",
                num_cpus=num_cpus or usable_cores(),
                object_store_memory=LOCAL_OBJECT_STORE,
                include_dashboard=False,
                **quiet,
            )
    except Exception as exc:  # Ray raises bare Exceptions too (a node that did not start within its 30 s)
        if address:
            raise RemoteError(
                f"cannot reach the Ray cluster at {address}: {exc}. Start one with `ray start --head` and pass its "
                "address (host:6379, or ray://host:10001 for Ray Client), or a bare --ray for a local one"
            ) from None
        raise RemoteError(
            f"could not start a local Ray cluster: {exc}. On a busy machine Ray's processes can miss their start-up "
            "limits: try again when it is quieter, or start one with `ray start --head` and pass its address"
        ) from None
    try:
        yield address or "local"
    finally:
        ray.shutdown()


@dataclass
class _Pool:
    """The live actors, the units in flight on each, and the counts the run reports."""

    ray: Any
    actor_class: Any
    spec: WorkerSpec
    tasks_ref: Any
    plan: WorkerPlan
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    live: dict[int, Any] = field(default_factory=dict)
    load: dict[int, int] = field(default_factory=dict)
    abouts: dict[int, dict[str, Any]] = field(default_factory=dict)
    started: int = 0
    lost: int = 0

    def start(self, n: int, timeout: float) -> list[dict[str, Any]]:
        """Start n actors and wait until each has loaded its model; return what each reported."""
        slots = list(range(self.started, self.started + n))
        self.started += n
        for slot in slots:
            # Named, so an operator (or a test) can find and kill one: `ray.util.list_named_actors()`.
            handle = self.actor_class.options(
                num_cpus=self.plan.cpus, name=f"weightwarden-eval-{self.tag}-{slot}", max_restarts=0
            ).remote(self.spec, self.tasks_ref)
            self.live[slot], self.load[slot] = handle, 0
        try:
            abouts = self.ray.get([self.live[s].about.remote() for s in slots], timeout=timeout)
        except self.ray.exceptions.GetTimeoutError:
            raise RemoteError(
                f"the Ray workers did not start within {timeout:.0f} s: does the cluster have "
                f"{self.plan.cpus:g} free CPU(s) for each of {n}? `ray status` shows what is in use"
            ) from None
        except self.ray.exceptions.RayActorError as exc:
            raise RemoteError(f"a Ray worker died while loading the model: {exc}") from None
        for slot, about in zip(slots, abouts, strict=True):
            if "error" in about:
                raise RemoteError(
                    f"a Ray worker could not load {self.spec.artifact.ref}: {about['error']} "
                    "(each node needs the model at the same path, and weightwarden installed)"
                )
            self.abouts[slot] = about
        return list(abouts)

    def lose(self, slot: int) -> None:
        handle = self.live.pop(slot, None)
        self.load.pop(slot, None)
        if handle is not None:
            self.lost += 1
            # It may be alive but unreachable: make sure it never comes back with a stale answer.
            with suppress(Exception):
                self.ray.kill(handle, no_restart=True)

    def idle_slot(self, in_flight: int) -> int | None:
        ready = [s for s in self.live if self.load[s] < in_flight]
        return min(ready, key=lambda s: self.load[s]) if ready else None

    def stop(self) -> None:
        for slot in list(self.live):
            handle = self.live.pop(slot)
            with suppress(Exception):
                self.ray.kill(handle, no_restart=True)
        self.load.clear()


def run_eval_ray(
    artifact: Artifact,
    tasks: Sequence[EvalTask],
    ledger: Ledger,
    *,
    address: str | None = None,
    workers: int = 0,
    backend: Backend = "auto",
    n_ctx: int = 2048,
    threads: int = 0,
    timeout: float = 60.0,
    limit: int | None = None,
    resume: str | None = None,
    auto_resume: bool = True,
    use_cache: bool = True,
    progress: ProgressFn | None = None,
    extra_config: dict[str, Any] | None = None,
    batch_size: int = DEFAULT_BATCH_ITEMS,
    batch_generations: bool = False,
    in_flight: int = 2,
    start_timeout: float = 300.0,
    replacements: int = 2,
) -> EvalResult:
    """run_eval with the items scored by Ray actors; the same run, items, cache and scores as the in-process run.

    artifact: a model already recorded in the ledger (Ledger.upsert_model); each actor loads it (a remote model:
      each actor calls its server). address: a Ray cluster; None starts a local one for the run (or uses the Ray
      session this process already has). workers: actors (0: one per CPU of the cluster, at most one per item);
      threads: each actor's threads (0: its share of the cluster's CPUs). in_flight: units queued on an actor at
      once. replacements: new actors started when every actor has died, before the run gives up.
    The other arguments are run_eval's.
    """
    check_eval_args(tasks, limit, batch_size)
    ray = import_ray()
    items = len(eval_work(tasks, limit))
    with ray_session(ray, address) as where:
        plan = plan_workers(ray, workers, threads, remote=artifact.format == "remote", items=items)
        niceness = os.getpriority(os.PRIO_PROCESS, 0) if where != address and hasattr(os, "getpriority") else None
        spec = WorkerSpec(
            artifact, backend, n_ctx, plan.threads, timeout, limit, use_cache, batch_generations, niceness
        )
        pool = _Pool(ray, ray.remote(EvalWorker), spec, ray.put(list(tasks)), plan)
        try:
            first = pool.start(plan.workers, start_timeout)[0]
            return _drive(
                ray,
                pool,
                ledger,
                tasks,
                first,
                where=where,
                limit=limit,
                resume=resume,
                auto_resume=auto_resume,
                progress=progress,
                extra_config=extra_config,
                batch_size=batch_size,
                in_flight=max(1, in_flight),
                start_timeout=start_timeout,
                replacements=replacements,
            )
        finally:
            pool.stop()


def _drive(
    ray: Any,
    pool: _Pool,
    ledger: Ledger,
    tasks: Sequence[EvalTask],
    first: dict[str, Any],
    *,
    where: str,
    limit: int | None,
    resume: str | None,
    auto_resume: bool,
    progress: ProgressFn | None,
    extra_config: dict[str, Any] | None,
    batch_size: int,
    in_flight: int,
    start_timeout: float,
    replacements: int,
) -> EvalResult:
    spec = pool.spec
    model_hash = spec.artifact.sha256
    backend_name = str(first["backend"])
    start = begin_eval(
        ledger,
        model_hash,
        tasks,
        backend=backend_name,
        here=first["platform"],  # where the items are scored, not where the driver runs
        limit=limit,
        resume=resume,
        auto_resume=auto_resume,
        extra_config=extra_config,
        batch_generations=spec.batch_generations,
    )
    run_id, work, done_keys = start.run_id, start.work, start.done_keys
    total = len(work)
    units = plan_units(work, done_keys, batch_size, spec.batch_generations, pool.plan.workers)
    order = [i for u in units for i in u]  # the order items go into the ledger: the in-process run's order
    resumed = total - len(order)
    queue: deque[list[int]] = deque(units)
    inflight: dict[Any, tuple[int, list[int]]] = {}
    finished: dict[int, ItemRecord] = {}
    written = calls = hits = redone = 0
    done = resumed

    def seed(unit: list[int]) -> dict[str, Any]:
        """The answers the ledger's cache already holds for a unit's requests."""
        if not spec.use_cache:
            return {}
        requests = [
            loglikelihood_request(backend_name, c, x) for i in unit for c, x in loglikelihood_requests(*work[i])
        ] + [
            generation_request(backend_name, g, batched=spec.batch_generations)
            for i in unit
            for g in generation_requests(*work[i])
        ]
        found: dict[str, Any] = {}
        for sha in dict.fromkeys(request_sha(r) for r in requests):
            answer = ledger.cached_response(model_hash, sha)
            if answer is not None:
                found[sha] = answer
        return found

    def submit() -> None:
        while queue:
            slot = pool.idle_slot(in_flight)
            if slot is None:
                return
            unit = queue.popleft()
            ref = pool.live[slot].score.remote(unit, seed(unit), bool(batch_size))
            inflight[ref] = (slot, unit)
            pool.load[slot] += 1

    try:
        if progress is not None and resumed:
            progress(done, total, work[order[0]][0].id if order else work[-1][0].id)
        submit()
        while inflight:
            ready, _ = ray.wait(list(inflight), num_returns=1)
            slot, unit = inflight.pop(ready[0])
            try:
                result: UnitResult = ray.get(ready[0])
            except ray.exceptions.RayActorError:
                # The actor is gone (killed, its node lost): its unit goes back to the front of the queue.
                pool.lose(slot)
                queue.appendleft(unit)
                redone += len(unit)
                if not pool.live:
                    if replacements <= 0:
                        raise RemoteError(
                            "every Ray worker died: check `ray status` and the workers' logs; "
                            f"`warden eval --resume {run_id}` continues the run"
                        ) from None
                    replacements -= 1
                    pool.start(1, start_timeout)
                submit()
                continue
            except ray.exceptions.RayTaskError as exc:
                cause = getattr(exc, "cause", None)
                if isinstance(cause, WardenError):
                    raise cause from None
                raise
            if slot in pool.load:
                pool.load[slot] -= 1
            submit()  # keep the actors busy while this result is written
            for sha, answer in result.cache.items():
                ledger.cache_response(model_hash, sha, answer)
            finished.update(zip(result.indices, result.records, strict=True))
            calls += result.calls
            hits += result.hits
            ready_records = []
            while written < len(order) and order[written] in finished:
                ready_records.append(finished.pop(order[written]))
                written += 1
            ledger.add_items(run_id, ready_records)
            done += len(unit)
            if progress is not None:
                progress(done, total, work[unit[-1]][0].id)
    except BaseException:
        # Items finished out of order stay unwritten (their answers are cached: a resume scores them at once).
        ledger.finish_run(run_id, "interrupted", {"items_stored": resumed + written, "items": total})
        raise
    platforms = [a["platform"] for a in pool.abouts.values()]
    differ = sorted({d for p in platforms[1:] for d in platform_differences(platforms[0], p, backend=backend_name)})
    ledger.add_event(
        RAY_EVENT,
        {
            "address": where,
            "workers": pool.plan.workers,
            "threads": first.get("threads"),
            "hosts": sorted({str(a["host"]) for a in pool.abouts.values()}),
            "workers_started": pool.started,
            "workers_lost": pool.lost,
            "items_redone": redone,
            "platforms_differ": differ,
        },
        run_id,
    )
    if differ:
        start.notes.append(f"the Ray workers ran on different machines or builds ({'; '.join(differ)})")
    return finish_eval(ledger, model_hash, tasks, start, requests=calls, cached=hits, resumed=resumed)
