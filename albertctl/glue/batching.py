"""Encoding GLUE examples and cutting them into dynamically padded, length-grouped batches.

Nothing is padded to ``max_seq_length``: each batch is padded to its own longest row. Training
batches group rows of similar length (shuffle, sort inside chunks of ``group_factor`` batches,
shuffle the batch order), so SST-2's short sentences cost short batches. All randomness comes from
a ``numpy.random.Generator`` derived from ``(seed, epoch)``. Pure functions, no file I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from albertctl.glue.readers import Example

if TYPE_CHECKING:
    import torch

    from albertctl.vocab import Tokenizer

GROUP_FACTOR = 50
"""Batches per length-sorted chunk: large enough to group lengths, small enough to stay random."""


@dataclass(frozen=True)
class EncodedSet:
    """Token ids of one split, unpadded; ``labels`` is float for regression, -1 where unlabeled."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    labels: np.ndarray
    guids: list[str]

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> np.ndarray:
        """Row lengths in tokens, (N,) int64."""
        return np.fromiter((len(ids) for ids in self.input_ids), dtype=np.int64, count=len(self.input_ids))

    def collate(self, rows: np.ndarray, *, pad_id: int) -> dict[str, torch.Tensor]:
        """:func:`collate` of ``rows`` (the shared fine-tuning loop's batch contract)."""
        return collate(self, rows, pad_id=pad_id)


def encode_examples(
    tokenizer: Tokenizer, examples: list[Example], *, max_seq_length: int, regression: bool
) -> EncodedSet:
    """``[CLS] A [SEP] (B [SEP])`` for every example, truncated as the reference classifier does."""
    ids_a = tokenizer.encode_batch([e.text_a for e in examples])
    with_b = [i for i, e in enumerate(examples) if e.text_b is not None]
    ids_b: dict[int, list[int]] = dict(
        zip(with_b, tokenizer.encode_batch([examples[i].text_b for i in with_b]), strict=True)  # type: ignore[misc]
    )
    input_ids, token_type_ids = [], []
    for i, a in enumerate(ids_a):
        pair = tokenizer.encode_pair(a, ids_b.get(i), max_length=max_seq_length)
        input_ids.append(pair.input_ids)
        token_type_ids.append(pair.token_type_ids)
    missing = -1.0 if regression else -1
    raw = [missing if e.label is None else e.label for e in examples]
    labels = np.asarray(raw, dtype=np.float32 if regression else np.int64)
    return EncodedSet(input_ids, token_type_ids, labels, [e.guid for e in examples])


def train_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator, *, group_factor: int = GROUP_FACTOR
) -> list[np.ndarray]:
    """One epoch of row-index batches, grouped by length and in random order.

    Every row appears exactly once; only the very last chunk can yield one short batch.
    """
    order = rng.permutation(len(lengths))
    chunk = batch_size * group_factor
    batches: list[np.ndarray] = []
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(-lengths[part], kind="stable")]  # longest first inside the chunk
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def eval_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Row-index batches sorted by length (least padding); callers scatter results back by index."""
    order = np.argsort(-lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def collate(data: EncodedSet, rows: np.ndarray, *, pad_id: int) -> dict[str, torch.Tensor]:
    """Pad one batch to its longest row: input_ids, token_type_ids, input_mask (B, L); labels (B,)."""
    import torch

    width = max(len(data.input_ids[r]) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    types = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        n = len(data.input_ids[r])
        ids[i, :n] = data.input_ids[r]
        types[i, :n] = data.token_type_ids[r]
        mask[i, :n] = 1
    return {
        "input_ids": torch.from_numpy(ids),
        "token_type_ids": torch.from_numpy(types),
        "input_mask": torch.from_numpy(mask),
        "labels": torch.from_numpy(data.labels[rows]),
    }
