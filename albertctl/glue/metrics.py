"""The official GLUE metrics as small pure functions on numpy arrays (no scipy/sklearn).

Definitions follow transformers' ``glue_compute_metrics`` (docs/reference.md §7): Matthews
correlation (CoLA, AX; the multi-class generalisation for AX), accuracy, binary F1 of class 1
(MRPC, QQP), Pearson and Spearman correlation (STS-B; Spearman with average ranks for ties).
Every value is a float in natural units (accuracy 0..1, not percent).
"""

from __future__ import annotations

import math

import numpy as np

from albertctl.glue.tasks import TaskSpec


def accuracy(preds: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of exact matches."""
    return float(np.mean(np.asarray(preds) == np.asarray(labels))) if len(labels) else 0.0


def f1_binary(preds: np.ndarray, labels: np.ndarray, positive: int = 1) -> float:
    """F1 of the positive class; 0 when there are no true positives (sklearn's zero_division=0)."""
    preds, labels = np.asarray(preds), np.asarray(labels)
    tp = int(np.sum((preds == positive) & (labels == positive)))
    fp = int(np.sum((preds == positive) & (labels != positive)))
    fn = int(np.sum((preds != positive) & (labels == positive)))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def matthews_corrcoef(preds: np.ndarray, labels: np.ndarray) -> float:
    """Matthews correlation from the confusion matrix (Gorodkin's R_K for K > 2 classes); 0 if undefined."""
    preds, labels = np.asarray(preds, dtype=np.int64), np.asarray(labels, dtype=np.int64)
    num_classes = int(max(preds.max(initial=0), labels.max(initial=0))) + 1
    confusion = np.zeros((num_classes, num_classes), dtype=np.float64)  # (true, predicted)
    np.add.at(confusion, (labels, preds), 1.0)
    true_counts, pred_counts = confusion.sum(axis=1), confusion.sum(axis=0)
    total, correct = confusion.sum(), np.trace(confusion)
    cov_tp = correct * total - float(true_counts @ pred_counts)
    cov_pp = total * total - float(pred_counts @ pred_counts)
    cov_tt = total * total - float(true_counts @ true_counts)
    if cov_pp == 0 or cov_tt == 0:
        return 0.0
    return float(cov_tp / math.sqrt(cov_pp * cov_tt))


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation; 0 when either side is constant."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    dx, dy = x - x.mean(), y - y.mean()
    denom = math.sqrt(float(dx @ dx) * float(dy @ dy))
    return 0.0 if denom == 0 else float(dx @ dy) / denom


def rank_average(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank (scipy's ``rankdata`` default)."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    # Start of each run of equal values, then the mean of the 1-based positions in that run.
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    run_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(run_rank, ends - starts)
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman correlation: Pearson of the average ranks."""
    return pearson(rank_average(x), rank_average(y))


def task_metrics(spec: TaskSpec, preds: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The official metrics of ``spec`` for one dev set (MNLI's mismatched set is scored separately)."""
    functions = {
        "mcc": matthews_corrcoef,
        "accuracy": accuracy,
        "f1": f1_binary,
        "pearson": pearson,
        "spearman": spearman,
    }
    # MNLI's "accuracy_mm" is the accuracy of its second dev split, scored by the caller.
    return {name: functions[name](preds, labels) for name in spec.metrics if name in functions}


def glue_score(metrics: dict[str, float]) -> float:
    """One number per task as the GLUE leaderboard averages it: the mean of the task's metrics."""
    return float(np.mean(list(metrics.values()))) if metrics else float("nan")
