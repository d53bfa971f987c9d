"""SQuAD v1.1 and v2.0: reading, windows, post-processing, official metrics.

:func:`read_squad` reads the official JSON; :func:`build_features` cuts questions into
``[CLS] query [SEP] window [SEP]`` rows; :func:`span_logits` runs a span model over them;
:func:`postprocess` turns the logits into answer texts (and 2.0 null odds);
:func:`evaluate` / :func:`evaluate_files` score predictions as evaluate-v1.1.py / -v2.0.py do.
Nothing here imports torch at import time.
"""

from __future__ import annotations

from albertctl.squad.data import Answer, SquadData, SquadExample, check_version, read_squad
from albertctl.squad.features import SquadFeatures, build_features, collate, reference_padded
from albertctl.squad.metrics import (
    evaluate,
    evaluate_files,
    normalize_answer,
    write_null_odds,
    write_predictions,
)
from albertctl.squad.postprocess import postprocess
from albertctl.squad.predict import span_logits

__all__ = [
    "Answer",
    "SquadData",
    "SquadExample",
    "SquadFeatures",
    "build_features",
    "check_version",
    "collate",
    "evaluate",
    "evaluate_files",
    "normalize_answer",
    "postprocess",
    "read_squad",
    "reference_padded",
    "span_logits",
    "write_null_odds",
    "write_predictions",
]
