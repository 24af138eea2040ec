"""Evaluation: tasks (YAML + JSONL), scorers, built-in suites, a cached and resumable runner, 95% intervals.

from weightwarden.eval import load_suite, run_eval, load_run_items
"""

from weightwarden.eval.base import EvalResult, ItemScore, Metric, PerturbationTask, Task, TaskResult
from weightwarden.eval.metrics import task_metrics
from weightwarden.eval.refusal import is_refusal, refusal_detector_accuracy
from weightwarden.eval.runner import (
    ProgressFn,
    item_key,
    latest_eval_run,
    load_run_items,
    load_run_result,
    run_config,
    run_eval,
)
from weightwarden.eval.scorers import CONSTRAINTS, SCORERS, Constraint, Scorer
from weightwarden.eval.stats import bootstrap, wilson
from weightwarden.eval.suites import SUITES, Suite, available_suites, builtin_root, load_suite, resolve_tasks
from weightwarden.eval.task import load_task, render_prompt

__all__ = [
    "CONSTRAINTS",
    "SCORERS",
    "SUITES",
    "Constraint",
    "EvalResult",
    "ItemScore",
    "Metric",
    "PerturbationTask",
    "ProgressFn",
    "Scorer",
    "Suite",
    "Task",
    "TaskResult",
    "available_suites",
    "bootstrap",
    "builtin_root",
    "is_refusal",
    "item_key",
    "latest_eval_run",
    "load_run_items",
    "load_run_result",
    "load_suite",
    "load_task",
    "refusal_detector_accuracy",
    "render_prompt",
    "resolve_tasks",
    "run_config",
    "run_eval",
    "task_metrics",
    "wilson",
]
