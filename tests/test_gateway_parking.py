"""Parking: a request whose turn is due within moments waits in ModelQueue.enter() instead of getting 429, holding
no slot until one is handed to it. It is admitted when a slot frees, at most `park` wait so, one that is cancelled or
whose client goes away leaves the counts as they were, and every refusal still says when to retry.

The queues here expect a job to take a minute (service_seconds), so the line would open only after 45 s: whatever is
admitted in these tests was admitted because a slot freed, never by a clock running out.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import httpx
import pytest

from gateway_server import Running, serve
from weightwarden.gateway import ModelSpec
from weightwarden.gateway.config import LINE_WINDOW, PARK, PARK_WINDOW
from weightwarden.gateway.errors import ClientGone, TooManyRequests
from weightwarden.gateway.queue import Job, ModelQueue
from weightwarden.runtimes import Chunk, GenerationParams, Message, RuntimeInfo

MINUTE = 60.0


def parking(slots: int = 2, park: int = 1) -> ModelQueue:
    """One worker, the line open in the last quarter of a job, and parking for any request due within a job."""
    return ModelQueue("m", slots, line_window=0.25, park_window=1.0, park=park, service_seconds=MINUTE)


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the loop run until condition holds (or fail after timeout seconds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the queue never got there"
        await asyncio.sleep(0.005)


class Held:
    """A job on the queue's worker that runs until released."""

    def __init__(self, queue: ModelQueue, loop: asyncio.AbstractEventLoop) -> None:
        self.started, self.release = threading.Event(), threading.Event()
        self.job: Job[bool] = queue.submit(self._work, loop, queue.admit("running"))

    def _work(self) -> list[bool]:
        self.started.set()
        return [self.release.wait(30)]

    def end(self) -> None:
        """Release the job and wait (blocking the loop) until the worker has finished with it."""
        self.release.set()
        assert self.job.finished.wait(10)


def run(scenario: Callable[[ModelQueue, Held], Awaitable[None]], queue: ModelQueue) -> None:
    """Run scenario on a fresh loop while a held job runs on queue; the queue is closed afterwards."""

    async def main() -> None:
        held = Held(queue, asyncio.get_running_loop())
        await until(held.started.is_set)
        try:
            await scenario(queue, held)
        finally:
            held.release.set()

    try:
        asyncio.run(main())
    finally:
        queue.close()


def test_a_parked_request_holds_nothing_and_is_admitted_when_the_slot_frees() -> None:
    async def scenario(queue: ModelQueue, held: Held) -> None:
        entering = asyncio.create_task(queue.enter("next"))
        await until(lambda: queue.parked == 1)
        assert queue.in_flight == 1, "parked, it holds no slot"
        with pytest.raises(TooManyRequests):
            queue.admit("other")  # the line is closed to admit() as before
        held.end()
        slot = await asyncio.wait_for(entering, 10)
        assert queue.parked == 0 and queue.in_flight == 1 and queue.parked_admitted == 1
        assert queue.counts["rejected"] == 1, "only the other request was refused"
        slot.release()
        assert queue.in_flight == 0

    run(scenario, parking())


@pytest.mark.parametrize(("slots", "park", "parks"), [(3, 1, 1), (4, 2, 2), (2, 2, 1)])
def test_parking_is_bounded_by_park_and_by_the_slots_left(slots: int, park: int, parks: int) -> None:
    """At most `park` requests park, and no more than the slots left after the running one would hold."""

    async def scenario(queue: ModelQueue, held: Held) -> None:
        waiting = [asyncio.create_task(queue.enter(i)) for i in range(parks)]
        await until(lambda: queue.parked == parks)
        with pytest.raises(TooManyRequests) as refused:
            await queue.enter("one too many")
        assert refused.value.retry_after is not None and refused.value.retry_after > 0
        assert queue.parked == parks and queue.in_flight == 1 and queue.counts["rejected"] == 1
        held.end()  # one worker: the first parked request runs next, the others may wait in line
        slots_ = [await asyncio.wait_for(w, 10) for w in waiting]
        assert queue.parked == 0 and queue.in_flight == parks and queue.parked_admitted == parks
        for slot in slots_:
            slot.release()
        assert queue.in_flight == 0

    run(scenario, parking(slots, park))


