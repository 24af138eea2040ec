"""Sketches are made off the request path: the gateway hands each finished request to a SketchWorker and moves on.

submit() only appends to a bounded queue (microseconds); one background thread, at a lower CPU priority, takes what
has queued up, embeds the prompts in one batch, and queues one ledger write for the batch. The embedder loads on
the first batch, in that thread, so a gateway that never sees a prompt never loads it. When the thread falls
behind by max_pending requests, new ones are dropped and counted rather than let memory grow.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future

from weightwarden.ledger import Ledger, RequestRecord
from weightwarden.monitor.sketch import Embed, sketch_requests

log = logging.getLogger("weightwarden.monitor")

_Item = tuple[RequestRecord, str | None, str | None]


def bundled_embedder() -> Embed:
    """The bundled all-MiniLM-L6-v2's embed function (loads it: a few seconds the first time)."""
    from weightwarden.runtimes.embedder import SentenceEmbedder

    return SentenceEmbedder().embed


class SketchWorker:
    """Sketch finished requests in a background thread and write the sketches to the ledger.

    embedder: makes the embed function (called once, in the worker thread); None sketches without embeddings.
    """

    def __init__(
        self,
        ledger: Ledger,
        *,
        embedder: Callable[[], Embed] | None = bundled_embedder,
        max_pending: int = 10_000,
        batch: int = 64,
        nice: int = 5,
    ) -> None:
        self.ledger, self.max_pending, self.batch, self.nice = ledger, max_pending, batch, nice
        self._make_embed = embedder
        self._embed: Embed | None = None
        self._queue: deque[_Item] = deque()
        self._cond = threading.Condition()
        self._busy = 0  # items taken from the queue and not yet handed to the ledger
        self._writes: list[Future[int]] = []
        self._closed = False
        self.written = self.dropped = self.failed = 0
        self._thread = threading.Thread(target=self._run, name="sketch-worker", daemon=True)
        self._thread.start()

    def submit(self, record: RequestRecord, prompt_text: str | None, response_text: str | None) -> None:
        """Queue a finished request to be sketched; returns at once. Requests without prompt text are skipped."""
        if prompt_text is None:
            return
        with self._cond:
            if self._closed or len(self._queue) + self._busy >= self.max_pending:
                self.dropped += 1
                return
            self._queue.append((record, prompt_text, response_text))
            self._cond.notify()

    def flush(self, timeout: float = 120.0) -> bool:
        """Wait until everything submitted so far is sketched and written; False if that took over timeout seconds."""
        with self._cond:
            if not self._cond.wait_for(lambda: not self._queue and not self._busy, timeout):
                return False
            writes, self._writes = self._writes, []
        for future in writes:
            with contextlib.suppress(Exception):  # a failure is already counted by the callback
                future.result(timeout)
        return True

    def close(self, timeout: float = 120.0) -> None:
        """Sketch what is queued, then stop the thread. Idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def _take(self) -> list[_Item]:
        with self._cond:
            self._cond.wait_for(lambda: self._queue or self._closed)
            items = [self._queue.popleft() for _ in range(min(self.batch, len(self._queue)))]
            self._busy = len(items)
            return items

    def _run(self) -> None:
        if self.nice:
            try:  # on Linux a thread has its own nice value: sketches yield the CPU to generation
                mine = threading.get_native_id()
                os.setpriority(os.PRIO_PROCESS, mine, os.getpriority(os.PRIO_PROCESS, mine) + self.nice)
            except (OSError, AttributeError):
                pass
        while True:
            items = self._take()
            if not items:
                return  # closed, and nothing left
            try:
                self._write(items)
            finally:
                with self._cond:
                    self._busy = 0
                    self._cond.notify_all()

    def _embedder(self) -> Embed | None:
        if self._embed is None and self._make_embed is not None:
            try:
                self._embed = self._make_embed()
            except Exception as exc:  # no embedder: sketch the rest of each request all the same
                log.warning("request sketches go without embeddings: the embedder cannot load (%s)", exc)
            self._make_embed = None
        return self._embed

    def _write(self, items: list[_Item]) -> None:
        try:
            sketches = sketch_requests(items, self._embedder())
            future = self.ledger.add_sketches(sketches)
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
