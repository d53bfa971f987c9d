"""GLUE fine-tuning: the task registry, readers for both layouts, metrics, finetune/eval/predict.

Public API (none of these modules imports torch at import time)::

    TASKS, TaskSpec, get_task, parse_tasks                  (tasks.py)
    Example, read_split                                      (readers.py)
    task_metrics                                             (metrics.py)
    FinetuneConfig, finetune_glue                            (finetune.py)
    evaluate_glue, predict_glue, resolve_models             (evaluate.py)
"""

from __future__ import annotations

from albertctl.glue.evaluate import evaluate_glue, predict_glue, resolve_models
from albertctl.glue.finetune import FinetuneConfig, FinetuneReport, finetune_glue
from albertctl.glue.metrics import task_metrics
from albertctl.glue.readers import Example, read_split
from albertctl.glue.tasks import TASKS, TaskSpec, get_task, parse_tasks

__all__ = [
    "TASKS",
    "Example",
    "FinetuneConfig",
    "FinetuneReport",
    "TaskSpec",
    "evaluate_glue",
    "finetune_glue",
    "get_task",
    "parse_tasks",
    "predict_glue",
    "read_split",
    "resolve_models",
    "task_metrics",
]
