"""Run a span model over SQuAD features and return each feature's start/end logits, unpadded.

The model is anything whose forward is ``model(input_ids, token_type_ids, input_mask) ->
(start_logits (B, L), end_logits (B, L))``. Batches are length-sorted (least padding) and the
results are scattered back into feature order, as GLUE's ``predict_logits`` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from albertctl.glue.batching import eval_batches
from albertctl.squad.features import SquadFeatures, collate

if TYPE_CHECKING:
    import torch
    from torch import nn


def span_logits(
    model: nn.Module,
    features: SquadFeatures,
    *,
    batch_size: int,
    pad_id: int,
    device: torch.device,
    precision: str = "fp32",
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per feature, its (L_i,) float32 start and end logits, in feature order; the model is left
    in eval mode."""
    import torch

    from albertctl.train.runtime import autocast

    model.eval()
    lengths = features.lengths
    out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(features)
    with torch.inference_mode():
        for rows in eval_batches(lengths, batch_size):
            batch = collate(features, rows, pad_id=pad_id)
            with autocast(device, precision):
                start, end = model(
                    batch["input_ids"].to(device),
                    batch["token_type_ids"].to(device),
                    batch["input_mask"].to(device),
                )
            start = start.float().cpu().numpy()  # (B, L)
            end = end.float().cpu().numpy()  # (B, L)
            for i, r in enumerate(rows.tolist()):
                n = int(lengths[r])
                out[r] = (start[i, :n].copy(), end[i, :n].copy())
    assert all(pair is not None for pair in out)
    return out  # type: ignore[return-value]
