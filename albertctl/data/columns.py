"""A group's documents and a pass's instances as flat columns, and the pass itself (compiled or not).

Shapes: T tokens of a group, S segments, D documents; R instances of a pass, M masked positions.

make-data builds one pass over a group at a time (docs/reference.md §2 steps 3-11). The
algorithm is :mod:`albertctl.data.sop` and :mod:`albertctl.data.masking`, pure Python, one
instance at a time; that code is the specification. ``_instances.c`` is the same algorithm
compiled, drawing the same numbers from the same ``np.random.Generator`` through numpy's own
sampling routines, so both give the same bytes (tests/test_data_golden.py runs both). The
compiled pass is used when it was built at install (it is an optional extension: without a C
compiler the install still succeeds) unless ``ALBERTCTL_PURE_PYTHON=1``; :func:`backend` says
which one runs. Nothing here reads or writes files.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from albertctl.data.masking import MaskedSequence, MaskingSpec, _cumulative, _ngram_law, mask_row
from albertctl.data.sop import (
    SINGLE_SEGMENT_POLICIES,
    Instance,
    InstanceOptions,
    Segment,
    create_instances_from_document,
)
from albertctl.native import compiled_allowed

try:  # built by setup.py when a C compiler is at hand
    from albertctl.data import _instances
except ImportError:  # pragma: no cover - depends on the install
    _instances = None


def backend() -> str:
    """``"compiled"`` or ``"python"``: which implementation :func:`build_pass` uses now."""
    if _instances is None or not compiled_allowed():
        return "python"
    return "compiled"


def flatten_ids(ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """A list of id lists (the tokenizer's output) as flat int32 ids and int64 lengths."""
    if backend() == "compiled":
        flat, lengths = _instances.flatten_ids(ids)
        return np.frombuffer(flat, dtype=np.int32), np.frombuffer(lengths, dtype=np.int64)
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int32, count=int(lengths.sum()))
    return flat, lengths


