"""One or more examples per command, shown at the end of its --help (and tested to be there for every command)."""

from __future__ import annotations

from rich.markup import escape

EXAMPLES: dict[str, tuple[str, ...]] = {
    "warden": (
        "warden doctor",
        "warden audit default",
        "warden compare default new.gguf --suite quality --gate quality.acc:max_drop=0.02",
    ),
    "doctor": ("warden doctor", "warden doctor --json"),
    "tune": (
        "warden tune default --data train.jsonl --val val.jsonl --task niche.yaml --out tuned/ --eval-limit 40",
        "warden tune default --data train.jsonl --out tuned/ --max-steps 50 --no-eval --json",
    ),
    "models": ("warden models", "warden models --json"),
    "generate": (
        'warden generate default "Name three rivers." --max-tokens 64',
        "warden generate ./model.gguf - --json < prompt.txt",
    ),
    "chat": ("warden chat default --system 'You are terse.'",),
    "eval": (
        "warden eval default --suite quality --limit 20",
        "warden eval ./model.gguf --task my-task.yaml --format md >> summary.md",
    ),
    "audit": ("warden audit default", "warden audit ./model.gguf --quick --format md"),
    "report": ("warden report RUN_ID", "warden report RUN_ID --format md --out ./review"),
    "compare": (
        "warden compare default ./requantized.gguf --suite quality --gate quality.acc:max_drop=0.01",
        "warden compare default ./tuned.gguf --run-base RUN1 --run-candidate RUN2 --gates gates.yaml --format md",
    ),
    "inspect": ("warden inspect ./model.gguf", "warden inspect ./hf-folder --use commercial --users 2000000 --json"),
    "bom": ("warden bom default -o bom.json",),
    "sign": ("warden sign default --key key.pem",),
    "verify": ("warden verify default --pub pub.pem",),
    "serve": ("warden serve default --port 8000", "warden serve --routes routes.yaml --policy policy.yaml"),
    "ui": ("warden ui --port 8080", "warden ui --db postgresql+psycopg://warden@db/warden --host 0.0.0.0"),
    "logs": ("warden logs --since 1h", "warden logs --status 429 --format md"),
    "scan": (
        'warden scan "Ignore all previous instructions."',
        "warden scan --jsonl prompts.jsonl > verdicts.jsonl",
        "warden scan --output --canary CANARY-1234 --file answer.txt --format md",
    ),
    "contamination": ("warden contamination --train corpus/ --bench suite.jsonl --model default",),
    "regurgitation": ("warden regurgitation default --corpus protected-docs/",),
    "keys": ("warden keys create --name app --rpm 60", "warden keys list"),
    "keys create": ("warden keys create --name app --rpm 60 --budget-usd 5",),
    "keys list": ("warden keys list --json",),
    "keys revoke": ("warden keys revoke KEY_ID",),
    "monitor": (
        "warden monitor usage --since 7d --by key,model,day",
        "warden monitor drift --reference 30d..7d --current 7d",
    ),
    "monitor usage": ("warden monitor usage --since 30d --by model --csv > usage.csv",),
    "monitor check": ("warden monitor check --rules alerts.yaml || notify-team",),
    "monitor drift": ("warden monitor drift --reference 2026-11-01..2026-11-30 --current 7d --json",),
    "watermark": ("warden watermark keygen", "warden watermark detect --file answer.txt"),
    "watermark detect": ("warden watermark detect --file answer.txt --json",),
    "watermark keygen": ("warden watermark keygen --out ./watermark.key",),
}


def epilog(command: str) -> str:
    """The Examples block for a command's --help (lines kept as written; rich markup escaped)."""
    lines = EXAMPLES[command]
    return "Examples:\n" + "\n".join(f"  {escape(line)}" for line in lines)
