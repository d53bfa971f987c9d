"""The training-time loader over pretraining shards (docs/design.md "Pretraining shards").

Reads ``DATA_DIR/manifest.json`` and memory-maps every ``shard-*.arrow`` (Arrow IPC file), so
rows are never copied until a batch is built. Sampling is a function of the step index alone:

- The sample stream is the concatenation of epochs; epoch ``e`` is a permutation of all rows of
  all shards drawn from ``np.random.default_rng([seed, e])``, so each epoch is reshuffled and the
  stream does not depend on how many processes read it.
- Step ``k`` takes stream positions ``[k*B, (k+1)*B)`` for a global batch of ``B`` sequences,
  viewed as ``(grad_accum, world_size, micro)``: micro-batch ``a`` of rank ``r`` is row ``[a, r]``.
  One process with ``grad_accum=2`` and two processes with ``grad_accum=1`` see the same global
  batch.
- The position is one integer (the next step), saved in the checkpoint: resuming mid-epoch gives
  exactly the batches an uninterrupted run would have had.

Batches are padded per micro-batch to the longest row (rounded up to ``pad_to_multiple_of``)
and to the most masked positions in it, into the tensors ``AlbertForPreTraining`` takes.
A background thread builds the next step while the current one trains.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from albertctl.data.columns import mask_rows
from albertctl.data.masking import MaskedSequence, MaskingSpec
from albertctl.data.sop import swap_pair
from albertctl.errors import AlbertctlError
from albertctl.fsutil import plain_file_name, read_json

MANIFEST = "manifest.json"
LIST_COLUMNS: tuple[str, ...] = ("input_ids", "token_type_ids", "masked_lm_positions", "masked_lm_ids")
BOUNDARY = "token_boundary"
"""Read when present (every make-data shard has it): what dynamic masking rebuilds words from."""
REQUIRED_COLUMNS: tuple[str, ...] = (*LIST_COLUMNS, "sentence_order_label")


@dataclass(frozen=True, kw_only=True)
class DataInfo:
    """What a pretraining data directory's manifest says (the fields the trainer needs)."""

    data_dir: Path
    """The directory."""
    vocab_size: int
    """Size of the vocabulary the ids come from."""
    vocab_fingerprint: str
    """sha256 of the tokenizer model ("" when the manifest has none)."""
    max_seq_length: int
    """Longest row, in tokens."""
    max_predictions: int
    """Most masked positions in a row."""
    shards: tuple[Path, ...]
    """Shard files, in manifest order."""
    rows: int
    """Total rows over the shards (from the manifest)."""
    masking: str = "static"
    """``static`` (rows carry make-data's masks) or ``none`` (make-data --masking none)."""
    masking_spec: MaskingSpec | None = None
    """make-data's masking settings and special ids (None in manifests from before issue 19)."""

    @property
    def vocab_dir(self) -> Path:
        """The tokenizer copy inside the data directory."""
        return self.data_dir / "vocab"


