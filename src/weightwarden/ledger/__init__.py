"""The ledger: every model, run, item result and event, in a SQLite file or PostgreSQL, behind one writer.

from weightwarden.ledger import Ledger, ModelRecord, ItemRecord

with Ledger("sqlite:///ledger.db") as ledger:
    ledger.upsert_model(ModelRecord(hash=sha, name="smollm2", format="gguf", size_bytes=n))
    run_id = ledger.start_run("eval", sha, {"suite": "mmlu-mini"})
    ledger.add_items(run_id, [ItemRecord(key="q1", input={...}, output="B", scores={"acc": 1.0})])
    ledger.finish_run(run_id, "ok", {"acc": 1.0})
"""

from weightwarden.ledger.migrations import MIGRATIONS
from weightwarden.ledger.quota import Quota
from weightwarden.ledger.records import (
    FINAL_STATUSES,
    RUN_STATUSES,
    ApiKeyRecord,
    EventRecord,
    ItemRecord,
    ModelRecord,
    RequestRecord,
    RunRecord,
    RunStatus,
    SketchRecord,
    StageRecord,
    UiSessionRecord,
)
from weightwarden.ledger.store import Ledger

__all__ = [
    "FINAL_STATUSES",
    "MIGRATIONS",
    "RUN_STATUSES",
    "ApiKeyRecord",
    "EventRecord",
    "ItemRecord",
    "Ledger",
    "ModelRecord",
    "Quota",
    "RequestRecord",
    "RunRecord",
    "RunStatus",
    "SketchRecord",
    "StageRecord",
    "UiSessionRecord",
]
