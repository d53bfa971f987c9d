"""Whole-word n-gram masking for the masked-LM objective, as pure functions on id lists.

This is docs/reference.md §2 steps 8-11 (google-research/albert ``create_masked_lm_predictions``):
candidates are whole words built from word-start flags, n-gram lengths are drawn with
P(n) ∝ 1/n, at most ``num_to_predict`` pieces are masked, and each chosen piece becomes
``[MASK]`` (80%), stays (10%) or becomes a uniformly random id of the whole vocabulary (10%).
One difference, on purpose: the reference draws n from the never-seeded global ``np.random``;
here every draw comes from the ``np.random.Generator`` passed in, so the output is reproducible.
Nothing here reads or writes files.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np


@dataclass(frozen=True, slots=True)
class MaskedSequence:
    """The result of masking one ``[CLS] A [SEP] B [SEP]`` sequence."""

    input_ids: list[int]
    """The ids with the masks applied (same length as the input)."""
    masked_lm_positions: list[int]
    """Sorted positions that carry an MLM label."""
    masked_lm_ids: list[int]
    """The original ids at ``masked_lm_positions``."""


class Candidates(NamedTuple):
    """Maskable whole words of one sequence, flat instead of one list per word.

    Word ``k`` is ``positions[starts[k]:starts[k + 1]]``; ``starts`` ends with ``len(positions)``.
    Words are runs of consecutive non-special positions, so the n-gram of words ``k..k+n-1`` is
    the one slice ``positions[starts[k]:starts[k + n]]`` and its size a difference of two ints.
    """

    positions: list[int]
    """Every non-special position, in order."""
    starts: list[int]
    """Index into ``positions`` where each word begins, then ``len(positions)``."""

    def __len__(self) -> int:
        return len(self.starts) - 1

    def groups(self) -> list[list[int]]:
        """The words as lists of positions (for reading and tests)."""
        return [self.positions[a:b] for a, b in zip(self.starts[:-1], self.starts[1:], strict=True)]


def ngram_probs(ngram: int, *, favor_shorter: bool = True) -> np.ndarray:
    """P(n) for n = 1..ngram: ∝ 1/n (``[6/11, 3/11, 2/11]`` for 3), reversed if not favoring shorter."""
    if ngram < 1:
        raise ValueError(f"ngram must be >= 1, got {ngram}")
    pvals = 1.0 / np.arange(1, ngram + 1)
    pvals /= pvals.sum()
    return pvals if favor_shorter else pvals[::-1].copy()


_CUMULATIVE: dict[bytes, list[float]] = {}


def _cumulative(pvals: np.ndarray) -> list[float]:
    """The cumulative P(n) as a list ending exactly at 1.0, cached (one law per build)."""
    key = pvals.tobytes()
    found = _CUMULATIVE.get(key)
    if found is None:
        found = np.cumsum(pvals).tolist()
        found[-1] = 1.0
        _CUMULATIVE[key] = found
    return found


def ngram_from_uniform(cumulative: Sequence[float], u: float) -> int:
    """n in 1..len(cumulative) for a uniform ``u`` in [0, 1): the inverse of the cumulative P(n)."""
    return min(1 + bisect.bisect_right(cumulative, u), len(cumulative))


def draw_ngram(cumulative: Sequence[float], rng: np.random.Generator) -> int:
    """One n in 1..len(cumulative) from the cumulative P(n) (inverse CDF, one uniform)."""
    return ngram_from_uniform(cumulative, rng.random())


def num_to_predict(length: int, masked_lm_prob: float, max_predictions: int) -> int:
    """How many pieces to mask: ``min(max_predictions, max(1, round(length * prob)))``.

    ``length`` counts the special tokens, as the reference does (so at 512 tokens the cap of 20
    gives ~3.9% masked). Python's ``round`` (half to even) matches the reference exactly.
    """
    return min(max_predictions, max(1, int(round(length * masked_lm_prob))))


def make_candidates(
    input_ids: Sequence[int],
    word_starts: Sequence[bool],
    *,
    special_ids: Collection[int],
    whole_word: bool = True,
) -> tuple[Candidates, list[int]]:
    """Group positions into maskable candidates (whole words) and compute ``token_boundary``.

    Special ids (``[CLS]``, ``[SEP]``, pad) are never candidates and get boundary 1. With
    ``whole_word``, a piece that does not start a word joins the previous candidate, exactly as
    the reference does (even across a ``[SEP]``, which itself stays out); the first non-special
    piece always starts one. Returns ``(candidates, token_boundary)``: 0/1 per position.
    The boundary holds everything the candidates need: ``make_candidates(ids, boundary)`` gives
    the same candidates again (what the loader's dynamic masking relies on).
    """
    if len(input_ids) != len(word_starts):
        raise ValueError(f"{len(input_ids)} ids but {len(word_starts)} word-start flags")
    special = special_ids if isinstance(special_ids, (set, frozenset)) else frozenset(special_ids)
    boundary = [1 if s or t in special else 0 for t, s in zip(input_ids, word_starts, strict=True)]
    positions = [i for i, t in enumerate(input_ids) if t not in special]
    if whole_word:
        begins = [j for j, i in enumerate(positions) if word_starts[i]]
        if positions and (not begins or begins[0] != 0):
            begins.insert(0, 0)
    else:
        begins = list(range(len(positions)))
    begins.append(len(positions))
    return Candidates(positions, begins), boundary


def mask_ngrams(
    input_ids: Sequence[int],
    candidates: Candidates,
    *,
    num_to_predict: int,
    ngram: int,
    pvals: np.ndarray,
    mask_id: int,
    vocab_size: int,
    rng: np.random.Generator,
) -> MaskedSequence:
    """Choose whole-word n-grams to mask and apply 80/10/10 (docs/reference.md §2 steps 10-11).

    Every candidate start offers the slices ``candidates[i:i+n]`` for n = 1..ngram (shorter near
    the end); the starts are shuffled and visited in turn. For each, n is drawn from ``pvals``;
    if that n-gram would overshoot ``num_to_predict``, shorter ones are tried, else it is
    skipped; an n-gram touching an already-masked position is skipped.
    """
    assert len(pvals) == ngram, (len(pvals), ngram)
    count = len(candidates)
    # The reference builds every start's 1..ngram slices up front, then shuffles the starts;
    # shuffling the start indices and slicing on demand visits the same n-grams in the same order.
    order = rng.permutation(count).tolist()
    # All uniforms are drawn up front in three vector calls (scalar Generator calls cost ~1 µs
    # each): one per visited start for n (inverse CDF, the law of ``rng.choice(p=pvals)``), and
    # per masked position one for 80% [MASK], one for keep-vs-random and one random id.
    cumulative = _cumulative(pvals)
    n_draws = rng.random(count).tolist()
    # (num_to_predict, 2) uniforms, drawn flat: the same stream, without the cost of a size tuple.
    kind_draws = rng.random(2 * num_to_predict).tolist()
    random_ids = rng.integers(0, vocab_size, num_to_predict).tolist()
    positions, starts = candidates
    taken = bytearray(count)  # words already masked: an n-gram is a run of words, so overlap is per word
    output = list(input_ids)
    masked: list[int] = []  # positions in the order they are masked: draw j belongs to the j-th
    room = num_to_predict
    for visit, k in enumerate(order):
        if room <= 0:
            break
        end = k + 1 + bisect.bisect_right(cumulative, n_draws[visit])  # k + n (ngram_from_uniform)
        if end > k + ngram:
            end = k + ngram
        if end > count:
            end = count
        # Fall back to shorter n-grams while this one would exceed the budget (reference loop).
        while starts[end] - starts[k] > room and end - k > 1:
            end -= 1
        size = starts[end] - starts[k]
        if size > room or 1 in taken[k:end]:
            continue
        taken[k:end] = b"\x01" * (end - k)
        masked.extend(positions[starts[k] : starts[end]])
        room -= size
    for j, pos in enumerate(masked):
        if kind_draws[2 * j] < 0.8:
            output[pos] = mask_id
        elif kind_draws[2 * j + 1] >= 0.5:
            # 10%: uniform over the whole vocabulary, special ids included (as the reference);
            # the other 10% keep the original piece.
            output[pos] = random_ids[j]
    masked.sort()
    return MaskedSequence(output, masked, [input_ids[p] for p in masked])


@dataclass(frozen=True, kw_only=True)
class MaskingSpec:
    """Everything whole-word n-gram masking needs, as make-data's options and the vocabulary set it.

    make-data writes it into the manifest (``masking.spec``), so ``pretrain --masking dynamic``
    masks rows in the loader with exactly the settings make-data would have used.
    """

    masked_lm_prob: float
    max_predictions: int
    ngram: int
    whole_word: bool
    favor_shorter_ngram: bool
    vocab_size: int
    mask_id: int
    special_ids: tuple[int, ...]
    """``[CLS]``, ``[SEP]`` and pad: never masked."""

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "special_ids": list(self.special_ids)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MaskingSpec:
        return cls(**{**data, "special_ids": tuple(int(i) for i in data["special_ids"])})


@functools.lru_cache(maxsize=8)
def _ngram_law(ngram: int, favor_shorter: bool) -> np.ndarray:
    return ngram_probs(ngram, favor_shorter=favor_shorter)  # read-only below; one law per build


def mask_whole_words(
    input_ids: Sequence[int], candidates: Candidates, spec: MaskingSpec, rng: np.random.Generator
) -> MaskedSequence:
    """Mask one sequence: the budget from its length, then :func:`mask_ngrams` with ``spec``.

    The one masking step of both make-data (static masks) and the loader (dynamic masks).
    """
    return mask_ngrams(
        input_ids,
        candidates,
        num_to_predict=num_to_predict(len(input_ids), spec.masked_lm_prob, spec.max_predictions),
        ngram=spec.ngram,
        pvals=_ngram_law(spec.ngram, spec.favor_shorter_ngram),
        mask_id=spec.mask_id,
        vocab_size=spec.vocab_size,
        rng=rng,
    )


def mask_row(
    input_ids: Sequence[int], token_boundary: Sequence[int], spec: MaskingSpec, rng: np.random.Generator
) -> MaskedSequence:
    """Mask an unmasked shard row from its ids and ``token_boundary`` (dynamic masking).

    The boundary is 1 exactly where make-data's word starts were (and at special ids), so the
    candidates, and with the same ``rng`` the masks, are the ones make-data would have made.
    """
    candidates, _ = make_candidates(
        input_ids, token_boundary, special_ids=frozenset(spec.special_ids), whole_word=spec.whole_word
    )
    return mask_whole_words(input_ids, candidates, spec, rng)