def test_a_cancelled_parked_request_frees_nothing_it_did_not_hold() -> None:
    async def scenario(queue: ModelQueue, held: Held) -> None:
        entering = asyncio.create_task(queue.enter("impatient"))
        await until(lambda: queue.parked == 1)
        entering.cancel()
        with pytest.raises(asyncio.CancelledError):
            await entering
        assert queue.parked == 0 and queue.in_flight == 1, "the running job keeps its slot"
        assert queue.counts["rejected"] == 0 and queue.parked_admitted == 0
        held.end()
        assert queue.in_flight == 0
        queue.admit("later").release()  # nothing leaked: the queue admits as before
        assert queue.in_flight == 0

    run(scenario, parking())


def test_a_parked_request_cancelled_as_its_slot_is_handed_over_gives_the_slot_back() -> None:
    async def scenario(queue: ModelQueue, held: Held) -> None:
        entering = asyncio.create_task(queue.enter("impatient"))
        await until(lambda: queue.parked == 1)
        held.end()  # the loop does not run meanwhile: the slot is handed over, the request not yet woken
        assert queue.parked == 0 and queue.in_flight == 1 and queue.parked_admitted == 1
        entering.cancel()
        with pytest.raises(asyncio.CancelledError):
            await entering
        assert queue.in_flight == 0, "the slot it was handed is given back"

    run(scenario, parking())


def test_a_parked_request_whose_client_goes_away_leaves_with_499() -> None:
    async def scenario(queue: ModelQueue, held: Held) -> None:
        gone = asyncio.Event()
        failing = asyncio.create_task(queue.enter("broken watch", gone=broken_watch))
        entering = asyncio.create_task(queue.enter("leaving", gone=gone.wait))
        await until(lambda: queue.parked == 2)
        gone.set()
        with pytest.raises(ClientGone) as left:
            await entering
        assert left.value.status == 499 and left.value.code == "client_closed_request"
        assert queue.parked == 1 and queue.in_flight == 1 and queue.counts["rejected"] == 0
        held.end()
        slot = await asyncio.wait_for(failing, 10)  # a watcher that fails is not a client gone
        slot.release()
        assert queue.in_flight == 0 and queue.parked_admitted == 1

    run(scenario, parking(slots=3, park=2))


async def broken_watch() -> None:
    raise ConnectionError("the server cannot tell")


@pytest.mark.parametrize("estimate_grew", [False, True])
def test_a_parked_request_that_no_slot_reaches_in_time_is_admitted_or_gets_429_with_retry_after(
    monkeypatch: pytest.MonkeyPatch, estimate_grew: bool
) -> None:
    """The safety net, when no look comes at the expected opening (its timer's loop is gone): after twice the
    expected wait the request takes a slot if the line is open by then, else it gets the 429 admit() would give."""
    queue = ModelQueue("m", 2, line_window=0.25, park_window=1.0, service_seconds=2.0)  # the line opens after 1.5 s
    monkeypatch.setattr(queue, "_arm", lambda *args: None)

    async def scenario(queue: ModelQueue, held: Held) -> None:
        entering = asyncio.create_task(queue.enter("late"))
        await until(lambda: queue.parked == 1)
        if estimate_grew:
            queue.service_seconds = MINUTE  # as if a job had been timed at a minute meanwhile: the line stays closed
            with pytest.raises(TooManyRequests) as refused:
                await entering
            assert refused.value.code == "queue_full"
            assert refused.value.retry_after is not None and refused.value.retry_after > 0
            assert queue.in_flight == 1 and queue.counts["rejected"] == 1 and queue.parked_admitted == 0
        else:
            slot = await entering
            assert queue.in_flight == 2 and queue.counts["rejected"] == 0 and queue.parked_admitted == 1
            slot.release()
        assert queue.parked == 0

    run(scenario, queue)


