"""The one writer: a background thread that runs each write job in its own transaction, in arrival order."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar, cast

from sqlalchemy.engine import Connection, Engine

from weightwarden.errors import LedgerError

T = TypeVar("T")

# Execution option that marks the writer's connections; on SQLite they BEGIN IMMEDIATE (see engine.py).
WRITER_OPTION = "ledger_writer"

_Job = tuple[Callable[[Connection], Any] | None, "Future[Any]"]


class Writer:
    """Serialise every write to one database through one thread, so concurrent callers never interleave.

    Each caller of submit blocks until its own job has committed (or failed) and gets the job's result or exception;
    submit_nowait returns a future instead, for callers that must not wait (the gateway's audit rows).
    """

    def __init__(self, engine: Engine, name: str = "ledger-writer") -> None:
        self._engine = engine
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        # Held while enqueueing, so no job can slip in behind the stop sentinel and wait forever.
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, work: Callable[[Connection], T]) -> T:
        """Run work(conn) in a transaction on the writer thread; return its result once committed."""
        return cast(T, self._enqueue(work).result())

    def submit_nowait(self, work: Callable[[Connection], T]) -> Future[T]:
        """Queue work(conn) and return at once; the future holds its result or exception once it has run."""
        return self._enqueue(work)

    def flush(self) -> None:
        """Wait until every job queued before this call has committed or failed."""
        self._enqueue(None).result()

    def close(self) -> None:
        """Finish the queued jobs, then stop the thread; later submits raise LedgerError. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._jobs.put(None)
        self._thread.join()

    @property
    def closed(self) -> bool:
        """Whether close() has been called."""
        return self._closed

    def _enqueue(self, work: Callable[[Connection], Any] | None) -> Future[Any]:
        if threading.current_thread() is self._thread:
            # The writer would wait on itself forever.
            raise RuntimeError("a ledger write job tried to write through the ledger: use the connection it was given")
        future: Future[Any] = Future()
        with self._lock:
            if self._closed:
                raise LedgerError("the ledger is closed: open a new Ledger to write to it")
            self._jobs.put((work, future))
        return future

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            work, future = job
            if work is None:
                future.set_result(None)
                continue
            try:
                with self._engine.connect() as conn:
                    conn.execution_options(**{WRITER_OPTION: True})
                    with conn.begin():
                        result = work(conn)
            except BaseException as exc:  # every failure belongs to its caller; this thread must live on
                future.set_exception(exc)
            else:
                future.set_result(result)
