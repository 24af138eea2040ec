"""A bounded line in front of each model: N slots (running or waiting), worker threads, and cancellation.

A llama.cpp context runs one generation at a time, so an in-process model gets one worker thread; an upstream
server gets as many workers as slots. A request takes its slot before any other work is done for it (the guard,
tokenizing), so one that finds every slot taken is refused at once with 429, rather than waiting unseen or costing
the model's cores.

The Retry-After of a refusal is when that client's turn would come: the clients refused lately and not yet served
(by their connection) share the model's recent service rate, RETRY_PER_TURN of them coming back per request the
model finishes, each at a random moment around its turn. So 64 clients behind a model that answers 2 requests a
second are told about 3 s, not all 200 ms: the model stays busy (several retries arrive each time a slot frees)
while refusals stay about twenty a second instead of hundreds, which on a small machine would take the model's cores.

A job's items (streamed chunks) cross to the event loop as they come; cancel() stops the job between two items,
so a client that goes away or a request past its time limit frees the model within a token.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import random
import threading
import time
from collections.abc import Callable, Generator, Hashable, Iterable
from typing import Any, Generic, Literal, TypeVar

from weightwarden.gateway.errors import TooManyRequests

T = TypeVar("T")
Outcome = Literal["done", "cancelled", "failed", "skipped"]
RETRY_PER_TURN = 10  # refused clients told to come back per request the model finishes
WAITING_HORIZON = 10.0  # seconds a refused client counts as waiting (or longer: its last Retry-After and a half)


class Job(Generic[T]):
    """One request's work on a worker; read its items with `await job.next()` (None at the end)."""

    def __init__(self, work: Callable[[], Iterable[T]], loop: asyncio.AbstractEventLoop) -> None:
        self.work = work
        self._loop = loop
        self._items: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._cancel = threading.Event()
        self._ended = False
        self.produced = 0
        self.outcome: Outcome | None = None
        self.finished = threading.Event()

    def cancel(self) -> None:
        """Ask the worker to stop after the item it is making (or to skip the job if it has not started)."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def _emit(self, kind: str, value: Any) -> None:
        # The loop may be gone when the server shuts down mid-generation: nobody is left to tell.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._items.put_nowait, (kind, value))

    async def next(self) -> T | None:
        """The next item, None when the work is over; re-raises the work's exception."""
        if self._ended:
            return None
        kind, value = await self._items.get()
        if kind == "item":
            return value  # type: ignore[no-any-return]
        self._ended = True
        if kind == "error":
            raise value
        return None


class Slot:
    """A place in a model's queue, taken by ModelQueue.admit: submit a job into it, or release() it. Idempotent."""

    def __init__(self, owner: ModelQueue) -> None:
        self._owner = owner
        self.used = False  # a job was submitted into it: the worker gives it back when the job ends
        self.released = False

    def release(self) -> None:
        """Give the slot back if no job was submitted into it (a request refused after admission)."""
        if not self.used and not self.released:
            self.released = True
            self._owner.release()


