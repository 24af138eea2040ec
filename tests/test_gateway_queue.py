"""The queue in front of the model: 429 when full, a client that goes away stops its generation, and time limits."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import httpx
import openai
import pytest

from gateway_server import Running, serve
from weightwarden.gateway import ModelSpec
from weightwarden.runtimes import Artifact, Chunk, GenerationParams, Message, RuntimeInfo
from weightwarden.runtimes.llamacpp import LlamaCppRuntime

COUNTING = "1, 2, 3, 4, 5,"  # the model counts on and on: a generation that only max_tokens ends
# Long enough that no generation finishes while a test holds it (the server writes ahead of a client that does not
# read, until the socket buffers fill), short enough to fit the 2048-token context.
LONG = 1500


@pytest.fixture(scope="module")
def gw(
    tmp_path_factory: pytest.TempPathFactory, llama: LlamaCppRuntime, default_artifact: Artifact
) -> Iterator[Running]:
    with serve(tmp_path_factory.mktemp("queue"), llama, default_artifact, slots=1) as g:
        yield g


def disconnects(gw: Running, key: str) -> float:
    """The gateway's count of generations cancelled by a disconnect, as /metrics reports it."""
    text = httpx.get(f"{gw.root}/metrics", headers={"Authorization": f"Bearer {key}"}).text
    series = 'warden_generations_cancelled_total{model="default",reason="disconnect"} '
    return next((float(line.removeprefix(series)) for line in text.splitlines() if line.startswith(series)), 0.0)


def stream_body(max_tokens: int = LONG) -> dict[str, object]:
    return {"model": "default", "prompt": COUNTING, "max_tokens": max_tokens, "temperature": 0, "stream": True}


def test_a_full_queue_answers_429_with_retry_after(gw: Running) -> None:
    auth = {"Authorization": f"Bearer {gw.key()}"}
    with httpx.stream("POST", f"{gw.base_url}/completions", json=stream_body(), headers=auth, timeout=120) as running:
        lines = running.iter_lines()
        first = next(lines)  # the one slot is taken and generating
        assert first.startswith("data: ") and "error" not in first, first
        busy = httpx.post(f"{gw.base_url}/completions", json={**stream_body(4), "stream": False}, headers=auth)
        assert busy.status_code == 429 and busy.json()["error"]["code"] == "queue_full"
        assert int(busy.headers["Retry-After"]) >= 1
    rows = gw.rows(route="/v1/completions", status=429)
    assert rows and rows[0].error == "queue_full"
    assert gw.rows(route="/v1/completions", status=499), "the client that held the slot went away"
    assert gw.idle(), "its generation stopped within a token, freeing the slot"
    after = httpx.post(f"{gw.base_url}/completions", json={**stream_body(4), "stream": False}, headers=auth, timeout=60)
    assert after.status_code == 200, "the slot comes back once the client that held it has gone"


def test_a_client_that_disconnects_mid_stream_stops_its_generation(gw: Running) -> None:
    queue = gw.gateway.router.backends["default"].queue
    before = dict(queue.counts)
    client = openai.OpenAI(base_url=gw.base_url, api_key=gw.key(), max_retries=0)
    cancelled = disconnects(gw, client.api_key)
    seen = len(gw.rows(route="/v1/completions", status=499, timeout=0))
    stream = client.completions.create(model="default", prompt=COUNTING, max_tokens=LONG, temperature=0, stream=True)
    first = [next(iter(stream)) for _ in range(3)]
    assert all(c.choices[0].text for c in first)
    stream.close()  # the client goes away
    row = gw.rows(seen + 1, route="/v1/completions", status=499)[0]
    assert row.error == "client_closed_request" and 3 <= row.completion_tokens < LONG
    assert gw.idle() and queue.counts["cancelled"] == before["cancelled"] + 1
    assert disconnects(gw, client.api_key) == cancelled + 1


