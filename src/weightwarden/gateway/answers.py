"""The shapes of the gateway's answers, for its OpenAPI document (the routes build them as dicts)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ModelInfo(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    kind: Literal["local", "upstream", "embedder"]


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ModelInfo]


class AssistantMessage(BaseModel):
    role: Literal["assistant"]
    content: str


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: str
    logprobs: None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    system_fingerprint: str | None
    choices: list[ChatChoice]
    usage: Usage


class CompletionChoice(BaseModel):
    index: int
    text: str
    finish_reason: str | None
    logprobs: dict[str, Any] | None


class Completion(BaseModel):
    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage


class Embedding(BaseModel):
    object: Literal["embedding"]
    index: int
    embedding: list[float] | str  # a string with encoding_format: base64


class EmbeddingUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(BaseModel):
    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage


class Tokens(BaseModel):
    tokens: list[int]
    count: int
    max_model_len: int | None


class Detokenized(BaseModel):
    prompt: str


class TokenizerInfo(BaseModel):
    model: str
    eos_token: str | None
    bos_token: str | None
    pad_token: str | None
    chat_template: str | None
    model_max_length: int | None
    add_bos_token: bool


class Health(BaseModel):
    status: Literal["ok"]


class Key(BaseModel):
    """A key as the admin routes show it: everything but its hash."""

    id: str
    name: str
    models: list[str]
    rpm: int | None
    tpm: int | None
    budget_tokens: int | None
    budget_usd: float | None
    spent_tokens: int
    spent_usd: float
    reserved_tokens: int
    reserved_usd: float
    created_at: str
    expires_at: str | None
    revoked_at: str | None


class NewKey(Key):
    key: str  # the secret, shown this once


class KeyList(BaseModel):
    object: Literal["list"]
    data: list[Key]


class AuditRow(BaseModel):
    request_id: str
    time: str
    route: str
    status: int
    key_id: str | None
    model_hash: str | None
    model: str | None
    error: str | None
    prompt_tokens: int
    completion_tokens: int
    ttft_ms: float | None
    total_ms: float
    cost_usd: float
    verdicts: dict[str, Any]
    prompt_text: str | None
    response_text: str | None
    watermark: str | None


class AuditRows(BaseModel):
    object: Literal["list"]
    data: list[AuditRow]
