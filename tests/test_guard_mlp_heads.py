"""One-hidden-layer heads: how training/guard/loso.py fits them and how the run-time encoder reads them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from training.guard import loso
from training.guard.sources import LABELS, Item

from weightwarden.guard.base import GuardModelError
from weightwarden.guard.classifier import weights_dir
from weightwarden.guard.encoder import ENCODER_FILE, ENCODER_FORMAT_VERSION, EncoderModel, mlp_logits
from weightwarden.guard.quality import auc


def _items(n: int) -> list[Item]:
    every = ("injection", "jailbreak", "harmful")
    out = []
    for i in range(n):
        labels = every if i % 2 else ()
        out.append(Item(f"t{i}", labels, f"s{i % 3}", "attack" if labels else "request", "p", "1", "x", "MIT"))
    return out


def test_hidden_heads_learn_what_no_linear_head_can_and_hidden_zero_is_the_logistic_fit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Attacks lie where two features share a sign (an XOR): no line separates them, one hidden layer does. The
    standardisation is folded into the first layer, so the heads read raw vectors, as the run time gives them.
    (400 texts make two batches an epoch: more epochs than the build's 20 give the network the steps it needs.)"""
    monkeypatch.setattr(loso, "MLP_EPOCHS", 300)
    rng = np.random.default_rng(3)
    items = _items(400)
    y = np.array([bool(it.labels) for it in items])
    x = rng.normal(size=(len(items), 4)).astype(np.float32)
    x[:, 0] = np.abs(x[:, 0]) * np.where(rng.random(len(items)) < 0.5, 1, -1)
    x[:, 1] = np.abs(x[:, 1]) * np.sign(x[:, 0]) * np.where(y, 1, -1)
    x = x * 5 + 10  # far from standard: the folded standardisation must carry it
    ch = loso.Chunked(x.copy(), np.arange(len(items)))
    mask = np.ones(len(items), dtype=bool)
    linear = loso.fit_heads_model(x, ch, items, mask, hidden=0)
    w, b = loso.fit_heads_mil(x, ch, items, mask)
    assert linear.mlp is None and linear.weights is not None
    np.testing.assert_array_equal(linear.weights, w)
    np.testing.assert_array_equal(linear.logits(x), x @ w + b)
    hidden = loso.fit_heads_model(x, ch, items, mask, hidden=32, hidden_labels=LABELS)
    assert hidden.mlp is not None and [a.shape for a in hidden.mlp] == [(3, 4, 32), (3, 32), (3, 32), (3,)]
    for h in range(3):
        assert auc(linear.logits(x)[y, h], linear.logits(x)[~y, h]) < 0.75
        assert auc(hidden.logits(x)[y, h], hidden.logits(x)[~y, h]) > 0.95
    assert set(hidden.export()) == {"head_w1", "head_b1", "head_w2", "head_b2"}
    assert set(linear.export()) == {"weights", "bias"}


def test_mlp_logits_agree_with_torch_on_the_same_weights() -> None:
    """The run-time arithmetic against an independent reference: torch's Linear-ReLU-Linear with the arrays."""
    import torch

    rng = np.random.default_rng(0)
    w1, b1 = rng.normal(size=(2, 7, 5)).astype(np.float32), rng.normal(size=(2, 5)).astype(np.float32)
    w2, b2 = rng.normal(size=(2, 5)).astype(np.float32), rng.normal(size=2).astype(np.float32)
    x = rng.normal(size=(9, 7)).astype(np.float32)
    ours = mlp_logits(x, w1, b1, w2, b2)
    for h in range(2):
        net = torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.ReLU(), torch.nn.Linear(5, 1))
        with torch.no_grad():
            net[0].weight.copy_(torch.from_numpy(w1[h].T.copy()))
            net[0].bias.copy_(torch.from_numpy(b1[h]))
            net[2].weight.copy_(torch.from_numpy(w2[h][None, :]))
            net[2].bias.copy_(torch.from_numpy(b2[h : h + 1]))
            ref = net(torch.from_numpy(x)).squeeze(1).numpy()
        np.testing.assert_allclose(ours[:, h], ref, rtol=1e-5, atol=1e-5)