def read_data_info(data_dir: Path, *, verify: bool = False) -> DataInfo:
    """Read and check ``DATA_DIR/manifest.json``; every listed shard must exist, and with
    ``verify`` match the sha256 the manifest records (:func:`~albertctl.data.shards.verify_shards`)."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise AlbertctlError(
            f"data directory {data_dir} does not exist", hint="build it with albertctl make-data"
        )
    manifest = read_json(data_dir / MANIFEST)
    try:
        entries = manifest["shards"]
        source = data_dir / MANIFEST
        files = [
            data_dir / plain_file_name(e["file"] if isinstance(e, dict) else e, source=source)
            for e in entries
        ]
        rows = sum(int(e.get("rows", 0)) if isinstance(e, dict) else 0 for e in entries)
        masking = manifest.get("masking") or {}
        spec = masking.get("spec")
        info = DataInfo(
            data_dir=data_dir,
            vocab_size=int(manifest["vocab_size"]),
            vocab_fingerprint=str(manifest.get("vocab_fingerprint", "")),
            max_seq_length=int(manifest["max_seq_length"]),
            max_predictions=int(manifest["max_predictions"]),
            shards=tuple(files),
            rows=rows,
            masking=str(masking.get("mode", "static")),
            masking_spec=MaskingSpec.from_dict(spec) if spec is not None else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise AlbertctlError(
            f"{data_dir / MANIFEST} is missing a field or has a bad value ({exc})",
            hint="rebuild the data with albertctl make-data",
        ) from exc
    if not files:
        raise AlbertctlError(f"{data_dir} lists no shards", hint="rebuild the data with albertctl make-data")
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise AlbertctlError(
            f"{data_dir}: shard file(s) missing: {', '.join(missing[:3])}", hint="rebuild the data"
        )
    from albertctl.data.shards import verify_shards, verify_vocab_copy

    verify_vocab_copy(data_dir, vocab_size=info.vocab_size, fingerprint=info.vocab_fingerprint)
    if verify:
        verify_shards(data_dir, entries, vocab_size=info.vocab_size)
    return info


def merge_data_infos(infos: Sequence[DataInfo]) -> DataInfo:
    """Check that several data directories can be trained on together (same vocabulary)."""
    first = infos[0]
    for info in infos[1:]:
        if info.vocab_size != first.vocab_size or info.vocab_fingerprint != first.vocab_fingerprint:
            raise AlbertctlError(
                f"{info.data_dir} was built with another vocabulary than {first.data_dir}",
                hint="build every --data directory from the same vocabulary",
            )
        if info.masking != first.masking:
            raise AlbertctlError(
                f"{info.data_dir} was built with make-data --masking {info.masking}, "
                f"{first.data_dir} with --masking {first.masking}",
                hint="build every --data directory with the same --masking",
            )
    specs = {info.masking_spec for info in infos}
    spec = first.masking_spec if len(specs) == 1 else None
    return DataInfo(
        data_dir=first.data_dir,
        vocab_size=first.vocab_size,
        vocab_fingerprint=first.vocab_fingerprint,
        max_seq_length=max(i.max_seq_length for i in infos),
        max_predictions=max(i.max_predictions for i in infos),
        shards=tuple(s for i in infos for s in i.shards),
        rows=sum(i.rows for i in infos),
        masking=first.masking,
        masking_spec=spec,
    )


class _Piece:
    """One Arrow record batch of a shard as zero-copy numpy views (offsets + flat values per column)."""

    def __init__(self, batch: Any, path: Path) -> None:
        names = set(batch.schema.names)
        missing = [c for c in REQUIRED_COLUMNS if c not in names]
        if missing:
            raise AlbertctlError(
                f"{path} lacks column(s) {', '.join(missing)}",
                hint="rebuild the data with albertctl make-data",
            )
        self.path = path
        self.num_rows = batch.num_rows
        self.offsets: dict[str, np.ndarray] = {}
        self.values: dict[str, np.ndarray] = {}
        for name in (*LIST_COLUMNS, BOUNDARY) if BOUNDARY in names else LIST_COLUMNS:
            column = batch.column(name)
            self.offsets[name] = column.offsets.to_numpy()
            self.values[name] = column.values.to_numpy()
        self.sop = batch.column("sentence_order_label").to_numpy()

    def row(self, name: str, i: int) -> np.ndarray:
        """Row ``i`` of list column ``name`` (a view)."""
        offsets = self.offsets[name]
        return self.values[name][offsets[i] : offsets[i + 1]]

    def row_length(self, name: str, i: int) -> int:
        """Length of row ``i`` of list column ``name``."""
        offsets = self.offsets[name]
        return int(offsets[i + 1] - offsets[i])


class ShardSet:
    """All rows of a list of shard files, memory-mapped, addressed by one global row index."""

    def __init__(self, paths: Sequence[Path], *, vocab_size: int | None = None) -> None:
        import pyarrow as pa

        from albertctl.data.shards import iter_shard_batches

        self.paths = tuple(Path(p) for p in paths)
        self.vocab_size = vocab_size
        """Ids must be below this (checked per batch, so unverified data fails with one line)."""
        self._pieces: list[_Piece] = []
        for path in self.paths:
            try:
                batches = list(iter_shard_batches(path))
            except (OSError, pa.ArrowInvalid) as exc:
                raise AlbertctlError(f"cannot read shard {path}: {exc}", hint="rebuild the data") from exc
            for batch in batches:
                piece = _Piece(batch, path)
                if piece.num_rows:
                    self._pieces.append(piece)
        counts = np.array([p.num_rows for p in self._pieces], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(counts)])  # global index of each piece's row 0
        self.num_rows = int(self._starts[-1])
        if self.num_rows == 0:
            raise AlbertctlError(f"the shards hold no rows: {', '.join(map(str, self.paths[:3]))}")

    def locate(self, index: int) -> tuple[_Piece, int]:
        """The piece holding global row ``index`` and the row within it."""
        p = int(np.searchsorted(self._starts, index, side="right")) - 1
        return self._pieces[p], index - int(self._starts[p])

    def num_masked(self, indices: np.ndarray) -> int:
        """Total masked positions over rows ``indices`` (reads offsets only)."""
        total = 0
        for index in indices:
            piece, i = self.locate(int(index))
            total += piece.row_length("masked_lm_positions", i)
        return total


EVAL_MASK_SEED = 0xE7A1
"""Held-out rows of ``--masking none`` data are masked with ``default_rng([EVAL_MASK_SEED, row])``:
the same masks in every evaluation and every run, whatever its seed."""


@dataclass(frozen=True)
class RedrawnOrder:
    """A row's sentence order drawn in the loader (``--sop-order dynamic``)."""

    token_type_ids: np.ndarray
    """(n,) the segment ids of the row as it is now ordered."""
    sentence_order_label: int
    """1 where the row now holds its segments swapped."""