def test_a_client_that_gives_up_on_a_plain_answer_stops_it_too(gw: Running) -> None:
    queue = gw.gateway.router.backends["default"].queue
    cancelled = queue.counts["cancelled"] + queue.counts["skipped"]
    seen = len(gw.rows(route="/v1/completions", status=499, timeout=0))
    body = {**stream_body(), "stream": False}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{gw.base_url}/completions", json=body, headers={"Authorization": f"Bearer {gw.key()}"}, timeout=1.5
        )
    rows = gw.rows(seen + 1, route="/v1/completions", status=499)
    assert len(rows) == seen + 1 and rows[0].completion_tokens < LONG
    assert gw.idle() and queue.counts["cancelled"] + queue.counts["skipped"] == cancelled + 1


class HangingRuntime:
    """A model that hangs until released: the one fault the real model cannot produce on demand."""

    def __init__(self) -> None:
        self.info = RuntimeInfo("fake", "hang", 0.0)
        self.release = threading.Event()
        self.started = threading.Event()

    def tokenize(self, text: str, add_special: bool = False) -> list[int]:
        return list(range(len(text.split())))

    def detokenize(self, tokens: Sequence[int]) -> str:
        return " ".join(map(str, tokens))

    def _hang(self) -> Iterator[Chunk]:
        self.started.set()
        self.release.wait(30)
        yield Chunk("too late", "stop", 1, 1)

    def chat_stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[Chunk]:
        return self._hang()

    def complete_stream(self, prompt: str, params: GenerationParams) -> Iterator[Chunk]:
        return self._hang()

    def close(self) -> None:
        self.release.set()


@pytest.fixture(scope="module")
def timed(tmp_path_factory: pytest.TempPathFactory, llama: LlamaCppRuntime) -> Iterator[tuple[Running, HangingRuntime]]:
    hang = HangingRuntime()
    spec = ModelSpec("hang", runtime=hang, model_hash="f" * 64, slots=4)
    with serve(tmp_path_factory.mktemp("timed"), llama, extra=(spec,), request_timeout=2.0) as g:
        yield g, hang
    hang.release.set()


def test_a_request_past_its_time_limit_ends_with_504(timed: tuple[Running, HangingRuntime]) -> None:
    gw, hang = timed
    client = openai.OpenAI(base_url=gw.base_url, api_key=gw.key(), max_retries=0)
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="hang", messages=[{"role": "user", "content": "hi"}], max_tokens=4)
    assert caught.value.status_code == 504 and caught.value.code == "timeout"
    assert caught.value.body["type"] == "timeout_error"  # type: ignore[index]
    assert hang.started.is_set()
    row = gw.rows(model="hang", status=504)[0]  # the first 504 of its module
    assert row.error == "timeout" and row.total_ms >= 2000
    # Streamed, the same: the response starts with the first token, so a model that gives none in time is a 504, not
    # a 200 whose stream ends in an error event.
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(
            model="hang", messages=[{"role": "user", "content": "hi"}], max_tokens=4, stream=True
        )
    assert caught.value.status_code == 504 and caught.value.code == "timeout"
    assert len(gw.rows(2, model="hang", status=504)) == 2
    hang.release.set()


def test_a_stream_past_its_time_limit_ends_with_an_error_event(timed: tuple[Running, HangingRuntime]) -> None:
    gw, _ = timed
    seen = len(gw.rows(model="default", status=504, timeout=0))
    queue = gw.gateway.router.backends["default"].queue
    stopped = queue.counts["cancelled"] + queue.counts["skipped"]
    client = openai.OpenAI(base_url=gw.base_url, api_key=gw.key(), max_retries=0)
    stream = client.completions.create(model="default", prompt=COUNTING, max_tokens=LONG, temperature=0, stream=True)
    with pytest.raises(openai.APIError, match="time limit"):
        for _ in stream:
            pass
    row = gw.rows(seen + 1, model="default", status=504)[0]
    assert row.error == "timeout" and row.completion_tokens < LONG
    assert gw.idle() and queue.counts["cancelled"] + queue.counts["skipped"] == stopped + 1, "the model was stopped"
