"""What every stage of an audit gets: the model, its runtime, the ledger, the options, and facts read once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from weightwarden.config import Settings
from weightwarden.errors import WardenError
from weightwarden.inspect import Inspection, inspect_model
from weightwarden.ledger import Ledger
from weightwarden.runtimes import Artifact, Runtime


@dataclass
class AuditContext:
    """One audit run's inputs, and the inspection of its artifact, read once and shared by the stages that need it.

    eval_limit: items per eval task (None: the audit's default, 0: every item); item_progress: (done, total, task)
    inside a stage; train, bench: a corpus and a benchmark to check for contamination.
    """

    artifact: Artifact
    runtime: Runtime
    ledger: Ledger
    run_id: str
    quick: bool = False
    settings: Settings | None = None
    train: Path | None = None
    bench: Path | None = None
    eval_limit: int | None = None
    item_progress: Callable[[int, int, str], None] | None = None
    _inspection: Inspection | WardenError | None = field(default=None, init=False, repr=False)

    def inspection(self) -> Inspection:
        """The artifact inspected without running it (headers, tensors, license, findings); read on first use.

        Raises the WardenError the inspection raised (again on each call, without reading the file again).
        """
        if self._inspection is None:
            if self.artifact.path is None:
                raise WardenError("a remote model has no file on this machine to inspect")
            known = (
                dict(self.artifact.files)
                if self.artifact.format == "hf"
                else {self.artifact.path.name: self.artifact.sha256}
            )
            try:
                self._inspection = inspect_model(self.artifact.path, known_hashes=known)
            except WardenError as exc:
                self._inspection = exc
        if isinstance(self._inspection, WardenError):
            raise self._inspection
        return self._inspection
