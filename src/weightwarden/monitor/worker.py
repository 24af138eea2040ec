"""Sketches are made off the request path: the gateway hands each finished request to a SketchWorker and moves on.

submit() only appends to a bounded queue (microseconds); one background thread takes what has queued up, has the
prompts embedded in one batch, and queues one ledger write for the batch. That must cost generation nothing it
can measure, on a machine where llama.cpp already uses every core:

- the bundled embedder runs in a child process of its own, in the idle scheduling class, on one torch thread
  (monitor/embed_process.py): the sketch thread only waits on a pipe, so it holds no lock (the GIL) that the
  threads streaming tokens need, and the child's CPU time does not count as competition when llama.cpp chooses
  its threads (runtimes/threads.py);
- an embed function given in-process (tests) runs in the sketch thread; that thread can be put in the idle
  scheduling class (`nice`), and bundled_thread_embedder() keeps torch to one thread there;
- the embedder starts when the worker starts (preload), not in the first request's time;
- while `busy()` says a model is generating, the queue waits: sketches are made once the model has been idle for
  `idle_for` seconds (a client sending request after request leaves gaps of a few milliseconds, too short to
  embed in without slowing its next answer), or, on a gateway that is never idle, once `backlog` requests or
  `max_chars` characters of text are pending or the oldest has waited `max_delay` seconds: then in batches of
  `batch`, at the idle priority, while the model generates. Every request is sketched, late if need be. flush()
  and close() do not wait for an idle model.

When the thread falls behind by max_pending requests, new ones are dropped and counted rather than let memory grow.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future

from weightwarden.ledger import Ledger, RequestRecord, SketchRecord
from weightwarden.monitor.sketch import Embed, sketch_requests

log = logging.getLogger("weightwarden.monitor")

_Item = tuple[RequestRecord, str | None, str | None]
EMBED_THREADS = 1  # torch threads of the sketch embedder: one core at most, and only when it is idle


def bundled_embedder() -> Embed:
    """The bundled all-MiniLM-L6-v2's embed function, served by this process's embedder process (started and
    loaded here: a few seconds the first time; later gateways of the same process share it)."""
    from weightwarden.monitor.embed_process import shared

    return shared().start().embed


def bundled_thread_embedder() -> Embed:
    """The bundled all-MiniLM-L6-v2's embed function in this process (loads it: a few seconds).

    Call it in the thread that will embed: torch runs there on EMBED_THREADS threads, elsewhere as before.
    """
    from weightwarden.runtimes.embedder import SentenceEmbedder, torch_threads_here

    embedder = SentenceEmbedder()
    torch_threads_here(EMBED_THREADS)
    return embedder.embed


def lower_priority(nice: int) -> str:
    """Put the calling thread in the idle scheduling class, else raise its nice value by `nice`; say which."""
    mine = threading.get_native_id()
    try:
        os.sched_setscheduler(mine, os.SCHED_IDLE, os.sched_param(0))
        return "idle"
    except (OSError, AttributeError):
        pass
    try:  # on Linux a thread has its own nice value
        os.setpriority(os.PRIO_PROCESS, mine, min(19, os.getpriority(os.PRIO_PROCESS, mine) + nice))
        return f"nice +{nice}"
    except (OSError, AttributeError):
        return "normal"


class SketchWorker:
    """Sketch finished requests in a background thread and write the sketches to the ledger.

    embedder: makes the embed function (called once, in the worker thread); None sketches without embeddings.
    busy: whether a model in this process is generating now (the gateway's queues know); None: never.
    idle_for: how long (seconds) the model must have been idle before queued requests are sketched.
    backlog, max_chars, max_delay: while the model stays busy, sketch anyway once this many requests, or this many
    characters of their texts, are pending, or the oldest has waited this many seconds.
    batch: the most requests embedded in one call.
    preload: make the embedder when the thread starts rather than on the first batch.
    nice: how far to lower the thread's nice value where the idle scheduling class is refused; 0 keeps the
    thread's priority as it is (no idle class either).
    """

    def __init__(
        self,
        ledger: Ledger,
        *,
        embedder: Callable[[], Embed] | None = bundled_embedder,
        max_pending: int = 10_000,
        batch: int = 64,
        nice: int = 19,
        busy: Callable[[], bool] | None = None,
        idle_for: float = 0.25,
        backlog: int = 1000,
        max_chars: int = 20_000_000,
        max_delay: float = 300.0,
        preload: bool = True,
        poll: float = 0.05,
    ) -> None:
        self.ledger, self.max_pending, self.batch, self.nice = ledger, max_pending, batch, nice
        self.busy, self.max_delay, self.preload, self.poll = busy, max_delay, preload, poll
        self.idle_for, self.backlog, self.max_chars = idle_for, backlog, max_chars
        self._idle_since: float | None = None  # when busy() was last seen turning False (monotonic)
        self._chars = 0  # characters of the queued texts
        self.priority = "normal"  # what lower_priority managed, once the thread has started
        self.ready = threading.Event()  # set once the embedder is made (or failed, or there is none to make)
        self._make_embed = embedder
        self._embed: Embed | None = None
        self._queue: deque[_Item] = deque()
        self._since: deque[float] = deque()  # when each queued item came (monotonic), oldest first
        self._urgent = 0  # flush() calls waiting: take items without waiting for an idle model
        self._cond = threading.Condition()
        self._in_hand = 0  # items taken from the queue and not yet handed to the ledger
        self._writes: list[Future[int]] = []
        self._closed = False
        self.written = self.dropped = self.failed = 0
        self.unembedded = 0  # sketched without an embedding because the embedder failed
        self._thread = threading.Thread(target=self._run, name="sketch-worker", daemon=True)
        self._thread.start()

    def submit(self, record: RequestRecord, prompt_text: str | None, response_text: str | None) -> None:
        """Queue a finished request to be sketched; returns at once. Requests without prompt text are skipped."""
        if prompt_text is None:
            return
        with self._cond:
            if self._closed or len(self._queue) + self._in_hand >= self.max_pending:
                self.dropped += 1
                return
            self._queue.append((record, prompt_text, response_text))
            self._chars += len(prompt_text) + len(response_text or "")
            self._since.append(time.monotonic())
            self._cond.notify()

    def flush(self, timeout: float = 120.0) -> bool:
        """Wait until everything submitted so far is sketched and written; False if that took over timeout seconds."""
        with self._cond:
            self._urgent += 1
            self._cond.notify_all()
            try:
                if not self._cond.wait_for(lambda: not self._queue and not self._in_hand, timeout):
                    return False
            finally:
                self._urgent -= 1
            writes, self._writes = self._writes, []
        for future in writes:
            with contextlib.suppress(Exception):  # a failure is already counted by the callback
                future.result(timeout)
        return True

    def close(self, timeout: float = 120.0) -> None:
        """Sketch what is queued, then stop the thread. Idempotent.

        While the embedder is still loading (a gateway stopped soon after it started; the load runs at the idle
        priority, so on a busy machine it can take long), close() does not wait for it: what is queued is sketched
        at once without embeddings (counted in `unembedded`), the thread (a daemon) ends on its own once the load
        returns, and the shared embedder process is killed at exit if it is still loading then."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
            loading = not self.ready.is_set() and not self._in_hand
            drained: list[_Item] = []
            if loading:
                drained = list(self._queue)
                self._queue.clear()
                self._since.clear()
                self._chars = 0
            missed = len(drained) if self._make_embed is not None else 0  # None: these sketches never had one
            self.unembedded += missed
        if missed:
            log.warning("%d request sketches go without embeddings: the embedder was still loading", missed)
        if drained:
            self._write(drained, with_embeddings=False)
        if loading:
            return
        self._thread.join(timeout)

    def _due(self) -> bool:
        """Whether the queued items should be sketched now (lock held, queue not empty)."""
        if self._closed or self._urgent or self.busy is None:
            return True
        now = time.monotonic()
        if len(self._queue) >= self.backlog or self._chars >= self.max_chars or now - self._since[0] >= self.max_delay:
            return True
        try:
            busy = self.busy()
        except Exception:  # a broken signal must not stop sketches
            return True
        if busy:
            self._idle_since = None
            return False
        if self._idle_since is None:
            self._idle_since = now
        return now - self._idle_since >= self.idle_for

    def _take(self) -> list[_Item]:
        with self._cond:
            while not (self._closed and not self._queue):
                if self._queue and self._due():
                    break
                # Nothing queued: sleep until submit(). Queued but a model is generating: look again shortly.
                self._cond.wait(self.poll if self._queue else None)
            items = [self._queue.popleft() for _ in range(min(self.batch, len(self._queue)))]
            for _, prompt, answer in items:
                self._since.popleft()
                self._chars -= len(prompt or "") + len(answer or "")
            self._idle_since = None  # the next batch waits for an idle stretch seen after this one
            self._in_hand = len(items)
            return items

    def _run(self) -> None:
        if self.nice:
            self.priority = lower_priority(self.nice)
        if self.preload:
            self._embedder()
        while True:
            items = self._take()
            if not items:
                return  # closed, and nothing left
            try:
                self._write(items)
            finally:
                with self._cond:
                    self._in_hand = 0
                    self._cond.notify_all()

    def _embedder(self) -> Embed | None:
        if self._embed is None and self._make_embed is not None:
            try:
                self._embed = self._make_embed()
            except Exception as exc:  # no embedder: sketch the rest of each request all the same
                if not self._closed:  # a load cut short by the process exiting is no news
                    log.warning("request sketches go without embeddings: the embedder cannot load (%s)", exc)
            self._make_embed = None
        self.ready.set()
        return self._embed

    def _sketch(self, items: list[_Item], with_embeddings: bool = True) -> list[SketchRecord]:
        """The batch's sketches; when the embedder fails (its process died twice, a batch it refuses), the same
        sketches without embeddings, so lengths, language, guard scores and refusals are still kept."""
        if not with_embeddings:
            return sketch_requests(items, None)
        embed = self._embedder()
        try:
            return sketch_requests(items, embed)
        except Exception as exc:
            if embed is None:
                raise
            log.warning("%d request sketches go without embeddings: the embedder failed (%s)", len(items), exc)
            with self._cond:
                self.unembedded += len(items)
            return sketch_requests(items, None)

    def _write(self, items: list[_Item], with_embeddings: bool = True) -> None:
        try:
            future = self.ledger.add_sketches(self._sketch(items, with_embeddings))
        except Exception as exc:
            with self._cond:
                self.failed += len(items)
            log.error("%d request sketches could not be made or queued: %s", len(items), exc)
            return

        def done(f: Future[int]) -> None:
            exc = f.exception()
            with self._cond:
                if exc is None:
                    self.written += f.result()
                else:
                    self.failed += len(items)
            if exc is not None:
                log.error("%d request sketches could not be written: %s", len(items), exc)

        future.add_done_callback(done)
        with self._cond:
            self._writes = [f for f in self._writes if not f.done()] + [future]
