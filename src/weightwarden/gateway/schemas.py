"""The request bodies the gateway accepts, with their limits, parsed strictly: a string is not a number.

Fields OpenAI defines that the gateway cannot honour (tools, n > 1, penalties, logit_bias, ...) are refused with a
400 that names them, never silently ignored; fields it does not know are ignored, as OpenAI's own clients expect.
"""

from __future__ import annotations

import re
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.config import JsonDict

from weightwarden.gateway.errors import BadRequest

MAX_TOKENS = 32_768  # the most any request may ask for; a model's context and the config cap it further
MAX_STOP = 4
MAX_STOP_CHARS = 256
MAX_MESSAGES = 1024
MAX_PROMPTS = 64
MAX_INPUTS = 2048

T = TypeVar("T", bound=BaseModel)
# What the validators below refuse, said in the JSON schema that /openapi.json publishes (parsing ignores it).
_NULL: JsonDict = {"type": "null"}
_STOP: JsonDict = {"type": "string", "minLength": 1, "maxLength": MAX_STOP_CHARS}
_ONLY_ONE: JsonDict = {"minimum": 1, "maximum": 1}
_ONLY_ZERO: JsonDict = {"minimum": 0, "maximum": 0}
_NONE_OR_EMPTY: JsonDict = {"anyOf": [_NULL, {"type": "array", "maxItems": 0}]}
_TOKENS: JsonDict = {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1}
_TYPE_TAG = re.compile(r"(str|int|float|bool|list\[.*\]|dict\[.*\]|function-\w+\[.*)")


class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class TextPart(_Body):
    type: Literal["text"]
    text: str


class ChatMessage(_Body):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class StreamOptions(_Body):
    include_usage: bool = False


class _Sampling(_Body):
    model: str = Field(min_length=1, max_length=256)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int | None = Field(None, ge=-(2**63), lt=2**63)
    stop: str | list[str] | None = Field(
        None, json_schema_extra={"anyOf": [_STOP, {"type": "array", "items": _STOP, "maxItems": MAX_STOP}, _NULL]}
    )
    stream: bool = False
    stream_options: StreamOptions | None = Field(None, description="only with stream: true")
    n: int = Field(1, json_schema_extra=_ONLY_ONE)
    presence_penalty: float = Field(0.0, json_schema_extra=_ONLY_ZERO)
    frequency_penalty: float = Field(0.0, json_schema_extra=_ONLY_ZERO)
    logit_bias: dict[str, float] | None = Field(
        None, json_schema_extra={"anyOf": [{"type": "object", "maxProperties": 0}, _NULL]}
    )
    user: str | None = Field(None, max_length=256)

    @field_validator("stop")
    @classmethod
    def _stop(cls, value: str | list[str] | None) -> str | list[str] | None:
        stops = [value] if isinstance(value, str) else value or []
        if len(stops) > MAX_STOP:
            raise ValueError(f"at most {MAX_STOP} stop sequences")
        if any(not s or len(s) > MAX_STOP_CHARS for s in stops):
            raise ValueError(f"each stop sequence needs 1 to {MAX_STOP_CHARS} characters")
        return value

    @model_validator(mode="after")
    def _supported(self) -> _Sampling:
        if self.n != 1:
            raise ValueError("n must be 1: send one request per answer")
        if self.presence_penalty or self.frequency_penalty:
            raise ValueError("presence_penalty and frequency_penalty are not supported; leave them at 0")
        if self.logit_bias:
            raise ValueError("logit_bias is not supported")
        if self.stream_options is not None and not self.stream:
            raise ValueError("stream_options needs stream: true")
        return self

    @property
    def stops(self) -> tuple[str, ...]:
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatRequest(_Sampling):
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    max_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS)
    max_completion_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS)
    tools: Any = Field(None, json_schema_extra=_NONE_OR_EMPTY)
    functions: Any = Field(None, json_schema_extra=_NONE_OR_EMPTY)
    tool_choice: Any = Field(None, json_schema_extra={"enum": [None, "none"]})
    response_format: Any = Field(
        None,
        json_schema_extra={
            "anyOf": [
                _NULL,
                {"type": "object", "properties": {"type": {"const": "text"}}, "required": ["type"], "maxProperties": 1},
            ]
        },
    )
    logprobs: bool | None = Field(None, json_schema_extra={"enum": [None, False]})

    @model_validator(mode="after")
    def _chat_supported(self) -> ChatRequest:
        if self.tools or self.functions or self.tool_choice not in (None, "none"):
            raise ValueError("tools and function calling are not supported by this gateway")
        if self.response_format not in (None, {"type": "text"}):
            raise ValueError("response_format other than text is not supported")
        if self.logprobs:
            raise ValueError("logprobs on chat completions are not supported: use /v1/completions with logprobs")
        return self

    @property
    def requested_max_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


Prompt = str | list[str] | list[int] | list[list[int]]


