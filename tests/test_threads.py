"""Threads chosen per call from the load: the arithmetic on made-up samples, then a real competing process."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from weightwarden.runtimes import Artifact, GenerationParams
from weightwarden.runtimes.llamacpp import LlamaCppRuntime
from weightwarden.runtimes.threads import CpuSample, ThreadChooser, sample, usable_cores


class Samples:
    """Hands out prepared samples; `at` values are small, so they count as long ago for the chooser's clock."""

    def __init__(self, *samples: CpuSample) -> None:
        self.samples = list(samples)

    def __call__(self, cpus: frozenset[int]) -> CpuSample:
        return self.samples.pop(0)


def s(at: float, busy: float, own: float, threads: dict[int, float] | None = None) -> CpuSample:
    return CpuSample(at, busy, own, threads or {})


def test_a_fixed_count_is_used_as_given() -> None:
    assert ThreadChooser(3, cores=8).choose() == 3
    with pytest.raises(ValueError):
        ThreadChooser(-1)


def test_cores_busy_with_other_processes_are_left_to_them() -> None:
    # 4 cores over 1 s: 3.0 CPU-seconds busy, 1.0 of them ours: others kept 2 cores busy -> 2 threads.
    chooser = ThreadChooser(0, cores=4, sampler=Samples(s(0, 0, 0), s(1, 3.0, 1.0)))
    assert chooser.choose() == 2 and chooser.others == pytest.approx(2.0)


def test_light_background_work_leaves_every_core() -> None:
    chooser = ThreadChooser(0, cores=4, sampler=Samples(s(0, 0, 0), s(1, 1.5, 1.0)))
    assert chooser.choose() == 4  # others used half a core: not enough to give one up


def test_this_process_s_other_threads_compete_too_but_the_caller_does_not() -> None:
    import threading

    me = threading.get_native_id()
    before = {me: 0.0, 111: 0.0, 222: 0.0}
    after = {me: 5.0, 111: 0.9, 222: 0.2}  # the caller's own work, an event loop at 0.9 core, a helper at 0.2
    chooser = ThreadChooser(0, cores=2, sampler=Samples(s(0, 0, 0, before), s(1, 2.0, 2.0, after)))
    assert chooser.choose() == 1 and chooser.others == pytest.approx(1.1)


def test_never_fewer_than_one_and_unknown_load_keeps_the_last_choice() -> None:
    chooser = ThreadChooser(0, cores=2, sampler=Samples(s(0, 0, 0), s(1, 8.0, 0.0), s(2, None, 0.0)))  # type: ignore[arg-type]
    assert chooser.choose() == 1
    assert chooser.choose() == 1  # /proc/stat unreadable: no new choice


@pytest.mark.skipif(usable_cores() < 2 or sample(frozenset({0})).busy is None, reason="needs Linux and 2 cores")
def test_a_real_competing_process_takes_a_core_away() -> None:
    chooser = ThreadChooser(0)
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        chooser.choose()  # starts a fresh interval with the competitor already running
        time.sleep(1.0)
        assert chooser.choose() < chooser.cores, f"others kept {chooser.others:.2f} cores busy"
    finally:
        spinner.kill()
        spinner.wait()


def test_llama_cpp_gives_the_same_numbers_on_one_thread_or_two(default_artifact: Artifact) -> None:
    """Why choosing threads per call is safe for evidence: a single-sequence context computes each output in one
    thread, so scores and greedy answers do not depend on how many threads shared the work (long contexts too)."""
    assert default_artifact.path is not None
    text = " ".join(f"Line {i}: the quick brown fox jumps over the lazy dog." for i in range(60))
    got = []
    for threads in (1, 2):
        rt = LlamaCppRuntime(default_artifact.path, threads=threads)
        try:
            ids = rt.tokenize(text)[:700]
            answer = rt.complete(text[:2500] + " In short,", GenerationParams(max_tokens=16)).text
            got.append((rt.logits(ids), answer))
        finally:
            rt.close()
    assert len(ids) == 700 and np.array_equal(got[0][0], got[1][0])
    assert got[0][1] == got[1][1] and got[0][1]
