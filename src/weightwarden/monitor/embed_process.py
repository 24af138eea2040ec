"""The request-sketch embedder in a process of its own, at the idle CPU priority.

Why a process: with the embedder in a sketch thread of the gateway (idle scheduling class), sketches cost one
streaming client +38 ms p50 per request (bench/gateway.py --sketch-cost, 2026-12-04 17:32 UTC). Our reading: between
torch operations that thread holds the GIL while the scheduler keeps it off the cores, so the threads streaming
tokens wait for it. In a child process the embedder holds no lock the gateway needs; the sketch thread only writes
texts to a pipe and blocks (GIL released) until the vectors come back. That alone was not enough (21:38 UTC: still
+25 ms, 18 ms of the child's CPU per request, from one-or-two-prompt batches made in the gaps between answers); the
rest came from SketchWorker waiting for an idle stretch (monitor/worker.py): -9.3 ms at 21:55 UTC, i.e. noise.

The child lowers its own priority before it loads anything: nice 19, then the idle class (SCHED_IDLE), so its
threads get a core only when nothing else wants it. Its CPU time is counted as niced time in /proc/stat, which the
gateway's thread choice for llama.cpp leaves out (runtimes/threads.py). Torch runs on one thread there.

Protocol on the child's stdin and stdout: every message is a 4-byte big-endian length and a body.
- parent to child: a JSON list of strings to embed;
- child to parent: one byte of kind, then its payload: b"R" + JSON {"dim", "priority", "pid"} once loaded;
  b"V" + float32 unit vectors (len(texts) x dim, row-major) for each list; b"E" + a UTF-8 message on failure.
The child exits when its stdin closes, so it never outlives the gateway process by more than one batch.

One child serves a whole process (shared()): tests start many gateways, and `warden serve` needs one embedder.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import struct
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

LOAD_TIMEOUT = 600.0  # seconds for the child to load torch and the model (a cold disk on a busy machine is slow)
_HEADER = struct.Struct(">I")
MAX_MESSAGE = 256 << 20  # a reply longer than this is a broken stream, not a batch of vectors


class EmbedderProcessError(RuntimeError):
    """The embedder process could not start, load its model, or answer."""


def _send(stream: IO[bytes], body: bytes) -> None:
    stream.write(_HEADER.pack(len(body)) + body)
    stream.flush()


def _receive(stream: IO[bytes]) -> bytes | None:
    """One message's body, or None at a clean end of stream."""
    head = stream.read(_HEADER.size)
    if not head:
        return None
    if len(head) < _HEADER.size:
        raise EOFError("the stream ended inside a message header")
    (size,) = _HEADER.unpack(head)
    if size > MAX_MESSAGE:
        raise EOFError(f"a message of {size} bytes is longer than any batch")
    body = stream.read(size)
    if len(body) < size:
        raise EOFError("the stream ended inside a message")
    return body


