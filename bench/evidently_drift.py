"""Evidently's embedding drift (the peer of `warden monitor drift`), called as its EmbeddingsDrift metric calls it.

Evidently (pip install -r requirements-peer.lock: evidently 0.7.23 and pandas) is a bench-only dependency. Its
documented metric for embedding drift is `evidently.metrics.EmbeddingsDrift(embeddings_name=...)` in a Report. With no
`drift_method` given, the metric runs `model(bootstrap=reference rows < 1000)`: an SGD classifier (log loss, seed 42)
trained on half of reference+current to tell them apart, scored by ROC AUC on the other half; drift when the AUC is
above 0.55, or, for a reference under 1,000 rows, above the 95th percentile of 100 random-prediction AUCs. The
DataDriftPreset of 0.7.23 takes `embeddings=` but does not add an embedding metric, so EmbeddingsDrift is the one to
run. A Report also fits t-SNE on up to 2,500 rows per window for its plot (seconds per window, no part of the
verdict), so the bench calls the method the metric picks directly; `report_embedding_drift` runs the full Report to
check that the two give the same score and verdict.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

os.environ.setdefault("DO_NOT_TRACK", "1")  # Evidently's telemetry (the machine is offline anyway)

INSTALL = "pip install -r requirements-peer.lock (evidently 0.7.23 and pandas: the `peer` extra)"


def available() -> str | None:
    """Evidently's version when it imports, else None."""
    try:
        import evidently
    except ImportError:
        return None
    return str(evidently.__version__)


@dataclass
class Verdict:
    """One drift method's answer on one window: its score, whether it calls drift, and the CPU and wall seconds."""

    method: str
    score: float
    drifted: bool
    cpu_s: float
    wall_s: float


def _frame(x: np.ndarray) -> Any:
    import pandas as pd

    return pd.DataFrame(x, columns=[f"e{i}" for i in range(x.shape[1])])


def default_method(reference_rows: int) -> Any:
    """The drift method EmbeddingsDriftMetric.calculate picks when none is given (evidently 0.7.23)."""
    from evidently.legacy.metrics.data_drift.embedding_drift_methods import model

    return model(bootstrap=reference_rows < 1000)


def describe_default(reference_rows: int) -> str:
    """What the default method decides with, in words, for a reference of this many rows."""
    method = default_method(reference_rows)
    rule = (
        f"AUC > the {method.quantile_probability:.0%} quantile of 100 random-prediction AUCs (bootstrap)"
        if method.bootstrap
        else f"AUC > {method.threshold}"
    )
    return (
        f"EmbeddingsDrift default (reference of {reference_rows} rows): model, SGD classifier ROC AUC on a 50% "
        f"held-out split; drift when {rule}"
    )


def embedding_drift(reference: np.ndarray, current: np.ndarray, method: Any = None) -> Verdict:
    """Evidently's verdict on current against reference; method: an Evidently DriftMethod (default: the metric's)."""
    method = method if method is not None else default_method(len(reference))
    ref, cur = _frame(reference), _frame(current)  # fresh frames: the model method adds a target column to them
    c, t = time.process_time(), time.perf_counter()
    score, drifted, name = method(cur, ref)
    return Verdict(name, float(score), bool(drifted), time.process_time() - c, time.perf_counter() - t)


def mmd_drift(reference: np.ndarray, current: np.ndarray) -> Verdict:
    """Evidently's MMD method with its defaults (unbiased MMD^2, median-heuristic RBF kernel, drift above 0.015)."""
    from evidently.legacy.metrics.data_drift.embedding_drift_methods import MMDDriftMethod

    return embedding_drift(reference, current, MMDDriftMethod())


def report_embedding_drift(reference: np.ndarray, current: np.ndarray) -> tuple[float, bool]:
    """The full Report with EmbeddingsDrift and no method given: (its score, its verdict).

    The score is the metric's public value; the verdict is read from the legacy result the Report keeps (a private
    attribute of evidently 0.7.23, pinned in requirements-peer.lock).
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import EmbeddingsDrift

    columns = [f"e{i}" for i in range(reference.shape[1])]
    definition = DataDefinition(numerical_columns=columns, embeddings={"prompt": columns})
    snapshot = Report([EmbeddingsDrift(embeddings_name="prompt")]).run(
        current_data=Dataset.from_pandas(_frame(current), data_definition=definition),
        reference_data=Dataset.from_pandas(_frame(reference), data_definition=definition),
    )
    (metric,) = snapshot.dict()["metrics"]
    legacy = snapshot._context._legacy_metrics.values()
    verdicts = [r.drift_detected for results in legacy for r in results if hasattr(r, "drift_detected")]
    return float(metric["value"]), bool(verdicts[0])
