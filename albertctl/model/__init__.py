"""The ALBERT model core: config + flavors, modules and heads, checkpoint I/O, the HF key map.

Names are imported lazily so ``import albertctl.model.config`` (and the CLI's ``--help``) does not
pull in torch. Public API::

    AlbertConfig, FLAVORS, EMBEDDING_LAYOUTS, get_config   (config.py)
    AlbertModel, AlbertForPreTraining, PreTrainingOutput,
    pretraining_loss, PreTrainingLoss,
    AlbertForSequenceClassification,
    sequence_classification_loss,
    AlbertForQuestionAnswering, SpanLogits, span_loss,
    AlbertForMultipleChoice, multiple_choice_loss          (albert.py)
    save_model, load_model, load_checkpoint, read_checkpoint,
    resolve_checkpoint, LoadedModel                        (checkpoint.py)
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AlbertConfig": "config",
    "FLAVORS": "config",
    "EMBEDDING_LAYOUTS": "config",
    "get_config": "config",
    "AlbertModel": "albert",
    "AlbertForPreTraining": "albert",
    "AlbertForSequenceClassification": "albert",
    "PreTrainingOutput": "albert",
    "PreTrainingLoss": "albert",
    "pretraining_loss": "albert",
    "sequence_classification_loss": "albert",
    "AlbertForQuestionAnswering": "albert",
    "AlbertForMultipleChoice": "albert",
    "SpanLogits": "albert",
    "span_loss": "albert",
    "multiple_choice_loss": "albert",
    "save_model": "checkpoint",
    "load_model": "checkpoint",
    "load_checkpoint": "checkpoint",
    "read_checkpoint": "checkpoint",
    "resolve_checkpoint": "checkpoint",
    "LoadedModel": "checkpoint",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'albertctl.model' has no attribute {name!r}")
    return getattr(importlib.import_module(f"albertctl.model.{_EXPORTS[name]}"), name)
