"""`warden generate` (one answer) and `warden chat` (an interactive, streaming conversation)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from weightwarden.cli.common import (
    BackendOption,
    JsonOption,
    QuietOption,
    console,
    open_runtime,
    resolve_model,
    settings,
)
from weightwarden.runtimes import GenerationParams, Message
from weightwarden.watermark import watermark_params

ModelArg = Annotated[str, typer.Argument(help="`default`, a .gguf file, a Hugging Face folder, or openai:URL#model.")]
MaxTokens = Annotated[int, typer.Option("--max-tokens", min=1, max=32768, help="Most tokens to generate.")]
Temperature = Annotated[float, typer.Option("--temperature", min=0.0, max=5.0, help="0 is greedy and repeatable.")]
Seed = Annotated[int, typer.Option("--seed", help="Sampling seed: the same seed gives the same answer.")]
System = Annotated[str | None, typer.Option("--system", help="A system prompt.", show_default=False)]
Watermark = Annotated[
    bool,
    typer.Option(
        "--watermark",
        help="Mark the answer with the green-list watermark (key from WARDEN_WATERMARK_KEY, watermark_key_file, "
        "or HOME/watermark.key, made on first use); check it with `warden watermark detect`.",
    ),
]


def generate(
    model: ModelArg,
    prompt: Annotated[str, typer.Argument(help="The user's message; `-` reads it from standard input.")],
    max_tokens: MaxTokens = 256,
    temperature: Temperature = 0.0,
    seed: Seed = 0,
    system: System = None,
    raw: Annotated[
        bool, typer.Option("--raw", help="Complete the prompt as plain text, without the chat template.")
    ] = False,
    watermark: Watermark = False,
    backend: BackendOption = "auto",
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Generate one answer from MODEL to PROMPT (the model's own chat template is applied unless --raw)."""
    if prompt == "-":
        prompt = sys.stdin.read()
    s = settings()
    processor = watermark_params(s) if watermark else None  # a missing or bad key fails before the model loads
    artifact = resolve_model(model, s, quiet or as_json)
    runtime = open_runtime(artifact, backend, s)
    params = GenerationParams(max_tokens=max_tokens, temperature=temperature, seed=seed, logits_processor=processor)
    try:
        if raw:
            gen = runtime.complete(prompt, params)
        else:
            messages = ([Message("system", system)] if system else []) + [Message("user", prompt)]
            gen = runtime.chat(messages, params)
    finally:
        runtime.close()
    if as_json:
        out = {
            "model": artifact.name,
            "sha256": artifact.sha256,
            "runtime": runtime.info.name,
            "text": gen.text,
            "finish_reason": gen.finish_reason,
            "usage": {"prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.completion_tokens},
            "seconds": round(gen.seconds, 4),
            "params": {"max_tokens": max_tokens, "temperature": temperature, "seed": seed},
            "watermark": processor.config.public() if processor is not None else None,
        }
        typer.echo(json.dumps(out, ensure_ascii=False))
    else:
        typer.echo(gen.text)


CHAT_HELP = "commands: /system TEXT sets the system prompt and restarts, /reset forgets the conversation, /exit leaves"


def chat(
    model: ModelArg,
    max_tokens: MaxTokens = 512,
    temperature: Temperature = 0.0,
    seed: Seed = 0,
    system: System = None,
    watermark: Watermark = False,
    backend: BackendOption = "auto",
) -> None:
    """Talk to MODEL, answers streamed as they are written. /system, /reset and /exit inside the chat."""
    s = settings()
    processor = watermark_params(s) if watermark else None
    artifact = resolve_model(model, s)
    runtime = open_runtime(artifact, backend, s)
    params = GenerationParams(max_tokens=max_tokens, temperature=temperature, seed=seed, logits_processor=processor)
    history: list[Message] = [Message("system", system)] if system else []
    console.print(f"[bold]{artifact.name}[/] ({runtime.info.name}) · {CHAT_HELP}")
    try:
        while True:
            try:
                line = input("> ")
            except EOFError:
                break
            text = line.strip()
            if not text:
                continue
            if text in ("/exit", "/quit"):
                break
            if text == "/reset":
                history = [m for m in history if m.role == "system"]
                console.print("[dim]conversation forgotten[/]")
                continue
            if text.startswith("/system"):
                history = [Message("system", text[len("/system") :].strip())]
                console.print("[dim]system prompt set; conversation restarted[/]")
                continue
            if text.startswith("/"):
                console.print(f"[yellow]unknown command {text.split()[0]}[/] · {CHAT_HELP}")
                continue
            history.append(Message("user", line))
            parts: list[str] = []
            for chunk in runtime.chat_stream(history, params):
                parts.append(chunk.text)
                sys.stdout.write(chunk.text)
                sys.stdout.flush()
            sys.stdout.write("\n")
            history.append(Message("assistant", "".join(parts)))
    except KeyboardInterrupt:
        sys.stdout.write("\n")
    finally:
        runtime.close()