def draw_masks(
    shards: ShardSet, rows: Sequence[int], seeds: Sequence[Sequence[int]], spec: MaskingSpec
) -> list[MaskedSequence]:
    """Fresh whole-word n-gram masks for global ``rows``, row ``rows[j]`` drawn from
    ``np.random.default_rng(seeds[j])`` with make-data's own masking step
    (:func:`~albertctl.data.masking.mask_row`, compiled or not: :func:`~albertctl.data.columns.mask_rows`).

    Rows that carry make-data's masks (static data) get their original ids back first, so any
    make-data output can be trained with dynamic masks.
    """
    return draw_rows(shards, rows, seeds, spec)[0]


def draw_rows(
    shards: ShardSet,
    rows: Sequence[int],
    seeds: Sequence[Sequence[int]],
    spec: MaskingSpec,
    *,
    redraw_order: bool = False,
) -> tuple[list[MaskedSequence], list[RedrawnOrder] | None]:
    """:func:`draw_masks`, and with ``redraw_order`` the sentence order of each row drawn first
    from the same generator: with probability 0.5 its two segments trade places (and its label
    flips), as make-data draws it (:func:`~albertctl.data.sop.make_sop_pair`), before the masks.
    One draw per row either way; a row without a second segment keeps its order."""
    ids, boundaries, orders = [], [], []
    generators = [np.random.default_rng(list(seed)) for seed in seeds]
    for row, rng in zip(rows, generators, strict=True):
        piece, i = shards.locate(int(row))
        if BOUNDARY not in piece.offsets:
            raise AlbertctlError(
                f"shard {piece.path} has no token_boundary column, which dynamic masking needs",
                hint="rebuild the data with albertctl make-data, or pretrain with --masking static",
            )
        row_ids = piece.row("input_ids", i).astype(np.int64)
        positions = piece.row("masked_lm_positions", i)
        if len(positions):
            row_ids[positions] = piece.row("masked_lm_ids", i)  # undo the static masks
        boundary = piece.row(BOUNDARY, i)
        if redraw_order:
            types, label = piece.row("token_type_ids", i), int(piece.sop[i])
            swapped = swap_pair(row_ids, types, boundary) if rng.random() < 0.5 else None
            if swapped is not None:
                (row_ids, types, boundary), label = swapped, 1 - label
            orders.append(RedrawnOrder(types, label))
        ids.append(row_ids)
        boundaries.append(boundary)
    return mask_rows(ids, boundaries, spec, generators), orders if redraw_order else None