class ModelQueue:
    """Admission and worker threads for one model.

    slots: requests admitted at once, running or waiting; workers: threads running them.
    """

    def __init__(self, name: str, slots: int, workers: int = 1, *, line_window: float | None = None) -> None:
        if slots < 1 or workers < 1:
            raise ValueError("a model queue needs at least one slot and one worker")
        self.name, self.slots, self.workers = name, slots, workers
        self.line_window = line_window
        self._started: dict[int, float] = {}  # running jobs -> when they started
        self._lock = threading.Lock()
        self._admitted = 0
        self._jobs: queue.SimpleQueue[Job[Any] | None] = queue.SimpleQueue()
        self._service_seconds = 1.0  # a moving average, for Retry-After
        self._waiting: dict[Hashable, float] = {}  # refused clients -> until when they count as waiting
        self.counts = {"done": 0, "cancelled": 0, "failed": 0, "skipped": 0, "rejected": 0}
        self.busy_seconds = 0.0  # workers' time running jobs, summed: per second of wall time, how busy the model was
        self._threads = [
            threading.Thread(target=self._run, name=f"model-{name}-{i}", daemon=True) for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    @property
    def in_flight(self) -> int:
        return self._admitted

    def admit(self, client: Hashable = None) -> Slot:
        """Take a slot, or raise TooManyRequests (429) with a Retry-After.

        client: who asks (a connection), so that the clients waiting for a turn can be counted.
        """
        with self._lock:
            now = time.monotonic()
            if self._admitted >= self.slots or (self._admitted >= self.workers and not self._line_open(now)):
                self.counts["rejected"] += 1
                wait = self._retry_after(client, now)
                raise TooManyRequests(
                    f"model {self.name!r} is busy ({self._admitted} requests in line): retry in {wait:.2f} s",
                    code="queue_full",
                    retry_after=wait,
                )
            self._admitted += 1
            self._waiting.pop(client, None)
        return Slot(self)

    def _remaining(self, now: float) -> float:
        """Expected seconds until the first running job ends (from the average service time; lock held)."""
        if not self._started:
            return 0.0
        return max(0.0, self._service_seconds - (now - min(self._started.values())))

    def _line_open(self, now: float) -> bool:
        """Whether a request may wait in line now (lock held). With a line window, only in the last part of the
        running job's expected time: a request that waits in line then starts almost at once, and the model does not
        sit idle between two requests. Without one, whenever a slot is free."""
        if self.line_window is None:
            return True
        in_line = self._admitted - self.workers
        return self._remaining(now) <= self.line_window * self._service_seconds * (in_line + 1)

    def _retry_after(self, client: Hashable, now: float) -> float:
        """When client's turn would come, at random around it (lock held); counts client as waiting until then."""
        if len(self._waiting) > 1024:  # forget clients that stopped waiting (or never came back)
            self._waiting = {c: until for c, until in self._waiting.items() if until > now}
        waiting = sum(1 for until in self._waiting.values() if until > now) + (client not in self._waiting)
        per_turn = self._service_seconds / self.workers
        if self.line_window is not None and self._admitted < self.slots:
            # The line is closed until the running job nears its end: come back then, or later when others wait.
            soon = max(0.0, self._remaining(now) - self.line_window * self._service_seconds / 2)
            wait = max(0.02, (soon + per_turn * waiting / RETRY_PER_TURN) * random.uniform(0.5, 1.5))
        else:
            ahead = self._admitted - self.workers + 1  # requests in line before a slot frees
            turns = ahead + waiting / RETRY_PER_TURN
            wait = max(0.05, per_turn * turns * random.uniform(0.5, 1.5))
        self._waiting[client] = now + max(WAITING_HORIZON, 1.5 * wait)
        return wait

    def release(self) -> None:
        """Give back a slot that admit() took for a job that will not be submitted."""
        with self._lock:
            self._admitted -= 1

    def submit(self, work: Callable[[], Iterable[T]], loop: asyncio.AbstractEventLoop, slot: Slot) -> Job[T]:
        """Queue work in a slot admit() took; the slot is given back when the job ends."""
        if slot.used or slot.released:
            raise RuntimeError("a queue slot takes one job")
        slot.used = True
        job: Job[T] = Job(work, loop)
        self._jobs.put(job)
        return job

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            self._execute(job)

    def _execute(self, job: Job[Any]) -> None:
        t0 = time.monotonic()
        with self._lock:
            self._started[id(job)] = t0
        ending: tuple[str, Any] = ("end", None)
        try:
            if job.cancelled:
                job.outcome = "skipped"
            else:
                items = iter(job.work())
                try:
                    for item in items:
                        job.produced += 1
                        job._emit("item", item)
                        if job.cancelled:
                            break
                finally:
                    if isinstance(items, Generator):
                        items.close()  # a generator's finally runs now: llama.cpp stops and its lock is released
                job.outcome = "cancelled" if job.cancelled else "done"
        except BaseException as exc:  # the job's failure belongs to its request; the worker lives on
            job.outcome = "failed"
            ending = ("error", exc)
        finally:
            # The slot is free before the request can see its end: a client that sends its next request the moment
            # this one ends must not find its own previous request still holding the slot.
            with self._lock:
                self._admitted -= 1
                self._started.pop(id(job), None)
                self.counts[job.outcome or "failed"] += 1
                self.busy_seconds += time.monotonic() - t0
                if job.outcome == "done":
                    self._service_seconds = 0.8 * self._service_seconds + 0.2 * (time.monotonic() - t0)
            job.finished.set()
            job._emit(*ending)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the workers after the jobs already queued."""
        for _ in self._threads:
            self._jobs.put(None)
        for t in self._threads:
            t.join(timeout)
