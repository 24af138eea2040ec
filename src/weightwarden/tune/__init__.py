"""LoRA training on a niche, export back to GGUF, and the tune's lineage in the ledger.

from weightwarden.tune import TuneRequest, TuneSettings, run_tune
"""

from weightwarden.tune.base import StepReport, TuneError, TuneSettings
from weightwarden.tune.data import Dataset, read_dataset
from weightwarden.tune.pipeline import TuneRequest, TuneResult, run_tune

__all__ = [
    "Dataset",
    "StepReport",
    "TuneError",
    "TuneRequest",
    "TuneResult",
    "TuneSettings",
    "read_dataset",
    "run_tune",
]
