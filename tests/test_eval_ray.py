"""Evaluation on Ray: a real local Ray cluster, the real default model in each actor, the same ledger as in-process."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray

from weightwarden.errors import ConfigError
from weightwarden.eval import EvalResult, load_suite, run_eval
from weightwarden.eval.ray_runner import RAY_EVENT, import_ray, plan_units, run_eval_ray
from weightwarden.eval.runner import eval_work, work_key
from weightwarden.ledger import Ledger, ModelRecord
from weightwarden.runtimes import Artifact
from weightwarden.runtimes.llamacpp import LlamaCppRuntime

DATA = Path(__file__).parent / "data" / "eval"  # every kind of item: choices, answers, pairs, refusals, perturbed


def open_ledger(path: Path, artifact: Artifact) -> Ledger:
    ledger = Ledger(f"sqlite:///{path}")
    ledger.upsert_model(ModelRecord.of(artifact))
    return ledger


def stored(ledger: Ledger, run_id: str) -> list[tuple[str, Any, Any, Any]]:
    """A run's items as the ledger holds them, in order (what reports and `warden compare` read)."""
    return [(it.key, it.input, it.output, it.scores) for it in ledger.items(run_id)]


def cache_rows(path: Path) -> dict[str, Any]:
    with sqlite3.connect(path) as conn:
        return {sha: json.loads(resp) for sha, resp in conn.execute("SELECT request_sha, response FROM eval_cache")}