def collate(
    shards: ShardSet,
    indices: Sequence[int],
    *,
    pad_to_multiple_of: int = 1,
    masks: Sequence[MaskedSequence] | None = None,
    orders: Sequence[RedrawnOrder] | None = None,
) -> dict[str, torch.Tensor]:
    """Rows ``indices`` -> padded tensors for ``AlbertForPreTraining`` and ``pretraining_loss``.

    input_ids, token_type_ids, input_mask: (B, L) int64, L = longest row rounded up;
    masked_lm_positions, masked_lm_ids: (B, P) int64 and masked_lm_weights (B, P) float32,
    P = most masked positions in the batch (at least 1; padding has weight 0);
    sentence_order_label: (B,) int64. With ``masks`` (one per row, from :func:`draw_masks`) the
    ids and labels are those masks' instead of the ones stored in the shards; with ``orders``
    (from :func:`draw_rows`) the segment ids and sentence-order labels are those too.
    """
    located = [shards.locate(int(i)) for i in indices]
    batch = len(located)
    if masks is not None:
        assert len(masks) == batch, (len(masks), batch)
        rows = [(m.input_ids, m.masked_lm_positions, m.masked_lm_ids) for m in masks]
    else:
        rows = [
            (p.row("input_ids", i), p.row("masked_lm_positions", i), p.row("masked_lm_ids", i))
            for p, i in located
        ]
    length = max(len(ids) for ids, _, _ in rows)
    length = -(-length // pad_to_multiple_of) * pad_to_multiple_of
    preds = max(1, max(len(pos) for _, pos, _ in rows))
    input_ids = np.zeros((batch, length), dtype=np.int64)
    token_type_ids = np.zeros((batch, length), dtype=np.int64)
    input_mask = np.zeros((batch, length), dtype=np.int64)
    positions = np.zeros((batch, preds), dtype=np.int64)
    lm_ids = np.zeros((batch, preds), dtype=np.int64)
    weights = np.zeros((batch, preds), dtype=np.float32)
    sop = np.zeros((batch,), dtype=np.int64)
    for b, ((piece, i), (ids, pos, labels)) in enumerate(zip(located, rows, strict=True)):
        n = len(ids)
        input_ids[b, :n] = ids
        token_type_ids[b, :n] = piece.row("token_type_ids", i) if orders is None else orders[b].token_type_ids
        input_mask[b, :n] = 1
        k = len(pos)
        positions[b, :k] = pos
        lm_ids[b, :k] = labels
        weights[b, :k] = 1.0
        sop[b] = piece.sop[i] if orders is None else orders[b].sentence_order_label
    limit = shards.vocab_size
    if limit is not None and max(int(input_ids.max()), int(lm_ids.max())) >= limit:
        b = int(np.flatnonzero((input_ids >= limit).any(1) | (lm_ids >= limit).any(1))[0])
        raise AlbertctlError(
            f"shard {located[b][0].path} holds ids outside the vocabulary ({limit} pieces)",
            hint="the data does not come from this vocabulary, or the shard is damaged: "
            "rebuild it with albertctl make-data (--verify checks every shard up front)",
        )
    return {
        "input_ids": torch.from_numpy(input_ids),
        "token_type_ids": torch.from_numpy(token_type_ids),
        "input_mask": torch.from_numpy(input_mask),
        "masked_lm_positions": torch.from_numpy(positions),
        "masked_lm_ids": torch.from_numpy(lm_ids),
        "masked_lm_weights": torch.from_numpy(weights),
        "sentence_order_label": torch.from_numpy(sop),
    }


@dataclass(frozen=True)
class StepBatch:
    """What one process trains on in one optimizer step."""

    step: int
    """The step index (0-based) this batch belongs to."""
    micro_batches: list[dict[str, torch.Tensor]]
    """This rank's ``grad_accum`` micro-batches."""
    global_num_masked: int
    """Masked positions over the whole global batch (all ranks): the MLM loss denominator."""
    global_num_sequences: int
    """Sequences in the global batch: the SOP loss denominator."""
    epoch: float
    """Passes over the data completed at the end of this step (fractional)."""


def epoch_permutation(num_rows: int, seed: int, epoch: int) -> np.ndarray:
    """The row order of ``epoch``: a permutation seeded by ``(seed, epoch)``."""
    return np.random.default_rng([seed, epoch]).permutation(num_rows)


class PretrainingLoader:
    """Deterministic, resumable, rank-sharded step batches over a :class:`ShardSet`.

    Iterate to get one :class:`StepBatch` per optimizer step; ``state_dict()`` is the next step.
    """

    def __init__(
        self,
        shards: ShardSet,
        *,
        global_batch_size: int,
        grad_accum: int = 1,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        pad_to_multiple_of: int = 8,
        prefetch: bool = True,
        dynamic_masking: MaskingSpec | None = None,
        sop_order: str = "static",
    ) -> None:
        if sop_order not in SOP_ORDERS:
            raise AlbertctlError(f"sop order must be one of {', '.join(SOP_ORDERS)}, got {sop_order!r}")
        if sop_order == "dynamic" and dynamic_masking is None:
            raise AlbertctlError(
                "--sop-order dynamic re-orders rows before masking them, so it needs dynamic masks",
                hint="add --masking dynamic (or use make-data --masking none data with --masking auto)",
            )
        per_micro = global_batch_size // max(1, grad_accum * world_size)
        if global_batch_size < 1 or per_micro * grad_accum * world_size != global_batch_size:
            raise AlbertctlError(
                f"--batch-size {global_batch_size} must be a positive multiple of "
                f"--grad-accum ({grad_accum}) x processes ({world_size})",
                hint=f"use a multiple of {grad_accum * world_size}",
            )
        self.shards = shards
        self.global_batch_size = global_batch_size
        self.grad_accum = grad_accum
        self.rank = rank
        self.world_size = world_size
        self.micro_batch_size = per_micro
        self.seed = seed
        self.pad_to_multiple_of = pad_to_multiple_of
        self.prefetch = prefetch
        self.dynamic_masking = dynamic_masking
        """Draw fresh masks per row and epoch with these settings (None: the shards' masks)."""
        self.sop_order = sop_order
        """``dynamic``: draw each row's sentence order per epoch too (before its masks)."""
        self.next_step = 0
        self._perm_cache: dict[int, np.ndarray] = {}
        self._worker: _Prefetcher | None = None

    def global_indices(self, step: int) -> np.ndarray:
        """Row indices of the global batch of ``step`` (length B), in stream order."""
        return self._global_rows(step)[0]

    def _global_rows(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Row indices of the global batch of ``step`` and the epoch each position belongs to."""
        n = self.shards.num_rows
        positions = np.arange(
            step * self.global_batch_size, (step + 1) * self.global_batch_size, dtype=np.int64
        )
        epochs = positions // n
        out = np.empty_like(positions)
        for epoch in np.unique(epochs):
            mask = epochs == epoch
            out[mask] = self._permutation(int(epoch))[positions[mask] % n]
        return out, epochs

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch not in self._perm_cache:
            if len(self._perm_cache) > 2:  # a step spans at most two epochs
                self._perm_cache.pop(min(self._perm_cache))
            self._perm_cache[epoch] = epoch_permutation(self.shards.num_rows, self.seed, epoch)
        return self._perm_cache[epoch]

    def build_step(self, step: int) -> StepBatch:
        """The batch of ``step`` for this rank (a pure function of the step and the settings).

        With dynamic masking, row ``r`` met in epoch ``e`` is masked from
        ``np.random.default_rng([seed, e, r])``: the same masks whatever the process count, and
        after a resume. Every rank masks the whole global batch (a few ms), because the MLM loss
        is normalized by the masked positions of all of it.
        """
        indices, epochs = self._global_rows(step)
        shape = (self.grad_accum, self.world_size, self.micro_batch_size)
        grid = indices.reshape(shape)
        masks: list[MaskedSequence] | None = None
        orders: list[RedrawnOrder] | None = None
        if self.dynamic_masking is not None:
            seeds = [(self.seed, int(e), int(r)) for e, r in zip(epochs, indices, strict=True)]
            redraw = self.sop_order == "dynamic"
            masks, orders = draw_rows(
                self.shards, indices.tolist(), seeds, self.dynamic_masking, redraw_order=redraw
            )
            where = np.arange(len(indices)).reshape(shape)
            num_masked = sum(len(m.masked_lm_positions) for m in masks)
        else:
            num_masked = self.shards.num_masked(indices)
        micro = [
            collate(
                self.shards,
                grid[a, self.rank],
                pad_to_multiple_of=self.pad_to_multiple_of,
                masks=None if masks is None else [masks[j] for j in where[a, self.rank]],
                orders=None if orders is None else [orders[j] for j in where[a, self.rank]],
            )
            for a in range(self.grad_accum)
        ]
        return StepBatch(
            step=step,
            micro_batches=micro,
            global_num_masked=num_masked,
            global_num_sequences=self.global_batch_size,
            epoch=(step + 1) * self.global_batch_size / self.shards.num_rows,
        )

    def __iter__(self) -> Iterator[StepBatch]:
        return self

    def __next__(self) -> StepBatch:
        step = self.next_step
        if self.prefetch:
            if self._worker is None or self._worker.next_step != step:
                self.close()
                self._worker = _Prefetcher(self, step)
            batch = self._worker.get()
        else:
            batch = self.build_step(step)
        self.next_step = step + 1
        return batch

    def close(self) -> None:
        """Stop the prefetch thread (it is restarted on the next ``next()``)."""
        if self._worker is not None:
            self._worker.stop()
            self._worker = None

    def state_dict(self) -> dict[str, Any]:
        """The position (next step) and what it is only valid for."""
        return {
            "next_step": self.next_step,
            "seed": self.seed,
            "global_batch_size": self.global_batch_size,
            "num_rows": self.shards.num_rows,
            "masking": self._masking_mode,
            "sop_order": self.sop_order,
        }

    @property
    def _masking_mode(self) -> str:
        return "static" if self.dynamic_masking is None else "dynamic"

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a saved position; the data, seed and batch size must be the same."""
        for key, mine in (
            ("seed", self.seed),
            ("global_batch_size", self.global_batch_size),
            ("num_rows", self.shards.num_rows),
        ):
            if int(state[key]) != mine:
                raise AlbertctlError(
                    f"cannot resume: the checkpoint's loader has {key}={state[key]}, this run has {mine}",
                    hint="resume with the same --data, --seed and --batch-size",
                )
        saved = state.get("masking", "static")  # checkpoints from before dynamic masking: static
        if saved != self._masking_mode:
            raise AlbertctlError(
                f"cannot resume: the checkpoint was trained with --masking {saved}, "
                f"this run has --masking {self._masking_mode}",
                hint=f"resume with --masking {saved}",
            )
        saved = state.get("sop_order", "static")  # checkpoints from before --sop-order: static
        if saved != self.sop_order:
            raise AlbertctlError(
                f"cannot resume: the checkpoint was trained with --sop-order {saved}, "
                f"this run has --sop-order {self.sop_order}",
                hint=f"resume with --sop-order {saved}",
            )
        self.close()
        self.next_step = int(state["next_step"])


class _Prefetcher:
    """Builds steps ``start, start+1, ...`` in a daemon thread, two ahead."""

    def __init__(self, loader: PretrainingLoader, start: int) -> None:
        self.next_step = start
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(loader, start), daemon=True)
        self._thread.start()

    def _run(self, loader: PretrainingLoader, start: int) -> None:
        step = start
        while not self._stop.is_set():
            try:
                item: Any = loader.build_step(step)
            except BaseException as exc:  # handed to the consumer, raised there
                item = exc
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if isinstance(item, BaseException):
                return
            step += 1

    def get(self) -> StepBatch:
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        self.next_step += 1
        return item

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def iter_eval_batches(
    shards: ShardSet,
    *,
    batch_size: int,
    rank: int = 0,
    world_size: int = 1,
    max_rows: int | None = None,
    masking: MaskingSpec | None = None,
) -> Iterator[dict[str, torch.Tensor]]:
    """Held-out rows in file order (no shuffle), ``batch_size`` per batch, batches strided over ranks.

    With ``masking`` (held-out data built with ``--masking none``) row ``r`` is masked from
    ``default_rng([EVAL_MASK_SEED, r])``, so every evaluation scores the same masks.
    """
    total = shards.num_rows if max_rows is None else min(max_rows, shards.num_rows)
    starts = range(0, total, batch_size)
    for b, start in enumerate(starts):
        if b % world_size == rank:
            rows = range(start, min(start + batch_size, total))
            masks = None
            if masking is not None:
                masks = draw_masks(shards, rows, [(EVAL_MASK_SEED, r) for r in rows], masking)
            yield collate(shards, rows, pad_to_multiple_of=8, masks=masks)


SOP_ORDERS = ("static", "dynamic")
"""pretrain --sop-order: the shards' sentence order, or one drawn per row and epoch."""

PRETRAIN_MASKING_MODES = ("auto", "static", "dynamic")
"""pretrain --masking: ``auto`` is dynamic for ``make-data --masking none`` data, else static."""


def resolve_masking(requested: str, info: DataInfo) -> MaskingSpec | None:
    """The masking spec the training loader draws with (None: the shards' own masks)."""
    mode = requested
    if mode == "auto":
        mode = "dynamic" if info.masking == "none" else "static"
    if mode == "static":
        if info.masking == "none":
            raise AlbertctlError(
                f"{info.data_dir} has no masks (built with make-data --masking none), "
                "so --masking static has nothing to train on",
                hint="pretrain it with --masking dynamic (or auto)",
            )
        return None
    if info.masking_spec is None:
        raise AlbertctlError(
            f"{info.data_dir}'s manifest does not record its masking settings (or --data "
            "directories disagree on them), which --masking dynamic draws with",
            hint="rebuild the data with this albertctl's make-data (one set of masking options)",
        )
    return info.masking_spec


def held_out_masking(info: DataInfo) -> MaskingSpec | None:
    """For evaluation: the spec of ``--masking none`` held-out data (masked at a fixed seed)."""
    return resolve_masking("dynamic", info) if info.masking == "none" else None
