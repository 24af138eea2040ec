"""The remote runtime: any OpenAI-compatible server (vLLM, llama.cpp's server, Ollama, a weightwarden gateway)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, cast

import httpx
import openai

from weightwarden.errors import CapabilityError, RemoteError
from weightwarden.runtimes.base import Chunk, Generation, GenerationParams, LogLikelihood, Message, RuntimeInfo

T = TypeVar("T")


class RemoteRuntime:
    """A model behind an OpenAI-compatible HTTP API; its weights are not ours, so scoring needs echo logprobs."""

    def __init__(
        self, base_url: str, model: str, *, api_key: str = "none", timeout: float = 60.0, max_retries: int = 0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._aligned = False
        self._auth = {"Authorization": f"Bearer {api_key}"}
        self.client = openai.OpenAI(base_url=self.base_url, api_key=api_key, timeout=timeout, max_retries=max_retries)
        t0 = time.perf_counter()
        self.info = RuntimeInfo("remote", model, 0.0, {"base_url": self.base_url})
        self._call(lambda: self.client.models.list())  # fail now, with a clear message, if nobody answers
        self.info.load_seconds = time.perf_counter() - t0

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except openai.APITimeoutError:
            raise RemoteError(
                f"{self.base_url} did not answer in time: is the server overloaded? raise --timeout"
            ) from None
        except openai.APIConnectionError:
            raise RemoteError(f"cannot reach {self.base_url}: is the server running and the URL right?") from None
        except openai.AuthenticationError:
            raise RemoteError(f"{self.base_url} refused the API key: set OPENAI_API_KEY or pass --api-key") from None
        except openai.APIStatusError as exc:
            raise RemoteError(f"{self.base_url} answered {exc.status_code}: {_message(exc)}") from None

    def _params(self, params: GenerationParams) -> dict[str, Any]:
        if params.logits_processor is not None:  # dropping it silently would pass off unwatermarked text as marked
            raise CapabilityError(
                f"{self.base_url} samples on its own machine, so a logits processor (a watermark) cannot run there: "
                "generate with a local model, or watermark in a weightwarden gateway in front of it"
            )
        return {
            "model": self.model,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": params.seed,
            "stop": list(params.stop) or None,
        }

    def chat(self, messages: Sequence[Message], params: GenerationParams = GenerationParams()) -> Generation:
        t0 = time.perf_counter()
        out = self._call(
            lambda: self.client.chat.completions.create(
                messages=cast(Any, [m.as_dict() for m in messages]), **self._params(params)
            )
        )
        choice = out.choices[0]
        usage = out.usage
        return Generation(
            text=choice.message.content or "",
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            finish_reason=choice.finish_reason or "stop",
            seconds=time.perf_counter() - t0,
        )

    def chat_stream(
        self, messages: Sequence[Message], params: GenerationParams = GenerationParams()
    ) -> Iterator[Chunk]:
        stream = self._call(
            lambda: self.client.chat.completions.create(
                messages=cast(Any, [m.as_dict() for m in messages]),
                stream=True,
                stream_options={"include_usage": True},
                **self._params(params),
            )
        )
        return self._chunks(stream, lambda c: c.delta.content or "")

    def complete(self, prompt: str, params: GenerationParams = GenerationParams()) -> Generation:
        t0 = time.perf_counter()
        out = self._call(lambda: self.client.completions.create(prompt=prompt, **self._params(params)))
        choice = out.choices[0]
        usage = out.usage
        return Generation(
            text=choice.text,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            finish_reason=choice.finish_reason or "stop",
            seconds=time.perf_counter() - t0,
        )

    def complete_stream(self, prompt: str, params: GenerationParams = GenerationParams()) -> Iterator[Chunk]:
        stream = self._call(lambda: self.client.completions.create(prompt=prompt, stream=True, **self._params(params)))
        return self._chunks(stream, lambda c: c.text or "")

    def _chunks(self, stream: Any, text_of: Callable[[Any], str]) -> Iterator[Chunk]:
        finish: str | None = None
        usage = None
        try:
            for event in stream:
                if getattr(event, "usage", None):
                    usage = event.usage
                for choice in event.choices or []:
                    finish = choice.finish_reason or finish
                    if text := text_of(choice):
                        yield Chunk(text=text)
        except (openai.APIError, httpx.HTTPError) as exc:
            raise RemoteError(f"{self.base_url} broke off the stream: {exc}") from None
        yield Chunk(
            "",
            finish or "stop",
            usage.prompt_tokens if usage else None,
            usage.completion_tokens if usage else None,
        )

    # A counting sequence: every model predicts each next number with high confidence, so correctly aligned echo
    # log-probabilities are near 0 from the third number on, while a server that scores token i with the distribution
    # for token i + 1 (llama-cpp-python's server does) gives each number a low probability.
    _ALIGNMENT_PROBE = ("Counting: 1, 2, 3, 4, 5, 6, 7, 8,", " 9, 10, 11, 12, 13, 14, 15, 16")

    def _echo(self, context: str, continuation: str) -> tuple[list[float], list[bool]]:
        prompt = context + continuation
        out = self._call(
            lambda: self.client.completions.create(
                model=self.model, prompt=prompt, max_tokens=1, temperature=0, echo=True, logprobs=1
            )
        )
        lp = out.choices[0].logprobs if out.choices else None
        tokens = list(lp.tokens or []) if lp else []
        logprobs = list(lp.token_logprobs or []) if lp else []
        offsets = list(lp.text_offset or []) if lp else []
        tops = list(lp.top_logprobs or []) if lp else []
        if not tokens or len(logprobs) != len(tokens) or len(offsets) != len(tokens):
            raise CapabilityError(
                f"{self.base_url} gave no prompt log-probabilities for echo=True, logprobs=1: it cannot score text; "
                "use a local runtime or a server that supports echo (vLLM, a weightwarden gateway)"
            )
        if offsets[0] != 0 or not "".join(tokens).startswith(prompt):
            raise CapabilityError(
                f"{self.base_url} did not echo the prompt back with its log-probabilities: cannot score"
            )
        picked = [i for i, off in enumerate(offsets) if len(context) <= off < len(prompt)]
        if not picked or any(logprobs[i] is None for i in picked):
            raise CapabilityError(f"{self.base_url} gave no log-probability for part of the continuation: cannot score")
        if offsets[picked[0]] != len(context):
            raise CapabilityError(
                f"the server's tokens straddle the context/continuation boundary at character {len(context)}: "
                "cannot split them exactly; end the context on a word boundary"
            )
        greedy = []
        for i in picked:
            top = tops[i] if i < len(tops) and tops[i] else None
            greedy.append(top is not None and max(top.items(), key=lambda kv: kv[1])[0] == tokens[i])
        return [float(logprobs[i]) for i in picked], greedy

    def check_alignment(self) -> None:
        """Refuse servers whose echo log-probabilities are shifted by one token (never return a silent wrong number)."""
        if self._aligned:
            return
        logprobs, _ = self._echo(*self._ALIGNMENT_PROBE)
        mean = sum(logprobs) / len(logprobs)
        if mean < -2.0:
            raise CapabilityError(
                f"{self.base_url} returns misaligned prompt log-probabilities (mean {mean:.2f} nats on a counting "
                "sequence a model predicts almost surely; llama-cpp-python's server has this bug): scores from it "
                "would be wrong, so weightwarden will not use them; use a local runtime or vLLM"
            )
        self._aligned = True

    def loglikelihood(self, context: str, continuation: str) -> LogLikelihood:
        """Score via /v1/completions with echo and logprobs; refuse, loudly, when the server cannot give them."""
        if not continuation:
            raise CapabilityError("the continuation is empty: there is nothing to score")
        self.check_alignment()
        logprobs, greedy = self._echo(context, continuation)
        return LogLikelihood(tokens=(), token_logprobs=tuple(logprobs), is_greedy=all(greedy))

    def _post_first(self, routes: list[tuple[str, dict[str, Any]]]) -> dict[str, Any] | None:
        root = self.base_url.removesuffix("/v1")
        for path, body in routes:
            try:
                resp = httpx.post(root + path, json=body, timeout=10, headers=self._auth)
            except httpx.HTTPError:
                return None
            if resp.status_code == 200:
                data = resp.json()
                if isinstance(data, dict):
                    return data
        return None

    def tokenize(self, text: str, add_special: bool = False) -> list[int]:
        """Token ids from the server's own tokenize route (vLLM, llama.cpp's server, llama-cpp-python's server)."""
        data = self._post_first(
            [
                (
                    "/tokenize",
                    {"model": self.model, "prompt": text, "add_special_tokens": add_special, "content": text},
                ),
                ("/extras/tokenize", {"model": self.model, "input": text}),
            ]
        )
        if data is None or not isinstance(data.get("tokens"), list):
            raise CapabilityError(f"{self.base_url} offers no tokenize route: tokenize with a local copy of the model")
        return [int(t) for t in data["tokens"]]

    def detokenize(self, tokens: Sequence[int]) -> str:
        data = self._post_first(
            [
                ("/detokenize", {"model": self.model, "tokens": list(tokens)}),
                ("/extras/detokenize", {"model": self.model, "tokens": list(tokens)}),
            ]
        )
        if data is None:
            raise CapabilityError(f"{self.base_url} offers no detokenize route")
        return str(data.get("prompt", data.get("content", data.get("text", ""))))

    def close(self) -> None:
        self.client.close()


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
    return str(exc.message)
