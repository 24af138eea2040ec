"""A bounded line in front of each model: N slots (running or waiting), worker threads, and cancellation.

A llama.cpp context runs one generation at a time, so an in-process model gets one worker thread; an upstream
server gets as many workers as slots. A request takes its slot before any other work is done for it (the guard,
tokenizing), so one that finds every slot taken is refused at once with 429, rather than waiting unseen or costing
the model's cores.

The Retry-After of a refusal is when that client's turn would come: the clients refused lately and not yet served
(by their connection) share the model's recent service rate, RETRY_PER_TURN of them coming back per request the
model finishes, each at a random moment around its turn. So 64 clients behind a model that answers 2 requests a
second are told about 11 s, not all 200 ms: the model stays busy (a few retries arrive each time a slot frees, and
one that misses may park, below) while refusals stay about six a second instead of hundreds, which on a small machine
would take the model's cores. RETRY_PER_TURN was 10 until measured against 3 (bench/gateway.py, 64 clients, each
round beside one client): 3 halved the refusals and raised 64 clients' tok/s from 0.78-0.79x to 0.88x of one
client's and lowered their TTFT p50 from 1.6-1.7x to 1.1-1.3x; 2 gave 0.78-0.79x again.

With a line window, a request that finds the line closed but due to open within `park_window` of the service
time does not get its 429: it parks, waiting in enter() for the opening without holding a slot (at most `park`
requests at once, and only while a slot is left for each), and takes the line's place the moment it opens or a slot
frees. So the model has its next request ready even when refused clients' retries happen to miss the window (at 8
clients, 429 back-off alone left it idle about a fifth of the time), while a request that parks still starts
within about half an answer. A parked request whose client goes away, or whose task is cancelled, leaves holding
nothing; one that no slot reaches by twice its expected wait takes one if it may then, else gets its 429.

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
from collections import deque
from collections.abc import Awaitable, Callable, Generator, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from weightwarden.gateway.errors import ClientGone, TooManyRequests

T = TypeVar("T")
Outcome = Literal["done", "cancelled", "failed", "skipped"]
RETRY_PER_TURN = 3  # refused clients told to come back per request the model finishes
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


@dataclass(eq=False)
class _Parked:
    """A request waiting in enter() for the line to open: it holds no slot until one is handed to it (under the
    queue's lock, from any thread); `future` then wakes it on its own loop."""

    future: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop
    client: Hashable
    slot: Slot | None = None

    def wake(self) -> None:
        if not self.future.done():
            self.future.set_result(None)


class ModelQueue:
    """Admission and worker threads for one model.

    slots: requests admitted at once, running or waiting; workers: threads running them.
    line_window: admit a request to wait in line only in that last fraction of the running job's expected time.
    park_window: with a line window, how soon (a fraction of the expected service time) the line must be due to
    open for a request to wait for it in enter() rather than get 429; 0 never waits. park: how many may wait so.
    service_seconds: a job's expected time until jobs have been timed (the estimate then follows them).
    """

    def __init__(
        self,
        name: str,
        slots: int,
        workers: int = 1,
        *,
        line_window: float | None = None,
        park_window: float = 0.0,
        park: int = 1,
        service_seconds: float = 1.0,
    ) -> None:
        if slots < 1 or workers < 1:
            raise ValueError("a model queue needs at least one slot and one worker")
        if park_window < 0 or park < 0:
            raise ValueError("park_window and park cannot be negative")
        self.name, self.slots, self.workers = name, slots, workers
        self.line_window = line_window
        self.park_window, self.park = park_window, park
        self._parked: deque[_Parked] = deque()
        self._timer_at: float | None = None  # when the armed line-opening timer fires (monotonic), if one is armed
        self.parked_admitted = 0  # requests that waited in enter() and were admitted
        self._started: dict[int, float] = {}  # running jobs -> when they started
        self._lock = threading.Lock()
        self._admitted = 0
        self._jobs: queue.SimpleQueue[Job[Any] | None] = queue.SimpleQueue()
        self.service_seconds = service_seconds  # a moving average of the jobs done, for the line and Retry-After
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
        """Take a slot, or raise TooManyRequests (429) with a Retry-After. Requests parked in enter() go first.

        client: who asks (a connection), so that the clients waiting for a turn can be counted.
        """
        with self._lock:
            now = time.monotonic()
            if self._parked or not self._admissible(now):
                raise self._refusal(client, now)
            return self._take(client)

    async def enter(self, client: Hashable = None, *, gone: Callable[[], Awaitable[object]] | None = None) -> Slot:
        """admit(), except that a request whose turn is due within park_window waits for it (see the module).

        gone: makes an awaitable that ends when the client goes away; it is watched only while the request is
        parked, and ClientGone (499) is raised if it ends first. A parked request that is cancelled leaves the queue
        holding nothing; one that waits past its limit is admitted if it may be then, else refused.
        """
        loop = asyncio.get_running_loop()
        with self._lock:
            now = time.monotonic()
            if not self._parked and self._admissible(now):
                return self._take(client)
            due = self._parking(now)
            if due is None:
                raise self._refusal(client, now)
            parked = _Parked(loop.create_future(), loop, client)
            self._parked.append(parked)
            self._arm(loop, now, due)
            # Past the expected opening by as long again (and a tenth of an answer), the estimate was wrong.
            limit = max(0.05, 2 * due + 0.1 * self.service_seconds)
        watcher = asyncio.ensure_future(gone()) if gone is not None else None
        left = False
        try:
            left = await self._wait(parked, watcher, loop.time() + limit)
        except BaseException:
            self._leave(parked)  # cancelled while parked: give back whatever was handed to it
            raise
        finally:
            if watcher is not None:
                watcher.cancel()
                if watcher.done() and not watcher.cancelled():
                    watcher.exception()  # seen: a watcher that failed is no error of the request's
        if left:
            self._leave(parked)
            raise ClientGone(f"the client went away while its request waited for model {self.name!r}")
        with self._lock:
            slot = self._unpark(parked)
            if slot is None:  # no slot came by its limit (no look came at the opening, or the estimate grew)
                now = time.monotonic()
                if not self._admissible(now):
                    raise self._refusal(client, now)
                slot = self._take(client)
                self.parked_admitted += 1
        return slot

    @staticmethod
    async def _wait(parked: _Parked, watcher: asyncio.Future[object] | None, end: float) -> bool:
        """Wait until parked is woken, the loop's clock reaches end, or the watcher ends; whether the client left
        (a watcher that fails cannot tell: the wait goes on without it)."""
        waits: list[asyncio.Future[Any]] = [parked.future] if watcher is None else [parked.future, watcher]
        while True:
            timeout = max(0.0, end - parked.loop.time())
            done, _ = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if watcher is not None and watcher in done:
                if watcher.exception() is None:
                    return True
                waits = [parked.future]
            if parked.future in done or not done:
                return False

    @property
    def parked(self) -> int:
        """Requests waiting in enter() for the line to open."""
        return len(self._parked)

    def _take(self, client: Hashable) -> Slot:
        """Admit a request (lock held)."""
        self._admitted += 1
        self._waiting.pop(client, None)
        return Slot(self)

    def _unpark(self, parked: _Parked) -> Slot | None:
        """The slot handed to a parked request, or None after taking it out of the parked (lock held)."""
        if parked.slot is None and parked in self._parked:
            self._parked.remove(parked)
        return parked.slot

    def _leave(self, parked: _Parked) -> None:
        """A parked request stops waiting: out of the parked if it is still there, else its slot is given back."""
        with self._lock:
            slot = self._unpark(parked)
        if slot is not None:
            slot.release()

    def _admissible(self, now: float) -> bool:
        """Whether a new request may take a slot now (lock held)."""
        return self._admitted < self.slots and (self._admitted < self.workers or self._line_open(now))

    def _refusal(self, client: Hashable, now: float) -> TooManyRequests:
        """The 429 for a request that finds no slot (lock held); counts it."""
        self.counts["rejected"] += 1
        wait = self._retry_after(client, now)
        return TooManyRequests(
            f"model {self.name!r} is busy ({self._admitted} requests in line): retry in {wait:.2f} s",
            code="queue_full",
            retry_after=wait,
        )

    def _opens_in(self, now: float, in_line: int) -> float:
        """Seconds until the line opens to one more request when in_line already wait in it (lock held)."""
        return max(0.0, self._remaining(now) - (self.line_window or 0.0) * self.service_seconds * (in_line + 1))

    def _parking(self, now: float) -> float | None:
        """Seconds until a request that parks now would be admitted, when it may park: the line opens within
        park_window of the service time, a slot is left for it once those parked before it have theirs, and fewer
        than `park` wait so. None when it may not (lock held)."""
        if self.line_window is None or self.park_window <= 0 or len(self._parked) >= self.park:
            return None
        if self._admitted + len(self._parked) >= self.slots:
            return None
        due = self._opens_in(now, self._admitted - self.workers + len(self._parked))
        return due if due <= self.park_window * self.service_seconds else None

    def _arm(self, loop: asyncio.AbstractEventLoop, now: float, delay: float) -> None:
        """Look at the parked requests again in delay seconds, unless a look is due sooner (lock held)."""
        at = now + delay
        if self._timer_at is not None and now <= self._timer_at <= at + 0.001:
            return  # a look before then is armed (one in the past is stale: its loop may have closed)
        self._timer_at = at

        def fire() -> None:
            with self._lock:
                if self._timer_at == at:
                    self._timer_at = None
            self._hand_out()

        with contextlib.suppress(RuntimeError):  # the loop is closed: its waiters are gone, and time out elsewhere
            loop.call_soon_threadsafe(loop.call_later, delay, fire)

    def _hand_out(self) -> None:
        """Give the parked requests the slots that are admissible now, oldest first; arm a look for the rest.
        Called from any thread: a worker when a slot frees, a timer when the line is due to open."""
        with self._lock:
            now = time.monotonic()
            while self._parked and self._admissible(now):
                parked = self._parked.popleft()
                try:
                    parked.loop.call_soon_threadsafe(parked.wake)
                except RuntimeError:  # its loop is closed: nobody waits for this slot
                    continue
                parked.slot = self._take(parked.client)
                self.parked_admitted += 1
            if self._parked and self._admitted < self.slots:
                self._arm(self._parked[0].loop, now, max(0.001, self._opens_in(now, self._admitted - self.workers)))

    def _remaining(self, now: float) -> float:
        """Expected seconds until the first running job ends (from the average service time; lock held)."""
        if not self._started:
            return 0.0
        return max(0.0, self.service_seconds - (now - min(self._started.values())))

    def _line_open(self, now: float) -> bool:
        """Whether a request may wait in line now (lock held). With a line window, only in the last part of the
        running job's expected time: a request that waits in line then starts almost at once, and the model does not
        sit idle between two requests. Without one, whenever a slot is free."""
        if self.line_window is None:
            return True
        in_line = self._admitted - self.workers
        return self._remaining(now) <= self.line_window * self.service_seconds * (in_line + 1)

    def _retry_after(self, client: Hashable, now: float) -> float:
        """When client's turn would come, at random around it (lock held); counts client as waiting until then."""
        if len(self._waiting) > 1024:  # forget clients that stopped waiting (or never came back)
            self._waiting = {c: until for c, until in self._waiting.items() if until > now}
        waiting = sum(1 for until in self._waiting.values() if until > now) + (client not in self._waiting)
        per_turn = self.service_seconds / self.workers
        if self.line_window is not None and self._admitted < self.slots:
            # The line is closed until the running job nears its end: come back then, or later when others wait.
            soon = max(0.0, self._remaining(now) - self.line_window * self.service_seconds / 2)
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
            parked = bool(self._parked)
        if parked:
            self._hand_out()

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
                    self.service_seconds = 0.8 * self.service_seconds + 0.2 * (time.monotonic() - t0)
                parked = bool(self._parked)
            if parked:
                self._hand_out()
            job.finished.set()
            job._emit(*ending)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the workers after the jobs already queued."""
        for _ in self._threads:
            self._jobs.put(None)
        for t in self._threads:
            t.join(timeout)
