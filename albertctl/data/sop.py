"""Sentence-order (SOP) pairs from documents of tokenized segments, as pure functions.

This is docs/reference.md §2 steps 3-7 (google-research/albert ``create_instances_from_document``):
a target length per document (shorter with ``short_seq_prob``), segments accumulated into
chunks, a random A/B split point, A and B swapped with probability 0.5 (label 1, else 0, as
transformers' ``sentence_order_label``), the longer side truncated one token at a time from a
random end, then ``[CLS] A [SEP] B [SEP]`` and the masking of :mod:`albertctl.data.masking`.

A chunk with a single segment is handled by ``single_segment`` (see :data:`SINGLE_SEGMENT_POLICIES`
and docs/data-format.md). Every random draw comes from the ``np.random.Generator`` passed in.
Nothing here reads or writes files.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from albertctl.data.masking import Candidates, MaskingSpec, make_candidates, mask_whole_words

SINGLE_SEGMENT_POLICIES = ("reference", "split", "drop")
"""``reference``: B from a random other document, label 1 (albert#234, partly NSP);
``split``: cut the segment at a random word boundary into A and B, then the usual SOP swap;
``drop``: emit no instance for that chunk."""


class Segment(NamedTuple):
    """One tokenized line (or sentence): piece ids and, per piece, whether it starts a word."""

    ids: list[int]
    starts: list[bool]


@dataclass(frozen=True, slots=True)
class Instance:
    """One pretraining example, unpadded; the columns of a shard row."""

    input_ids: list[int]
    token_type_ids: list[int]
    token_boundary: list[int]
    masked_lm_positions: list[int]
    masked_lm_ids: list[int]
    sentence_order_label: int


@dataclass(frozen=True, kw_only=True, slots=True)
class InstanceOptions:
    """What :func:`create_instances_from_document` needs: the algorithm options and special ids."""

    max_seq_length: int
    max_predictions: int
    masked_lm_prob: float
    short_seq_prob: float
    ngram: int
    whole_word: bool
    favor_shorter_ngram: bool
    single_segment: str
    vocab_size: int
    cls_id: int
    sep_id: int
    pad_id: int
    mask_id: int

    def __post_init__(self) -> None:
        # The user-facing checks live in MakeDataConfig; these are internal invariants.
        assert self.max_seq_length >= 5, f"max_seq_length {self.max_seq_length} < 5"
        assert self.single_segment in SINGLE_SEGMENT_POLICIES, self.single_segment

    @property
    def masking_spec(self) -> MaskingSpec:
        """The masking part of the options (what make-data writes into the manifest)."""
        return _masking_spec(self)

    @property
    def max_num_tokens(self) -> int:
        """Room for A and B: the sequence length minus ``[CLS]``, ``[SEP]``, ``[SEP]``."""
        return self.max_seq_length - 3


def draw_target_length(max_num_tokens: int, short_seq_prob: float, rng: np.random.Generator) -> int:
    """``max_num_tokens``, or with probability ``short_seq_prob`` a uniform length in [2, max]."""
    if rng.random() < short_seq_prob:
        return int(rng.integers(2, max_num_tokens + 1))
    return max_num_tokens


def chunk_segments(lengths: Sequence[int], target_length: int) -> list[tuple[int, int]]:
    """Half-open segment ranges: accumulate segments until >= ``target_length`` tokens or the end."""
    chunks: list[tuple[int, int]] = []
    start, total = 0, 0
    for i, length in enumerate(lengths):
        total += length
        if i == len(lengths) - 1 or total >= target_length:
            chunks.append((start, i + 1))
            start, total = i + 1, 0
    return chunks


def draw_a_end(num_segments: int, rng: np.random.Generator) -> int:
    """How many of a chunk's segments go to A: 1, or uniform in [1, n-1] when n >= 2."""
    return 1 if num_segments < 2 else int(rng.integers(1, num_segments))


def truncate_pair(
    a: Segment, b: Segment, max_num_tokens: int, rng: np.random.Generator
) -> tuple[Segment, Segment]:
    """Cut the longer side (B on a tie) one token at a time, front or back with p 1/2 each.

    One uniform is drawn per removed token, in the reference's order, all at once. Which side
    loses the token does not depend on the draws: first the longer side down to the other's
    length (``|len(A) - len(B)|`` cuts), then B, A, B, A, ... So the cuts are counted per side
    from slices of the draws instead of a loop over tokens (the excess of a long line is
    hundreds of tokens).
    """
    la, lb = len(a.ids), len(b.ids)
    excess = la + lb - max_num_tokens
    if excess <= 0:
        return a, b
    front = rng.random(excess) < 0.5
    lead = min(abs(la - lb), excess)
    alternate = front[lead:]
    a_cuts = alternate[1::2]  # after the lead: the tie goes to B, so B takes the even steps
    b_cuts = alternate[0::2]
    if la > lb:
        a_cuts = np.concatenate([front[:lead], a_cuts])
    else:
        b_cuts = np.concatenate([front[:lead], b_cuts])
    a_front, b_front = int(np.count_nonzero(a_cuts)), int(np.count_nonzero(b_cuts))
    a_back, b_back = len(a_cuts) - a_front, len(b_cuts) - b_front
    return (
        Segment(a.ids[a_front : la - a_back], a.starts[a_front : la - a_back]),
        Segment(b.ids[b_front : lb - b_back], b.starts[b_front : lb - b_back]),
    )


def concat_segments(segments: Sequence[Segment]) -> Segment:
    """Join segments into one token run."""
    if len(segments) == 1:
        return segments[0]
    ids: list[int] = []
    starts: list[bool] = []
    for segment in segments:
        ids.extend(segment.ids)
        starts.extend(segment.starts)
    return Segment(ids, starts)


def make_sop_pair(a: Segment, b: Segment, rng: np.random.Generator) -> tuple[Segment, Segment, int]:
    """Keep A, B in order (label 0) or swap them (label 1), each with probability 0.5."""
    if rng.random() < 0.5:
        return b, a, 1
    return a, b, 0


def swap_pair(
    ids: np.ndarray, token_type_ids: np.ndarray, token_boundary: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``[CLS] A [SEP] B [SEP]`` -> ``[CLS] B [SEP] A [SEP]``, with its segment ids (0…0 1…1
    again) and token boundaries (each piece keeps its own); None for a row without a B.

    Shapes: all (n,), n = len(A) + len(B) + 3; A is the k - 2 pieces after [CLS], k the type-0 count.
    """
    n, k = len(ids), int(np.count_nonzero(token_type_ids == 0))
    if k >= n:
        return None
    order = np.concatenate(([0], np.arange(k, n - 1), [k - 1], np.arange(1, k - 1), [n - 1]))  # (n,)
    types = np.zeros_like(token_type_ids)  # (n,)
    types[n - k + 1 :] = 1  # [CLS] B [SEP] is n - k + 1 pieces
    return ids[order], types, token_boundary[order]


def split_segment(segment: Segment, rng: np.random.Generator) -> tuple[Segment, Segment] | None:
    """Cut one segment in two at a random word start (any piece if none); None if < 2 pieces."""
    n = len(segment.ids)
    if n < 2:
        return None
    cuts = list(itertools.compress(range(1, n), segment.starts[1:])) or range(1, n)
    cut = cuts[int(rng.integers(0, len(cuts)))]
    return (
        Segment(segment.ids[:cut], segment.starts[:cut]),
        Segment(segment.ids[cut:], segment.starts[cut:]),
    )


def random_document_b(
    documents: Sequence[Sequence[Segment]],
    document_index: int,
    target_b_length: int,
    rng: np.random.Generator,
) -> Segment:
    """The reference's B for a single-segment chunk: segments of a random other document.

    Up to 10 tries to draw another document (the last draw is used even if it is the same),
    then segments from a random start until ``target_b_length`` tokens (at least one segment).
    """
    other = document_index
    for _ in range(10):
        other = int(rng.integers(0, len(documents)))
        if other != document_index:
            break
    document = documents[other]
    start = int(rng.integers(0, len(document)))
    taken: list[Segment] = []
    length = 0
    for segment in document[start:]:
        taken.append(segment)
        length += len(segment.ids)
        if length >= target_b_length:
            break
    return concat_segments(taken)


def pair_chunk(
    chunk: Sequence[Segment],
    *,
    documents: Sequence[Sequence[Segment]],
    document_index: int,
    target_length: int,
    options: InstanceOptions,
    rng: np.random.Generator,
) -> tuple[Segment, Segment, int] | None:
    """A, B and the SOP label for one chunk, after truncation; None when the chunk is dropped."""
    a_end = draw_a_end(len(chunk), rng)
    a = concat_segments(chunk[:a_end])
    if len(chunk) >= 2:
        a, b, label = make_sop_pair(a, concat_segments(chunk[a_end:]), rng)
    elif options.single_segment == "reference":
        b, label = random_document_b(documents, document_index, target_length - len(a.ids), rng), 1
    elif options.single_segment == "split":
        halves = split_segment(a, rng)
        if halves is None:
            return None
        a, b, label = make_sop_pair(halves[0], halves[1], rng)
    else:
        return None
    a, b = truncate_pair(a, b, options.max_num_tokens, rng)
    return a, b, label


def build_instance(
    a: Segment, b: Segment, label: int, options: InstanceOptions, rng: np.random.Generator
) -> Instance:
    """``[CLS] A [SEP] B [SEP]``, segment ids 0…0 1…1, then whole-word n-gram masking."""
    ids = [options.cls_id, *a.ids, options.sep_id, *b.ids, options.sep_id]
    token_type_ids = [0] * (len(a.ids) + 2) + [1] * (len(b.ids) + 1)
    special = _special_ids(options)
    if special.isdisjoint(a.ids) and special.isdisjoint(b.ids):
        # The common case, in C-speed list operations: specials only at 0, len(A) + 1 and the end.
        candidates, boundary = _pair_candidates(a.starts, b.starts, whole_word=options.whole_word)
    else:
        starts = [True, *a.starts, True, *b.starts, True]
        candidates, boundary = make_candidates(
            ids, starts, special_ids=special, whole_word=options.whole_word
        )
    if options.masked_lm_prob == 0:
        return Instance(ids, token_type_ids, boundary, [], [], label)
    masked = mask_whole_words(ids, candidates, options.masking_spec, rng)
    return Instance(
        masked.input_ids, token_type_ids, boundary, masked.masked_lm_positions, masked.masked_lm_ids, label
    )


@functools.lru_cache(maxsize=8)
def _masking_spec(options: InstanceOptions) -> MaskingSpec:
    return MaskingSpec(
        masked_lm_prob=options.masked_lm_prob,
        max_predictions=options.max_predictions,
        ngram=options.ngram,
        whole_word=options.whole_word,
        favor_shorter_ngram=options.favor_shorter_ngram,
        vocab_size=options.vocab_size,
        mask_id=options.mask_id,
        special_ids=(options.cls_id, options.sep_id, options.pad_id),
    )


@functools.lru_cache(maxsize=8)
def _special_ids_of(cls_id: int, sep_id: int, pad_id: int) -> frozenset[int]:
    return frozenset((cls_id, sep_id, pad_id))


def _special_ids(options: InstanceOptions) -> frozenset[int]:
    return _special_ids_of(options.cls_id, options.sep_id, options.pad_id)


def _pair_candidates(
    a_starts: list[bool], b_starts: list[bool], *, whole_word: bool
) -> tuple[Candidates, list[int]]:
    """:func:`make_candidates` for ``[CLS] A [SEP] B [SEP]`` when A and B hold no special id."""
    la, lb = len(a_starts), len(b_starts)
    positions = [*range(1, la + 1), *range(la + 2, la + lb + 2)]
    text_starts = a_starts + b_starts
    if whole_word:
        begins = list(itertools.compress(range(la + lb), text_starts))
        if text_starts and not text_starts[0]:
            begins.insert(0, 0)  # the first piece starts a word in any case
    else:
        begins = list(range(la + lb))
    begins.append(la + lb)
    boundary = [1, *map(int, a_starts), 1, *map(int, b_starts), 1]
    return Candidates(positions, begins), boundary


def create_instances_from_document(
    documents: Sequence[Sequence[Segment]],
    document_index: int,
    *,
    options: InstanceOptions,
    rng: np.random.Generator,
) -> list[Instance]:
    """All instances of one document for one pass (docs/reference.md §2 steps 3-11).

    ``documents`` is the random-document buffer (used only by the ``reference`` single-segment
    policy); the target length is drawn once per document per pass, as in the reference.
    """
    document = documents[document_index]
    target = draw_target_length(options.max_num_tokens, options.short_seq_prob, rng)
    instances: list[Instance] = []
    for start, end in chunk_segments([len(s.ids) for s in document], target):
        pair = pair_chunk(
            document[start:end],
            documents=documents,
            document_index=document_index,
            target_length=target,
            options=options,
            rng=rng,
        )
        if pair is not None:
            instances.append(build_instance(*pair, options, rng))
    return instances