@dataclass(frozen=True)
class TokenizedGroup:
    """The tokenized documents of one group, flat; no segment or document is empty."""

    tokens: np.ndarray
    """(T,) int32: every segment's piece ids, concatenated."""
    starts: np.ndarray
    """(T,) uint8: 1 where a piece starts a word."""
    segment_offsets: np.ndarray
    """(S + 1,) int64: segment ``s`` is ``tokens[segment_offsets[s]:segment_offsets[s + 1]]``."""
    document_offsets: np.ndarray
    """(D + 1,) int64: document ``d`` is the segments ``document_offsets[d]:document_offsets[d + 1]``."""

    @property
    def num_documents(self) -> int:
        return len(self.document_offsets) - 1

    @property
    def num_segments(self) -> int:
        return len(self.segment_offsets) - 1

    def segment_lengths(self) -> np.ndarray:
        """(S,) int64 tokens per segment."""
        return np.diff(self.segment_offsets)

    @classmethod
    def from_flat(
        cls, tokens: np.ndarray, starts: np.ndarray, lengths: np.ndarray, bounds: Sequence[int]
    ) -> TokenizedGroup:
        """From flat tokens and start flags, the length of every segment (empty ones included) and
        document bounds into the segments (``bounds[0] == 0``); empty segments, then empty
        documents, are dropped."""
        lengths = np.asarray(lengths, dtype=np.int64)
        nonempty = lengths > 0
        # Non-empty segments before each document bound; a document that kept none repeats a value.
        kept_before = np.concatenate([[0], np.cumsum(nonempty)])[np.asarray(bounds, dtype=np.int64)]
        segment_offsets = np.zeros(int(nonempty.sum()) + 1, dtype=np.int64)
        np.cumsum(lengths[nonempty], out=segment_offsets[1:])
        return cls(
            np.ascontiguousarray(tokens, dtype=np.int32),
            np.ascontiguousarray(starts, dtype=np.uint8),
            segment_offsets,
            np.unique(kept_before),
        )

    @classmethod
    def from_segments(
        cls, ids: Sequence[Sequence[int]], starts: Sequence[Sequence[bool]], bounds: Sequence[int]
    ) -> TokenizedGroup:
        """From per-segment id and start lists and document bounds into them (see :meth:`from_flat`)."""
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        total = int(lengths.sum())
        tokens = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int32, count=total)
        flags = np.fromiter(itertools.chain.from_iterable(starts), dtype=np.uint8, count=total)
        return cls.from_flat(tokens, flags, lengths, bounds)

    @classmethod
    def from_documents(cls, documents: Sequence[Sequence[Segment]]) -> TokenizedGroup:
        """From documents of :class:`~albertctl.data.sop.Segment` (tests and the Python path)."""
        segments = [s for d in documents for s in d]
        bounds = np.concatenate([[0], np.cumsum([len(d) for d in documents])]).astype(np.int64)
        return cls.from_segments([s.ids for s in segments], [s.starts for s in segments], bounds.tolist())

    def documents(self) -> list[list[Segment]]:
        """Documents of segments, as :func:`~albertctl.data.sop.create_instances_from_document` takes them."""
        tokens, starts = self.tokens.tolist(), self.starts.astype(bool).tolist()
        bounds = self.segment_offsets.tolist()
        segments = [Segment(tokens[a:b], starts[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        docs = self.document_offsets.tolist()
        return [segments[a:b] for a, b in zip(docs[:-1], docs[1:], strict=True)]


@dataclass(frozen=True)
class InstanceColumns:
    """The instances of a pass, flat: the shard columns before their Arrow types."""

    input_ids: np.ndarray
    """(sum of lengths,) int32, masks applied."""
    offsets: np.ndarray
    """(R + 1,) int64: row ``r`` of ``input_ids``, ``token_type_ids``, ``token_boundary``."""
    token_type_ids: np.ndarray
    """(sum of lengths,) uint8."""
    token_boundary: np.ndarray
    """(sum of lengths,) uint8."""
    masked_lm_positions: np.ndarray
    """(M,) int32, sorted within a row."""
    mask_offsets: np.ndarray
    """(R + 1,) int64: row ``r`` of ``masked_lm_positions`` and ``masked_lm_ids``."""
    masked_lm_ids: np.ndarray
    """(M,) int32: the original ids."""
    sentence_order_label: np.ndarray
    """(R,) uint8."""

    def __len__(self) -> int:
        return len(self.sentence_order_label)

    @classmethod
    def from_instances(cls, instances: Sequence[Instance]) -> InstanceColumns:
        def flat(column: str, dtype: type) -> tuple[np.ndarray, np.ndarray]:
            rows = [getattr(i, column) for i in instances]
            offsets = np.zeros(len(rows) + 1, dtype=np.int64)
            np.cumsum(np.fromiter(map(len, rows), dtype=np.int64, count=len(rows)), out=offsets[1:])
            values = np.fromiter((v for row in rows for v in row), dtype=dtype, count=int(offsets[-1]))
            return values, offsets

        input_ids, offsets = flat("input_ids", np.int32)
        positions, mask_offsets = flat("masked_lm_positions", np.int32)
        labels = np.fromiter(
            (i.sentence_order_label for i in instances), dtype=np.uint8, count=len(instances)
        )
        return cls(
            input_ids,
            offsets,
            flat("token_type_ids", np.uint8)[0],
            flat("token_boundary", np.uint8)[0],
            positions,
            mask_offsets,
            flat("masked_lm_ids", np.int32)[0],
            labels,
        )

    @classmethod
    def from_buffers(cls, *buffers: bytes) -> InstanceColumns:
        """The columns from the compiled code's bytes, in field order."""
        return cls(*(np.frombuffer(b, dtype=t) for b, t in zip(buffers, _DTYPES, strict=True)))

    def take(self, order: np.ndarray) -> InstanceColumns:
        """The rows in ``order`` (a permutation of ``range(len(self))``)."""
        if backend() == "compiled":
            columns = _instances.take_rows(  # the fields but the labels, in field order
                np.ascontiguousarray(order, dtype=np.int64),
                *(
                    np.ascontiguousarray(getattr(self, name), dtype=_DTYPE_OF[name])
                    for name in _TAKE_ARGUMENTS
                ),
            )
            labels = np.ascontiguousarray(self.sentence_order_label[order], dtype=np.uint8)
            return InstanceColumns.from_buffers(*columns, labels.tobytes())
        tokens, token_offsets = _gather(self.offsets, order)
        masks, mask_offsets = _gather(self.mask_offsets, order)
        return InstanceColumns(
            self.input_ids[tokens],
            token_offsets,
            self.token_type_ids[tokens],
            self.token_boundary[tokens],
            self.masked_lm_positions[masks],
            mask_offsets,
            self.masked_lm_ids[masks],
            self.sentence_order_label[order],
        )

    def rows(self) -> list[Instance]:
        """The instances as :class:`~albertctl.data.sop.Instance` objects (tests, inspection)."""
        o, m = self.offsets.tolist(), self.mask_offsets.tolist()
        return [
            Instance(
                self.input_ids[o[r] : o[r + 1]].tolist(),
                self.token_type_ids[o[r] : o[r + 1]].tolist(),
                self.token_boundary[o[r] : o[r + 1]].tolist(),
                self.masked_lm_positions[m[r] : m[r + 1]].tolist(),
                self.masked_lm_ids[m[r] : m[r + 1]].tolist(),
                int(self.sentence_order_label[r]),
            )
            for r in range(len(self))
        ]


_COLUMNS = tuple(f.name for f in dataclasses.fields(InstanceColumns))
_DTYPES = (np.int32, np.int64, np.uint8, np.uint8, np.int32, np.int64, np.int32, np.uint8)
"""The dtype of each :class:`InstanceColumns` field, in order (the compiled code's layout)."""
_DTYPE_OF = dict(zip(_COLUMNS, _DTYPES, strict=True))
_TAKE_ARGUMENTS = ("offsets", "mask_offsets", "input_ids", "token_type_ids", "token_boundary",
                   "masked_lm_positions", "masked_lm_ids")  # fmt: skip
"""The columns ``_instances.take_rows`` reads, in its order."""


def _gather(offsets: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices of the rows ``order`` of a ragged column with ``offsets``, and the new offsets."""
    lengths = np.diff(offsets)[order]
    new_offsets = np.zeros(len(order) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    # Element i of the output comes from offsets[row] + (i - new_offsets[row]) for its row.
    shift = np.repeat(offsets[:-1][order] - new_offsets[:-1], lengths)
    return np.arange(int(new_offsets[-1]), dtype=np.int64) + shift, new_offsets


def _cumulative_law(ngram: int, favor_shorter: bool) -> np.ndarray:
    """(ngram,) float64: the cumulative P(n) the Python masking uses, for the compiled code."""
    return np.asarray(_cumulative(_ngram_law(ngram, favor_shorter)), dtype=np.float64)


def build_pass(group: TokenizedGroup, options: InstanceOptions, rng: np.random.Generator) -> InstanceColumns:
    """Every document's instances, in document order: one pass of make-data over ``group``.

    Equal, draw for draw, to calling :func:`~albertctl.data.sop.create_instances_from_document`
    for each document in turn with ``rng`` (the documents are the random-document buffer).
    """
    if backend() == "python":
        documents = group.documents()
        instances: list[Instance] = []
        for index in range(len(documents)):
            instances.extend(create_instances_from_document(documents, index, options=options, rng=rng))
        return InstanceColumns.from_instances(instances)
    cumulative = _cumulative_law(options.ngram, options.favor_shorter_ngram)
    bit_generator = rng.bit_generator
    with bit_generator.lock:  # as every Generator method holds it while it draws
        columns = _instances.build_pass(
            bit_generator.capsule,
            np.ascontiguousarray(group.tokens, dtype=np.int32),
            np.ascontiguousarray(group.starts, dtype=np.uint8),
            np.ascontiguousarray(group.segment_offsets, dtype=np.int64),
            np.ascontiguousarray(group.document_offsets, dtype=np.int64),
            options.max_seq_length,
            options.max_predictions,
            options.masked_lm_prob,
            options.short_seq_prob,
            options.ngram,
            options.whole_word,
            SINGLE_SEGMENT_POLICIES.index(options.single_segment),
            options.vocab_size,
            options.cls_id,
            options.sep_id,
            options.pad_id,
            options.mask_id,
            cumulative,
        )
    return InstanceColumns.from_buffers(*columns)


def mask_rows(
    ids: Sequence[np.ndarray],
    boundaries: Sequence[np.ndarray],
    spec: MaskingSpec,
    rngs: Sequence[np.random.Generator],
) -> list[MaskedSequence]:
    """:func:`~albertctl.data.masking.mask_row` of each row, row ``j`` drawing from ``rngs[j]``
    (the loader's dynamic masks); compiled when :func:`backend` says so, with the same result."""
    if backend() == "python" or len(spec.special_ids) != 3 or not ids:
        return [
            mask_row(i.tolist(), b.tolist(), spec, rng)
            for i, b, rng in zip(ids, boundaries, rngs, strict=True)
        ]
    offsets = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum([len(i) for i in ids], out=offsets[1:])
    cls_id, sep_id, pad_id = spec.special_ids
    masked, positions, mask_offsets, originals = _instances.mask_rows(
        [rng.bit_generator.capsule for rng in rngs],  # fresh generators of the caller's: no lock needed
        np.concatenate(ids).astype(np.int32),
        offsets,
        np.concatenate(boundaries).astype(np.uint8),
        spec.max_predictions,
        spec.masked_lm_prob,
        spec.ngram,
        spec.whole_word,
        spec.vocab_size,
        cls_id,
        sep_id,
        pad_id,
        spec.mask_id,
        _cumulative_law(spec.ngram, spec.favor_shorter_ngram),
    )
    masked_ids = np.frombuffer(masked, dtype=np.int32).tolist()
    position_list = np.frombuffer(positions, dtype=np.int32).tolist()
    original_list = np.frombuffer(originals, dtype=np.int32).tolist()
    o, m = offsets.tolist(), np.frombuffer(mask_offsets, dtype=np.int64).tolist()
    return [
        MaskedSequence(
            masked_ids[o[r] : o[r + 1]], position_list[m[r] : m[r + 1]], original_list[m[r] : m[r + 1]]
        )
        for r in range(len(ids))
    ]