def test_a_local_model_parks_by_default_and_an_explicit_slots_does_not() -> None:
    local = ModelSpec("m", runtime=object(), model_hash="0" * 64)
    assert (local.line_window, local.park_window, local.park) == (LINE_WINDOW, PARK_WINDOW, PARK)
    assert PARK_WINDOW > 0 and PARK >= 1
    sized = ModelSpec("m", runtime=object(), model_hash="0" * 64, slots=4)
    assert sized.line_window is None and sized.park_window == 0


class GatedRuntime:
    """A model whose answers wait for a gate: it holds the one worker for as long as a test needs."""

    def __init__(self) -> None:
        self.info = RuntimeInfo("fake", "gated", 0.0)
        self.gate = threading.Event()
        self.started = threading.Event()

    def tokenize(self, text: str, add_special: bool = False) -> list[int]:
        return list(range(len(text.split())))

    def detokenize(self, tokens: Sequence[int]) -> str:
        return " ".join(map(str, tokens))

    def _answer(self) -> Iterator[Chunk]:
        self.started.set()
        self.gate.wait(30)
        yield Chunk("done", "stop", 1, 1)

    def chat_stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[Chunk]:
        return self._answer()

    def complete_stream(self, prompt: str, params: GenerationParams) -> Iterator[Chunk]:
        return self._answer()

    def close(self) -> None:
        self.gate.set()


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, GatedRuntime]]:
    model = GatedRuntime()
    spec = ModelSpec("gated", runtime=model, model_hash="e" * 64, slots=2, line_window=0.25, park_window=1.0, park=1)
    with serve(tmp_path_factory.mktemp("parking"), None, extra=(spec,)) as g:
        g.gateway.router.backends["gated"].queue.service_seconds = MINUTE
        yield g, model
    model.gate.set()


def ask(gw: Running, key: str, timeout: float = 60.0) -> httpx.Response:
    body = {"model": "gated", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    return httpx.post(
        f"{gw.base_url}/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=timeout
    )


def held_by_first(gw: Running, model: GatedRuntime, pool: ThreadPoolExecutor, key: str) -> Future[httpx.Response]:
    """Send a request that holds the model until its gate opens."""
    model.gate.clear()
    model.started.clear()
    first = pool.submit(ask, gw, key)
    assert model.started.wait(30)
    return first


def test_through_the_gateway_a_parked_request_is_answered_when_the_model_frees(
    gated: tuple[Running, GatedRuntime],
) -> None:
    gw, model = gated
    queue, key = gw.gateway.router.backends["gated"].queue, gw.key()
    before = queue.parked_admitted
    with ThreadPoolExecutor(2) as pool:
        first = held_by_first(gw, model, pool, key)
        second = pool.submit(ask, gw, key)
        deadline = time.monotonic() + 30
        while queue.parked != 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert queue.parked == 1 and queue.in_flight == 1
        model.gate.set()
        assert first.result(60).status_code == 200
        assert second.result(60).status_code == 200, "parked, not refused"
    assert queue.parked_admitted == before + 1 and gw.idle(model="gated")


def test_through_the_gateway_a_client_that_leaves_while_parked_gets_a_499_row(
    gated: tuple[Running, GatedRuntime],
) -> None:
    gw, model = gated
    queue, key = gw.gateway.router.backends["gated"].queue, gw.key()
    seen = len(gw.rows(model="gated", status=499, timeout=0))
    with ThreadPoolExecutor(2) as pool:
        first = held_by_first(gw, model, pool, key)
        with pytest.raises(httpx.ReadTimeout):
            ask(gw, key, timeout=1.0)  # parks (the line opens in 45 s), then its client gives up
        rows = gw.rows(seen + 1, model="gated", status=499)
        assert len(rows) == seen + 1 and rows[0].error == "client_closed_request"
        assert queue.parked == 0 and queue.in_flight == 1, "it left holding nothing"
        model.gate.set()
        assert first.result(60).status_code == 200
    assert gw.idle(model="gated")
