"""The stages of `warden audit`, in the order they run and appear in the report: name -> class."""

from __future__ import annotations

from weightwarden.audit.base import Stage
from weightwarden.audit.stages.eval import Eval
from weightwarden.audit.stages.facts import Facts
from weightwarden.audit.stages.guard import Guard
from weightwarden.audit.stages.inspect import Inspect
from weightwarden.audit.stages.lineage import Lineage
from weightwarden.audit.stages.loglikelihood import Loglikelihood
from weightwarden.audit.stages.monitor import Monitor
from weightwarden.audit.stages.provenance import Provenance
from weightwarden.audit.stages.smoke import Smoke
from weightwarden.audit.stages.speed import Speed

_ORDER: tuple[type[Stage], ...] = (
    Facts,
    Inspect,
    Lineage,
    Smoke,
    Loglikelihood,
    Speed,
    Eval,
    Guard,
    Provenance,
    Monitor,
)
STAGES: dict[str, type[Stage]] = {stage.name: stage for stage in _ORDER}
