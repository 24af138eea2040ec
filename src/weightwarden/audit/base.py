"""The stage protocol: a stage has a name, a title and a description, and runs on an AuditContext.

    class Speed:
        name = "speed"
        title = "Speed on this machine"
        description = "Prompt and generation tokens per second, first-token latency and peak memory."

        def run(self, ctx: AuditContext) -> StageResult: ...

A stage never raises a WardenError for a problem with the model: it says fail or warn in its StageResult (the
orchestrator turns one that escapes into a failed result). Stages are listed in `audit.registry.STAGES`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from weightwarden.audit.context import AuditContext
    from weightwarden.audit.result import StageResult


class Stage(Protocol):
    """One step of `warden audit`."""

    name: str  # the key in the registry, the report and the progress lines
    title: str  # the heading in the report
    description: str  # one sentence: what the stage checks, for --help and the contract test

    def run(self, ctx: AuditContext) -> StageResult: ...
