"""RACE multiple-choice reading comprehension: reading, features, metrics and inference.

A pure library: the fine-tuning loop, the multiple-choice head and the commands are wired
elsewhere. Public API (none of these modules imports torch at import time)::

    RaceExample, RaceData, read_race, LEVELS                       (data.py)
    ChoiceFeatures, build_features, join_question_option           (features.py)
    race_metrics                                                   (metrics.py)
    choice_logits, predictions_from_logits, write_predictions      (predict.py)
"""

from __future__ import annotations

from albertctl.race.data import LEVELS, RaceData, RaceExample, read_race
from albertctl.race.features import ChoiceFeatures, build_features, join_question_option
from albertctl.race.metrics import race_metrics
from albertctl.race.predict import choice_logits, predictions_from_logits, write_predictions

__all__ = [
    "LEVELS",
    "ChoiceFeatures",
    "RaceData",
    "RaceExample",
    "build_features",
    "choice_logits",
    "join_question_option",
    "predictions_from_logits",
    "race_metrics",
    "read_race",
    "write_predictions",
]