def _arrays() -> dict[str, np.ndarray]:
    with np.load(weights_dir() / ENCODER_FILE, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def test_weights_with_hidden_heads_load_and_score_with_them(tmp_path: Path) -> None:
    arrays = _arrays()
    heads = len(arrays["heads"])
    dims = (arrays["weights"].shape[0]) if "weights" in arrays else arrays["head_w1"].shape[1]
    rng = np.random.default_rng(1)
    mlp = {
        "head_w1": rng.normal(size=(heads, dims, 8)).astype(np.float32),
        "head_b1": rng.normal(size=(heads, 8)).astype(np.float32),
        "head_w2": rng.normal(size=(heads, 8)).astype(np.float32),
        "head_b2": rng.normal(size=heads).astype(np.float32),
    }
    for k in ("weights", "bias"):
        arrays.pop(k, None)
    arrays.update(mlp)
    arrays["version"] = np.array(ENCODER_FORMAT_VERSION)
    path = tmp_path / ENCODER_FILE
    np.savez(path, **arrays)
    model = EncoderModel.load(path)
    assert model.mlp is not None and model.weights is None
    x = rng.normal(size=(4, dims)).astype(np.float32)
    ref = mlp_logits(x, mlp["head_w1"], mlp["head_b1"], mlp["head_w2"], mlp["head_b2"])
    np.testing.assert_array_equal(model.head_logits(x), ref)
    # a first layer that does not read the encoders' dimensions is refused when the file loads, not at a scan
    arrays["head_w1"] = mlp["head_w1"][:, :-1]
    np.savez(path, **arrays)
    with pytest.raises(GuardModelError, match="one-hidden-layer heads"):
        EncoderModel.load(path)
    # nor does a hidden layer of no units (every logit would be the constant b2)
    arrays.update({"head_w1": np.zeros((heads, dims, 0), np.float32), "head_b1": np.zeros((heads, 0), np.float32)})
    arrays["head_w2"] = np.zeros((heads, 0), np.float32)
    np.savez(path, **arrays)
    with pytest.raises(GuardModelError, match="one-hidden-layer heads"):
        EncoderModel.load(path)


def test_the_format_number_says_whether_the_heads_have_a_hidden_layer(tmp_path: Path) -> None:
    """Logistic weights are format 4 (what releases before the hidden layer read), one-hidden-layer ones format 5: an
    older release refuses a format-5 file by its number instead of failing on a missing array, and a file whose
    number and arrays disagree, or a format this code does not know, is refused with a message."""
    arrays = _arrays()
    hidden = "head_w1" in arrays  # whichever family the shipped heads are, its number is the one that loads
    assert int(arrays["version"]) == (5 if hidden else 4)
    path = tmp_path / ENCODER_FILE
    wrong = (4, "format 4 with one-hidden-layer heads") if hidden else (5, "format 5 without one-hidden-layer heads")
    for version, match in (wrong, (6, "format 6, this code reads 4 and 5")):
        np.savez(path, **{**arrays, "version": np.array(version)})
        with pytest.raises(GuardModelError, match=match):
            EncoderModel.load(path)


def test_labels_left_logistic_keep_their_logistic_logits_inside_the_network_format() -> None:
    """--hidden-labels injection: jailbreak's and harmful's heads are the logistic fit, stored as relu(z) - relu(-z),
    so their logits are the logistic ones; injection's is a network of its own."""
    rng = np.random.default_rng(4)
    items = _items(200)
    y = np.array([bool(it.labels) for it in items])
    x = (rng.normal(size=(len(items), 5)) + 0.7 * y[:, None]).astype(np.float32)
    ch = loso.Chunked(x.copy(), np.arange(len(items)))
    mask = np.ones(len(items), dtype=bool)
    w, b = loso.fit_heads_mil(x, ch, items, mask)
    heads = loso.fit_heads_model(x, ch, items, mask, hidden=16, hidden_labels=("injection",))
    assert heads.mlp is not None and heads.mlp[0].shape == (3, 5, 16)
    got = heads.logits(x)
    np.testing.assert_allclose(got[:, 1:], (x @ w + b)[:, 1:], rtol=1e-5, atol=1e-5)
    assert not np.allclose(got[:, 0], (x @ w + b)[:, 0], atol=1e-3)


def test_heads_a_build_exports_score_the_same_once_loaded_from_encoder_npz(tmp_path: Path) -> None:
    """What train.py writes (Heads.export) read back by the run time (EncoderModel.load) gives the logits the build's
    emulation computed (Heads.logits) for the same chunk vectors."""
    arrays = _arrays()
    dims = arrays["head_w1"].shape[1] if "head_w1" in arrays else arrays["weights"].shape[0]
    rng = np.random.default_rng(7)
    items = _items(60)
    y = np.array([bool(it.labels) for it in items])
    x = (rng.normal(size=(len(items), dims)) + 0.3 * y[:, None]).astype(np.float32)
    ch = loso.Chunked(x.copy(), np.arange(len(items)))
    heads = loso.fit_heads_model(x, ch, items, np.ones(len(items), dtype=bool), hidden=8, hidden_labels=("injection",))
    for k in ("weights", "bias", "head_w1", "head_b1", "head_w2", "head_b2"):
        arrays.pop(k, None)
    arrays.update(heads.export())
    arrays["version"] = np.array(ENCODER_FORMAT_VERSION)
    path = tmp_path / ENCODER_FILE
    np.savez(path, **arrays)
    model = EncoderModel.load(path)
    np.testing.assert_array_equal(model.head_logits(x), heads.logits(x))