class CompletionRequest(_Sampling):
    prompt: Prompt = Field(
        json_schema_extra={
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": MAX_PROMPTS},
                _TOKENS,
                {"type": "array", "items": _TOKENS, "minItems": 1, "maxItems": MAX_PROMPTS},
            ]
        }
    )
    max_tokens: int = Field(16, ge=0, le=MAX_TOKENS, description="0 only with echo: true")
    echo: bool = False
    logprobs: int | None = Field(None, ge=0, le=20, description="not with stream: true")
    best_of: int | None = Field(None, json_schema_extra={"anyOf": [{"type": "integer", **_ONLY_ONE}, _NULL]})
    suffix: str | None = Field(None, json_schema_extra={"anyOf": [{"type": "string", "maxLength": 0}, _NULL]})

    @model_validator(mode="after")
    def _completion_supported(self) -> CompletionRequest:
        if self.best_of not in (None, 1):
            raise ValueError("best_of must be 1")
        if self.suffix:
            raise ValueError("suffix (insertion) is not supported")
        if self.max_tokens == 0 and not self.echo:
            raise ValueError("max_tokens 0 only makes sense with echo: true (to score a prompt)")
        if self.stream and self.logprobs is not None:
            raise ValueError("logprobs are not streamed: send stream: false")
        prompts = self.prompts
        if not prompts or len(prompts) > MAX_PROMPTS:
            raise ValueError(f"prompt needs 1 to {MAX_PROMPTS} prompts")
        if self.stream and len(prompts) > 1:
            raise ValueError("a streamed request takes one prompt")
        if any(isinstance(p, list) and not p for p in prompts):
            raise ValueError("a token prompt needs at least one token")
        return self

    @property
    def prompts(self) -> list[str | list[int]]:
        """One entry per prompt: a string, or a list of token ids."""
        p = self.prompt
        if isinstance(p, str):
            return [p]
        if p and all(isinstance(x, int) for x in p):
            return [[int(x) for x in p if isinstance(x, int)]]
        return [x for x in p if isinstance(x, (str, list))]


class EmbeddingRequest(_Body):
    model: str = Field(min_length=1, max_length=256)
    input: str | list[str] | list[int] | list[list[int]] = Field(
        description="text; token arrays are refused",
        json_schema_extra={
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": MAX_INPUTS},
            ]
        },
    )
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None
    user: str | None = Field(None, max_length=256)

    @model_validator(mode="after")
    def _texts_only(self) -> EmbeddingRequest:
        texts = self.texts
        if len(texts) != (1 if isinstance(self.input, str) else len(self.input)):
            raise ValueError("token arrays are not supported for embeddings: send text")
        if not texts or len(texts) > MAX_INPUTS:
            raise ValueError(f"input needs 1 to {MAX_INPUTS} texts")
        return self

    @property
    def texts(self) -> list[str]:
        if isinstance(self.input, str):
            return [self.input]
        return [x for x in self.input if isinstance(x, str)]


class TokenizeRequest(_Body):
    model: str | None = None
    prompt: str
    add_special_tokens: bool = True


class DetokenizeRequest(_Body):
    model: str | None = None
    tokens: list[int] = Field(max_length=1_000_000, json_schema_extra={"items": {"type": "integer", "minimum": 0}})


_INT64 = 2**63 - 1  # the largest integer the ledger's databases store


class KeyCreateRequest(_Body):
    name: str = Field(min_length=1, max_length=128)
    models: list[str] = Field(default_factory=list, max_length=256)
    rpm: int | None = Field(None, ge=1, le=_INT64)
    tpm: int | None = Field(None, ge=1, le=_INT64)
    budget_tokens: int | None = Field(None, ge=0, le=_INT64)
    budget_usd: float | None = Field(None, ge=0.0, le=1e15)
    expires: str | None = Field(None, max_length=64)

    @field_validator("name", "models", "expires")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        """Text the ledger can store: no lone UTF-16 surrogates (JSON allows them, UTF-8 does not)."""
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str):
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    raise ValueError("text with a lone surrogate (an unpaired \\ud800-\\udfff escape)") from None
        return value


def parse_body(model: type[T], raw: bytes) -> T:
    """Parse and check a JSON body; every mistake becomes a 400 that names the field and what is wrong."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        if first["type"] == "json_invalid":
            raise BadRequest(f"the body is not valid JSON: {first['msg']}", code="invalid_json") from None
        # Union members show up in the location as type names (prompt.list[int].0): keep only the field path.
        loc = [str(part) for part in first["loc"] if not _TYPE_TAG.fullmatch(str(part))]
        if not loc and first["type"] in ("model_type", "model_attributes_type", "dict_type"):
            raise BadRequest("the body must be a JSON object", code="invalid_json") from None
        message = str(first["msg"]).removeprefix("Value error, ")
        param = ".".join(loc) or None
        where = f"{param}: " if param else ""
        code = "missing_required_parameter" if first["type"] == "missing" else "invalid_value"
        raise BadRequest(f"{where}{message}", param=param, code=code) from None
