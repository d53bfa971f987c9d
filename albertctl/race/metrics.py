"""RACE accuracy, overall and per level, as a small pure function on numpy arrays.

Values follow :mod:`albertctl.glue.metrics`: accuracies are fractions in [0, 1], not percent (the
paper's RACE table is percent: multiply by 100). Counts come along so a report can say what each
accuracy is over; a level with no questions has ``num_<level> == 0`` and accuracy 0.0 (as
:func:`~albertctl.glue.metrics.accuracy` scores an empty set).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from albertctl.errors import AlbertctlError
from albertctl.glue.metrics import accuracy
from albertctl.race.data import LEVELS


def race_metrics(
    predictions: np.ndarray, labels: np.ndarray, levels: Sequence[str]
) -> dict[str, float | int]:
    """``accuracy``, ``accuracy_middle``, ``accuracy_high`` (fractions) and the counts behind them.

    Counts: ``num_examples``, ``num_correct``, and ``num_<level>`` / ``num_correct_<level>`` per
    level. ``predictions`` and ``labels`` are (N,) option indices; ``levels`` (N,) level names.
    """
    preds, gold = np.asarray(predictions), np.asarray(labels)
    level_of = np.asarray(levels, dtype=object)
    if not (preds.ndim == gold.ndim == 1 and len(preds) == len(gold) == len(level_of)):
        raise AlbertctlError(
            f"RACE metrics need equal (N,) predictions, labels and levels, got shapes "
            f"{preds.shape}, {gold.shape} and {len(level_of)} levels",
            hint="pass option indices (argmax of the choice logits), not the logits",
        )
    correct = preds == gold
    out: dict[str, float | int] = {"accuracy": accuracy(preds, gold)}
    for level in LEVELS:
        keep = level_of == level
        out[f"accuracy_{level}"] = accuracy(preds[keep], gold[keep])
    out["num_examples"] = len(gold)
    out["num_correct"] = int(correct.sum())
    for level in LEVELS:
        keep = level_of == level
        out[f"num_{level}"] = int(keep.sum())
        out[f"num_correct_{level}"] = int(correct[keep].sum())
    return out
