"""The bundled all-MiniLM-L6-v2 embedder, checked against mean pooling done by hand with transformers."""

from __future__ import annotations

import numpy as np
import pytest

from weightwarden.runtimes import load_embedder
from weightwarden.runtimes.artifact import embedder_path


@pytest.fixture(scope="module")
def embedder():  # type: ignore[no-untyped-def]
    return load_embedder()


def test_shape_and_norm(embedder) -> None:  # type: ignore[no-untyped-def]
    vecs = np.array(embedder.embed(["a cat sat on the mat", "stock prices fell sharply"]))
    assert vecs.shape == (2, 384) == (2, embedder.dimensions)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]) == []


def test_similar_sentences_are_closer(embedder) -> None:  # type: ignore[no-untyped-def]
    a, b, c = np.array(
        embedder.embed(
            [
                "How do I reset my password?",
                "I forgot my password, how can I change it?",
                "The tide comes in twice a day.",
            ]
        )
    )
    assert a @ b > a @ c + 0.3


def test_matches_hand_made_mean_pooling(embedder) -> None:  # type: ignore[no-untyped-def]
    import torch
    from transformers import AutoModel, AutoTokenizer

    texts = ["Open models need guard rails.", "Zürich is in Switzerland."]
    tok = AutoTokenizer.from_pretrained(embedder_path())
    model = AutoModel.from_pretrained(embedder_path()).eval()
    batch = tok(texts, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    ref = torch.nn.functional.normalize(pooled, dim=1).numpy()
    assert np.allclose(np.array(embedder.embed(texts)), ref, atol=1e-5)
