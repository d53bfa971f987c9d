"""Inference for RACE: per-option logits of a multiple-choice model, and the predictions file.

:func:`choice_logits` runs a model whose forward is ``model(input_ids, token_type_ids,
input_mask)`` on (B, C, L) tensors returning (B, C) logits, over length-sorted batches
(least padding), and returns them in example order. :func:`write_predictions` writes
``{question id: "A".."D"}`` as JSON, atomically (``.tmp`` then rename).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from albertctl.errors import AlbertctlError
from albertctl.fsutil import write_json
from albertctl.glue.batching import eval_batches
from albertctl.race.features import ChoiceFeatures

if TYPE_CHECKING:
    import torch
    from torch import nn


def choice_logits(
    model: nn.Module,
    features: ChoiceFeatures,
    *,
    batch_size: int,
    pad_id: int,
    device: torch.device,
    precision: str = "fp32",
) -> np.ndarray:
    """(N, C) float32 logits in example order, C = ``features.max_choices``; the model is left in eval mode.

    An option slot an example lacks (only when option counts differ) holds ``-inf``, so an argmax
    never picks it.
    """
    import torch

    from albertctl.train.runtime import autocast

    model.eval()
    out = np.full((len(features), features.max_choices), -np.inf, dtype=np.float32)
    with torch.inference_mode():
        for rows in eval_batches(features.lengths, batch_size):
            batch = features.collate(rows, pad_id=pad_id)
            with autocast(device, precision):
                logits = model(
                    batch["input_ids"].to(device),
                    batch["token_type_ids"].to(device),
                    batch["input_mask"].to(device),
                )
            logits = logits.float().cpu().numpy()  # (B, C)
            choice_mask = batch["choice_mask"].numpy()  # (B, C)
            if logits.shape != choice_mask.shape:
                raise AlbertctlError(
                    f"the model returned logits of shape {tuple(logits.shape)} for a batch of "
                    f"{choice_mask.shape[0]} questions with {choice_mask.shape[1]} options",
                    hint="use a multiple-choice head: (B, C, L) inputs -> (B, C) logits",
                )
            out[rows, : logits.shape[1]] = np.where(choice_mask, logits, -np.inf)
    return out


def predictions_from_logits(logits: np.ndarray) -> np.ndarray:
    """(N, C) logits -> (N,) int64 option indices (the first of tied maxima)."""
    return np.asarray(logits).argmax(axis=-1).astype(np.int64)


def option_letter(index: int) -> str:
    """0 -> ``"A"``, 1 -> ``"B"``, ... (RACE's answer letters)."""
    if not 0 <= index < 26:
        raise AlbertctlError(f"option index {index} has no answer letter", hint="indices run 0..25 (A..Z)")
    return chr(ord("A") + index)


def write_predictions(path: Path, ids: Sequence[str], predictions: np.ndarray) -> None:
    """Write ``{question id: answer letter}`` (example order) to ``path`` as JSON, atomically."""
    preds = np.asarray(predictions)
    if preds.ndim != 1 or len(preds) != len(ids):
        raise AlbertctlError(
            f"{len(ids)} question ids but predictions of shape {preds.shape}",
            hint="pass one option index per question (predictions_from_logits of the logits)",
        )
    answers = {str(i): option_letter(int(p)) for i, p in zip(ids, preds, strict=True)}
    if len(answers) != len(ids):
        raise AlbertctlError(
            f"the {len(ids)} question ids are not distinct ({len(answers)} different)",
            hint="pass ChoiceFeatures.ids, which are <article id>#<question index>",
        )
    write_json(Path(path), answers)
