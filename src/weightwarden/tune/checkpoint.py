"""Checkpoints without pickle: trainable weights, optimizer moments and the RNG state as safetensors, the rest JSON."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weightwarden.tune.base import TuneError

KEEP = 2  # older checkpoints are removed: the latest is all --resume needs, one more guards a torn write


@dataclass(frozen=True)
class Checkpoint:
    """A saved training state at the end of an optimizer step."""

    path: Path
    step: int
    state: dict[str, Any]


def save(root: Path, step: int, model: Any, optimizer: Any, state: dict[str, Any]) -> Path:
    """Write checkpoint step-NNNNNN under root (atomically: a temporary folder renamed at the end)."""
    import torch
    from safetensors.torch import save_file

    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:06d}"
    tmp = root / f".tmp-step-{step:06d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    weights = {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}
    save_file(weights, str(tmp / "trainable.safetensors"))
    opt = optimizer.state_dict()
    moments: dict[str, Any] = {}
    for idx, st in opt["state"].items():
        for key, value in st.items():
            tensor = value if isinstance(value, torch.Tensor) else torch.tensor(value)
            moments[f"{idx}.{key}"] = tensor.detach().cpu().contiguous()
    save_file(moments, str(tmp / "optimizer.safetensors"))
    rng = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():  # dropout on a GPU draws from the device's generator
        rng["cuda"] = torch.cuda.get_rng_state()
    save_file(rng, str(tmp / "rng.safetensors"))
    (tmp / "state.json").write_text(
        json.dumps({**state, "step": step, "param_groups": opt["param_groups"]}, indent=1), encoding="utf-8"
    )
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for old in sorted(root.glob("step-*"))[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest(root: Path) -> Checkpoint | None:
    """The newest complete checkpoint under root, if any."""
    for path in sorted(root.glob("step-*"), reverse=True):
        try:
            state = json.loads((path / "state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        return Checkpoint(path, int(state["step"]), state)
    return None


def restore(ckpt: Checkpoint, model: Any, optimizer: Any) -> None:
    """Put the checkpoint's trainable weights, optimizer moments and RNG state back."""
    import torch
    from safetensors.torch import load_file

    weights = load_file(str(ckpt.path / "trainable.safetensors"))
    params = dict(model.named_parameters())
    missing = [n for n in weights if n not in params]
    if missing:
        raise TuneError(f"checkpoint {ckpt.path} has weights this model lacks ({missing[0]}): start without --resume")
    with torch.no_grad():
        for name, value in weights.items():
            params[name].copy_(value.to(params[name].device))
    moments = load_file(str(ckpt.path / "optimizer.safetensors"))
    state: dict[int, dict[str, Any]] = {}
    for key, value in moments.items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": ckpt.state["param_groups"]})
    rng = load_file(str(ckpt.path / "rng.safetensors"))
    torch.set_rng_state(rng["cpu"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state(rng["cuda"])
