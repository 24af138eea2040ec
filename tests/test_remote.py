"""The remote runtime against real servers over loopback: llama-cpp-python's server, and a correct echo peer."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from greedy import NOISE, answer_gap, chat_ids
from openai_peer import PeerServer, free_port, make_app
from weightwarden.errors import CapabilityError, RemoteError
from weightwarden.runtimes import Artifact, GenerationParams, Message, load_runtime, resolve
from weightwarden.runtimes.llamacpp import LlamaCppRuntime
from weightwarden.runtimes.remote import RemoteRuntime


@pytest.fixture(scope="module")
def llama_cpp_server(default_artifact: Artifact) -> Iterator[str]:
    """llama-cpp-python's own OpenAI-compatible server, a real peer, in a subprocess."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(default_artifact.path),
            "--port",
            str(port),
            "--n_ctx",
            "2048",
            "--model_alias",
            "smol",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 180  # as the other servers' start-up waits: a loaded machine loads the model slowly
    while time.time() < deadline:
        try:
            if httpx.get(f"{base}/models", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("llama_cpp.server did not start in 180 s")
    yield base
    proc.terminate()
    proc.wait(timeout=10)


def test_chat_stream_and_complete_against_llama_cpp_server(llama_cpp_server: str, llama: LlamaCppRuntime) -> None:
    rt = load_runtime(resolve(f"openai:{llama_cpp_server}#smol"))
    assert isinstance(rt, RemoteRuntime)
    question = "Which city is the capital of France?"
    msgs = [Message("user", question)]
    gen = rt.chat(msgs, GenerationParams(max_tokens=16))
    assert gen.text.strip() and 0 < gen.completion_tokens <= 16 and gen.prompt_tokens == len(chat_ids(llama, question))
    assert gen.finish_reason in ("stop", "length")
    # The server is another process with its own threads and prefix cache: its words may differ from ours at a near
    # tie, so judge them by the model's logits here. It applies its default repeat penalty (1.1 over the last 64
    # tokens) even at temperature 0, which none of the likely first tokens is subject to but later ones are: judge
    # the first token. A wrong template misses by whole logits.
    assert answer_gap(llama, chat_ids(llama, question), gen.text, first=1) < NOISE
    chunks = list(rt.chat_stream(msgs, GenerationParams(max_tokens=16)))
    assert chunks[-1].finish_reason in ("stop", "length")
    streamed = "".join(c.text for c in chunks)
    assert streamed.strip()
    assert answer_gap(llama, chat_ids(llama, question), streamed, first=1) < NOISE
    done = rt.complete("One, two, three,", GenerationParams(max_tokens=4))
    assert (
        done.text and 0 < done.completion_tokens <= 4 and done.prompt_tokens == len(llama.tokenize("One, two, three,"))
    )
    assert answer_gap(llama, llama.tokenize("One, two, three,"), done.text, first=1) < NOISE
    assert rt.detokenize(rt.tokenize("hello world")) == "hello world"
    rt.close()


def test_misaligned_echo_logprobs_are_refused(llama_cpp_server: str) -> None:
    """llama-cpp-python's server shifts prompt logprobs by one token; we must refuse, not return wrong numbers."""
    rt = RemoteRuntime(llama_cpp_server, "smol")
    with pytest.raises(CapabilityError, match="misaligned"):
        rt.loglikelihood("The capital of France is", " Paris")


def test_correct_echo_logprobs_match_the_local_runtime(llama: LlamaCppRuntime) -> None:
    with PeerServer(make_app(llama, logprobs=True)) as peer:
        rt = RemoteRuntime(peer.base_url, "smol")
        for ctx, cont in [("The capital of France is", " Paris"), ("Once upon a time, there was a", " little dog.")]:
            remote = rt.loglikelihood(ctx, cont)
            local = llama.loglikelihood(ctx, cont)
            assert remote.total == pytest.approx(local.total, abs=1e-4)
            assert len(remote.token_logprobs) == len(local.token_logprobs)


def test_server_without_logprobs_is_refused(llama: LlamaCppRuntime) -> None:
    with PeerServer(make_app(llama, logprobs=False)) as peer:
        rt = RemoteRuntime(peer.base_url, "smol")
        with pytest.raises(CapabilityError, match="no prompt log-probabilities"):
            rt.loglikelihood("The capital of France is", " Paris")
        with pytest.raises(CapabilityError, match="tokenize"):
            rt.tokenize("hello")


def test_unreachable_server() -> None:
    with pytest.raises(RemoteError, match="cannot reach"):
        RemoteRuntime(f"http://127.0.0.1:{free_port()}/v1", "m", timeout=2)


def test_server_that_errors(llama: LlamaCppRuntime) -> None:
    with PeerServer(make_app(llama, logprobs=True)) as peer:
        rt = RemoteRuntime(peer.base_url, "smol")
        with pytest.raises(RemoteError, match="answered 404"):
            rt.chat([Message("user", "hi")])  # the peer has no chat route


class _RawServer:
    """A loopback socket that accepts and then either says nothing (a hang) or hangs up (a dropped connection)."""

    def __init__(self, mode: str) -> None:
        import socket
        import threading

        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self.mode == "drop":
                conn.close()
            else:
                self.conns.append(conn)  # keep it open and silent

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.mark.parametrize(("mode", "words"), [("hang", "did not answer in time"), ("drop", "cannot reach")])
def test_server_that_hangs_or_drops(mode: str, words: str) -> None:
    server = _RawServer(mode)
    try:
        with pytest.raises(RemoteError, match=words):
            RemoteRuntime(f"http://127.0.0.1:{server.port}/v1", "m", timeout=1.5)
    finally:
        server.close()
