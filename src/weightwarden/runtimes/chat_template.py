"""Render a model's own chat template in a sandboxed Jinja environment: templates in model files are code."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, NoReturn

from jinja2 import TemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from weightwarden.errors import CorruptModel
from weightwarden.runtimes.base import Message

# Used when a model carries no template; ChatML, which SmolLM2 and Qwen use.
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _raise(message: str) -> NoReturn:
    raise TemplateError(message)


@lru_cache(maxsize=16)
def _compile(source: str) -> Any:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    env.filters["tojson"] = lambda x, indent=None, **_: json.dumps(x, indent=indent, ensure_ascii=False)
    return env.from_string(source)


def render_chat(
    template: str | None,
    messages: Sequence[Message],
    *,
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
) -> str:
    """Render messages to a prompt string; a template that breaks the sandbox or raises is a CorruptModel."""
    source = template or CHATML
    try:
        return str(
            _compile(source).render(
                messages=[m.as_dict() for m in messages],
                add_generation_prompt=add_generation_prompt,
                bos_token=bos_token,
                eos_token=eos_token,
            )
        )
    except SecurityError as exc:
        raise CorruptModel(
            f"the model's chat template tried an unsafe operation ({exc}); run `warden inspect` on it"
        ) from None
    except TemplateError as exc:
        raise CorruptModel(f"the model's chat template failed to render: {exc}") from None