def metrics(result: EvalResult) -> dict[str, Any]:
    return {t.task_id: {k: m.as_dict() for k, m in t.metrics.items()} for t in result.tasks}


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    """A local Ray started for this module: two CPUs, a small object store, no dashboard; shut down after.

    Ray's raylet gives its agents a few seconds to start, which they can miss on a machine busy with other work; so
    no idle workers are started ahead of need, and a failed start is tried once more.
    """
    env = {"RAY_enable_worker_prestart": "0", "RAY_prestart_worker_first_driver": "0"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        for attempt in range(2):
            try:
                ray.init(
                    address="local",
                    num_cpus=2,
                    object_store_memory=80 * 1024 * 1024,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=logging.WARNING,
                )
                break
            except Exception:
                if attempt == 1:
                    raise
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def baseline(
    tmp_path_factory: pytest.TempPathFactory, default_artifact: Artifact
) -> Iterator[tuple[Path, Ledger, str]]:
    """The in-process run of the subset (one thread, as each of two actors on two cores gets)."""
    assert default_artifact.path is not None
    path = tmp_path_factory.mktemp("inproc") / "ledger.db"
    ledger = open_ledger(path, default_artifact)
    rt = LlamaCppRuntime(default_artifact.path, n_ctx=2048, threads=1)
    try:
        result = run_eval(rt, default_artifact.sha256, load_suite("all", DATA), ledger, batch_size=4)
    finally:
        rt.close()
    yield path, ledger, result.run_id
    ledger.close()


def test_ray_run_writes_the_same_items_cache_and_scores(
    local_ray: Any, baseline: tuple[Path, Ledger, str], default_artifact: Artifact, tmp_path: Path
) -> None:
    base_path, base_ledger, base_run = baseline
    path = tmp_path / "ray.db"
    seen: list[tuple[int, int]] = []
    with open_ledger(path, default_artifact) as ledger:
        result = run_eval_ray(
            default_artifact,
            load_suite("all", DATA),
            ledger,
            workers=2,
            batch_size=4,
            progress=lambda done, total, task: seen.append((done, total)),
        )
        # Item for item, in the same order: keys, prompts, answers, log-likelihoods and scores.
        assert stored(ledger, result.run_id) == stored(base_ledger, base_run)
        assert ledger.run(result.run_id).config == base_ledger.run(base_run).config  # type: ignore[union-attr]
        (event,) = [e for e in ledger.events(result.run_id) if e.kind == RAY_EVENT]
        assert event.payload["workers"] == 2 and event.payload["threads"] == 1 and event.payload["workers_lost"] == 0
    recorded = base_ledger.run(base_run)
    assert recorded is not None and recorded.summary is not None
    assert metrics(result) == {t["task"]: t["metrics"] for t in recorded.summary["tasks"]}
    assert cache_rows(path) == cache_rows(base_path)  # the eval cache: the same requests, the same answers
    total = len(eval_work(load_suite("all", DATA), None))
    assert seen[-1] == (total, total) and len(seen) > 1  # progress as units came back, not once at the end
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_a_worker_killed_mid_run_loses_nothing(
    local_ray: Any, baseline: tuple[Path, Ledger, str], default_artifact: Artifact, tmp_path: Path
) -> None:
    _, base_ledger, base_run = baseline
    killed: list[str] = []

    def kill_one(done: int, total: int, task: str) -> None:
        if not killed:  # at the first unit back, both actors still have units in flight
            # Actors are named weightwarden-eval-<run tag>-<slot>: kill slot 0 of this run (and of any stale tag).
            names = sorted(n for n in ray.util.list_named_actors() if n.startswith("weightwarden-eval-"))
            for name in {n.rsplit("-", 1)[0]: n for n in reversed(names)}.values():
                ray.kill(ray.get_actor(name), no_restart=True)
                killed.append(name)

    with open_ledger(tmp_path / "ray.db", default_artifact) as ledger:
        result = run_eval_ray(
            default_artifact, load_suite("all", DATA), ledger, workers=2, batch_size=4, progress=kill_one
        )
        assert killed
        assert stored(ledger, result.run_id) == stored(base_ledger, base_run)
        (event,) = [e for e in ledger.events(result.run_id) if e.kind == RAY_EVENT]
        assert event.payload["workers_lost"] == 1 and event.payload["items_redone"] >= 1
        assert ledger.run(result.run_id).status == "ok"  # type: ignore[union-attr]


def test_units_follow_the_run_order_and_skip_stored_items() -> None:
    tasks = load_suite("all", DATA)
    work = eval_work(tasks, None)
    units = plan_units(work, set(), 4, False, 2)
    assert [i for u in units for i in u] == list(range(len(work)))
    assert all(len(u) <= 4 for u in units) and len(units) >= 8  # several units per worker
    # Units never span two of the in-process run's chunks of 4, so a unit's batch is part of that run's batch.
    assert all(u[0] // 4 == u[-1] // 4 for u in units)
    done = {work_key(*work[0]), work_key(*work[5])}
    left = [i for u in plan_units(work, done, 4, False, 2) for i in u]
    assert 0 not in left and 5 not in left and len(left) == len(work) - 2
    # With batched generations a batch's members change its answers: the in-process chunks are kept whole.
    assert plan_units(work, set(), 4, True, 2) == [
        list(range(i, min(i + 4, len(work)))) for i in range(0, len(work), 4)
    ]


def test_without_ray_the_flag_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError, as when it is not installed
    with pytest.raises(ConfigError, match=r"pip install 'weightwarden\[ray\]'"):
        import_ray()
    from weightwarden.cli.main import main

    monkeypatch.setattr(sys, "argv", ["warden", "eval", "default", "--suite", "quality", "--limit", "1", "--ray"])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "pip install 'weightwarden[ray]'" in " ".join(err.split()) and "Traceback" not in err


def test_a_bare_ray_flag_means_a_local_cluster() -> None:
    from weightwarden.cli.evaluate import RAY_LOCAL, bare_ray

    assert bare_ray(["eval", "m", "--ray"]) == ["eval", "m", "--ray", RAY_LOCAL]
    assert bare_ray(["eval", "m", "--ray", "--limit", "2"]) == ["eval", "m", "--ray", RAY_LOCAL, "--limit", "2"]
    assert bare_ray(["eval", "m", "--ray", "10.0.0.5:6379"]) == ["eval", "m", "--ray", "10.0.0.5:6379"]
    assert bare_ray(["serve", "--ray"]) == ["serve", "--ray"]