class EmbedProcess:
    """A sentence embedder in a child process: embed() sends texts and waits for their unit vectors.

    Safe to call from several threads (one batch at a time). When the child has died (killed, out of memory),
    the next embed() starts a new one once; a child that cannot load its model raises EmbedderProcessError.
    """

    def __init__(self, path: Path | None = None, *, python: str | None = None) -> None:
        self.path, self.python = path, python or sys.executable
        self.dim = 0
        self.priority = ""  # what the child managed: "idle", "nice +19" or "normal"
        self.pid: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._loading: subprocess.Popen[bytes] | None = None  # a child still loading its model (no lock needed)
        self._lock = threading.Lock()
        self._closed = False

    def start(self) -> EmbedProcess:
        """Start the child and wait until its model is loaded (no-op when it runs already)."""
        with self._lock:
            self._ensure()
        return self

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        rows: list[list[float]] = self.embed_array(texts).tolist()
        return rows

    def embed_array(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32 unit vectors."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        body = json.dumps(list(texts)).encode()
        with self._lock:
            for attempt in (1, 2):
                proc = self._ensure()
                error: Exception | None = None
                try:
                    assert proc.stdin is not None and proc.stdout is not None
                    _send(proc.stdin, body)
                    reply = _receive(proc.stdout)
                except (OSError, EOFError) as exc:
                    reply, error = None, exc
                if reply is not None and reply[:1] == b"V":
                    vectors = np.frombuffer(reply[1:], np.float32)
                    if vectors.size != len(texts) * self.dim:
                        raise EmbedderProcessError(f"the embedder sent {vectors.size} values for {len(texts)} texts")
                    return vectors.reshape(len(texts), self.dim)
                if reply is not None and reply[:1] == b"E":  # the child is alive and says why it cannot
                    raise EmbedderProcessError(reply[1:].decode("utf-8", "replace"))
                self._stop()  # died or sent garbage: start a fresh child, once
                if attempt == 2:
                    why = error or "no answer"
                    raise EmbedderProcessError(f"the embedder process stopped answering ({why})")
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Stop the child (it exits when its stdin closes). Idempotent; a later embed() starts a new one."""
        with self._lock:
            self._stop()

    def close_at_exit(self) -> None:
        """close(), for the interpreter's exit: a child still loading its model is killed first, so exit does not
        wait for a load nobody will use (the thread loading it holds the lock until the load ends)."""
        loading = self._loading
        if loading is not None:
            with contextlib.suppress(OSError):
                loading.kill()
        self.close()

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self._stop()
        root = str(Path(__file__).resolve().parents[2])  # the folder that holds the weightwarden package
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")
        env["MKL_NUM_THREADS"] = "1"
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        cmd = [self.python, "-m", "weightwarden.monitor.embed_process"]
        if self.path is not None:
            cmd.append(str(self.path))
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        except OSError as exc:
            raise EmbedderProcessError(f"cannot start the embedder process: {exc}") from exc
        self._proc = proc
        assert proc.stdout is not None
        self._loading = proc
        try:
            reply = self._first_reply(proc)
        finally:
            self._loading = None
        if reply is None or reply[:1] != b"R":
            self._stop()
            why = reply[1:].decode("utf-8", "replace") if reply and reply[:1] == b"E" else "it exited while loading"
            raise EmbedderProcessError(f"the embedder process could not load its model: {why}")
        ready = json.loads(reply[1:])
        self.dim, self.priority, self.pid = int(ready["dim"]), str(ready["priority"]), int(ready["pid"])
        return proc

    def _first_reply(self, proc: subprocess.Popen[bytes]) -> bytes | None:
        """The child's first message, waiting at most LOAD_TIMEOUT seconds (a hung load is killed)."""
        out: list[bytes | None] = [None]

        def read() -> None:
            assert proc.stdout is not None
            try:
                out[0] = _receive(proc.stdout)
            except (OSError, EOFError):
                out[0] = None

        reader = threading.Thread(target=read, name="embedder-load", daemon=True)
        reader.start()
        reader.join(LOAD_TIMEOUT)
        if reader.is_alive():
            proc.kill()
            reader.join(10)
            raise EmbedderProcessError(f"the embedder process did not load its model in {LOAD_TIMEOUT:.0f} s")
        return out[0]

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


_shared: EmbedProcess | None = None
_shared_lock = threading.Lock()


def shared() -> EmbedProcess:
    """This process's one embedder process (made on first use, stopped at exit); not yet started."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = EmbedProcess()
            atexit.register(_shared.close_at_exit)
        return _shared


def _lower_own_priority() -> str:
    with contextlib.suppress(OSError):  # first: the idle class keeps the nice value, and /proc/stat files ours
        os.nice(19)  # as niced time
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        return "idle"
    except (OSError, AttributeError):
        return "nice +19" if os.nice(0) > 0 else "normal"


def main(argv: list[str]) -> int:
    """The child: lower the priority, load the embedder, then answer batches until stdin closes."""
    priority = _lower_own_priority()  # before torch starts any thread: they all inherit it
    inbox, outbox = sys.stdin.buffer, os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a library that prints must not write into the protocol
    try:
        from weightwarden.runtimes.embedder import SentenceEmbedder

        embedder = SentenceEmbedder(Path(argv[0]) if argv else None)
        import torch

        torch.set_num_threads(1)
        ready = {"dim": embedder.dimensions, "priority": priority, "pid": os.getpid()}
    except Exception as exc:
        _send(outbox, b"E" + f"{type(exc).__name__}: {exc}".encode())
        return 1
    try:
        _send(outbox, b"R" + json.dumps(ready).encode())
    except OSError:  # the parent left while the model loaded (a gateway stopped right after it started)
        return 1
    while True:
        try:
            body = _receive(inbox)
        except EOFError:
            return 1
        if body is None:
            return 0
        try:
            texts: Any = json.loads(body)
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise ValueError("expected a JSON list of strings")
            vectors = embedder.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, batch_size=32)
            _send(outbox, b"V" + np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
        except Exception as exc:  # one bad batch: say why and keep serving
            _send(outbox, b"E" + f"{type(exc).__name__}: {exc}".encode())


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
