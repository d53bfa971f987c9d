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
from collections.abc import Collection, Sequence
from dataclasses import dataclass

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
) -> tuple[list[list[int]], list[int]]:
    """Group positions into maskable candidates (whole words) and compute ``token_boundary``.

    Special ids (``[CLS]``, ``[SEP]``, pad) are never candidates and get boundary 1. With
    ``whole_word``, a piece that does not start a word joins the previous candidate, exactly as
    the reference does (even across a ``[SEP]``, which itself stays out). Returns
    ``(candidates, token_boundary)``: lists of positions, and 0/1 per position.
    """
    if len(input_ids) != len(word_starts):
        raise ValueError(f"{len(input_ids)} ids but {len(word_starts)} word-start flags")
    special = special_ids if isinstance(special_ids, (set, frozenset)) else frozenset(special_ids)
    candidates: list[list[int]] = []
    boundary = [0] * len(input_ids)
    current: list[int] | None = None  # the candidate a non-start piece joins
    for i, token in enumerate(input_ids):
        if token in special:
            boundary[i] = 1
            continue
        if word_starts[i]:
            boundary[i] = 1
        elif whole_word and current is not None:
            current.append(i)
            continue
        current = [i]
        candidates.append(current)
    return candidates, boundary


def mask_ngrams(
    input_ids: Sequence[int],
    candidates: Sequence[list[int]],
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
    output = list(input_ids)
    # The reference builds every start's 1..ngram slices up front, then shuffles the starts;
    # shuffling the start indices and slicing on demand visits the same n-grams in the same order.
    order = rng.permutation(len(candidates)).tolist()
    # All uniforms are drawn up front in three vector calls (scalar Generator calls cost ~1 µs
    # each): one per visited start for n (inverse CDF, the law of ``rng.choice(p=pvals)``), and
    # per masked position one for 80% [MASK], one for keep-vs-random and one random id.
    cumulative = _cumulative(pvals)
    n_draws = rng.random(len(order)).tolist()
    kind_draws = rng.random((num_to_predict, 2)).tolist()
    random_ids = rng.integers(0, vocab_size, num_to_predict).tolist()
    covered: set[int] = set()
    labels: dict[int, int] = {}
    for visit, k in enumerate(order):
        if len(labels) >= num_to_predict:
            break
        n = ngram_from_uniform(cumulative, n_draws[visit])
        index_set = candidates[k] if n == 1 else [pos for word in candidates[k : k + n] for pos in word]
        # Fall back to shorter n-grams while this one would exceed the budget (reference loop).
        while len(labels) + len(index_set) > num_to_predict and n > 1:
            n -= 1
            index_set = [pos for word in candidates[k : k + n] for pos in word]
        if len(labels) + len(index_set) > num_to_predict:
            continue
        if not covered.isdisjoint(index_set):
            continue
        for pos in index_set:
            covered.add(pos)
            to_mask, to_keep = kind_draws[len(labels)]
            if to_mask < 0.8:
                output[pos] = mask_id
            elif to_keep < 0.5:
                pass  # 10%: keep the original piece
            else:
                # 10%: uniform over the whole vocabulary, special ids included (as the reference).
                output[pos] = random_ids[len(labels)]
            labels[pos] = input_ids[pos]
    positions = sorted(labels)
    return MaskedSequence(output, positions, [labels[p] for p in positions])
