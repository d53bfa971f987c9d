"""Whole-word n-gram masking (albertctl.data.masking) pinned on hand-made id lists."""

from __future__ import annotations

import numpy as np
import pytest

from albertctl.data.masking import (
    draw_ngram,
    make_candidates,
    mask_ngrams,
    ngram_probs,
    num_to_predict,
)

CLS, SEP, PAD, MASK = 2, 3, 0, 4
SPECIAL = (CLS, SEP, PAD)


def test_ngram_probs_are_inverse_n() -> None:
    np.testing.assert_allclose(ngram_probs(3), [6 / 11, 3 / 11, 2 / 11])
    np.testing.assert_allclose(ngram_probs(3, favor_shorter=False), [2 / 11, 3 / 11, 6 / 11])


def test_draw_ngram_follows_inverse_n_law() -> None:
    rng = np.random.default_rng(0)
    cumulative = np.cumsum(ngram_probs(3)).tolist()
    draws = np.array([draw_ngram(cumulative, rng) for _ in range(30_000)])
    freq = np.bincount(draws, minlength=4)[1:] / len(draws)
    np.testing.assert_allclose(freq, [6 / 11, 3 / 11, 2 / 11], atol=0.012)


@pytest.mark.parametrize(
    ("length", "expected"), [(512, 20), (10, 2), (5, 1), (1, 1), (30, 4), (100, 15), (101, 15)]
)
def test_num_to_predict(length: int, expected: int) -> None:
    assert num_to_predict(length, 0.15, 20) == expected


def test_candidates_whole_word_and_boundary() -> None:
    ids = [CLS, 10, 11, 12, SEP, 13, 14, SEP]
    starts = [True, True, False, True, True, False, True, True]
    cands, boundary = make_candidates(ids, starts, special_ids=SPECIAL, whole_word=True)
    # 13 does not start a word: it joins the previous candidate across [SEP], as the reference does.
    assert cands.groups() == [[1, 2], [3, 5], [6]]
    assert boundary == [1, 1, 0, 1, 1, 0, 1, 1]
    cands, boundary = make_candidates(ids, starts, special_ids=SPECIAL, whole_word=False)
    assert cands.groups() == [[1], [2], [3], [5], [6]]
    assert boundary == [1, 1, 0, 1, 1, 0, 1, 1]
    # A non-start piece right after [CLS] still starts the first word; the boundary alone
    # gives the same words again (what dynamic masking rebuilds them from).
    starts = [True, False, False, True, True, False, True, True]
    cands, boundary = make_candidates(ids, starts, special_ids=SPECIAL, whole_word=True)
    assert cands.groups() == [[1, 2], [3, 5], [6]]
    again, _ = make_candidates(ids, [bool(b) for b in boundary], special_ids=SPECIAL, whole_word=True)
    assert again == cands


def _mask(ids, starts, k, rng, vocab_size=1000, ngram=3):
    cands, _ = make_candidates(ids, starts, special_ids=SPECIAL, whole_word=True)
    return mask_ngrams(
        ids, cands, num_to_predict=k, ngram=ngram, pvals=ngram_probs(ngram), mask_id=MASK,
        vocab_size=vocab_size, rng=rng,
    )  # fmt: skip


def test_never_masks_special_tokens_and_labels_are_originals() -> None:
    rng = np.random.default_rng(1)
    for _ in range(300):
        body = rng.integers(5, 1000, size=int(rng.integers(2, 40))).tolist()
        ids = [CLS, *body[: len(body) // 2], SEP, *body[len(body) // 2 :], SEP, PAD, PAD]
        starts = rng.random(len(ids)) < 0.6
        out = _mask(ids, starts.tolist(), num_to_predict(len(ids), 0.5, 20), rng)
        assert out.masked_lm_positions == sorted(set(out.masked_lm_positions))
        assert all(ids[p] not in SPECIAL for p in out.masked_lm_positions)
        assert out.masked_lm_ids == [ids[p] for p in out.masked_lm_positions]
        changed = [i for i, (a, b) in enumerate(zip(ids, out.input_ids, strict=True)) if a != b]
        assert set(changed) <= set(out.masked_lm_positions)
        assert len(out.masked_lm_positions) <= num_to_predict(len(ids), 0.5, 20)


def test_masks_exactly_the_budget_when_words_fit() -> None:
    rng = np.random.default_rng(2)
    ids = [CLS, *range(100, 150), SEP, *range(150, 200), SEP]
    for k in (1, 5, 20):
        out = _mask(ids, [True] * len(ids), k, rng)
        assert len(out.masked_lm_positions) == k


def test_whole_word_is_never_split() -> None:
    rng = np.random.default_rng(3)
    # One word of 3 pieces and a budget of 2: it can never be masked, even partly.
    ids = [CLS, 10, 11, 12, SEP, 13, SEP]
    starts = [True, True, False, False, True, True, True]
    for _ in range(100):
        out = _mask(ids, starts, 2, rng)
        assert set(out.masked_lm_positions) <= {5}
    # Words of 2 pieces: masked positions always come in whole pairs.
    ids = [CLS, *range(10, 50), SEP, *range(50, 90), SEP]
    starts = [True] + [i % 2 == 0 for i in range(40)] + [True] + [i % 2 == 0 for i in range(40)] + [True]
    for _ in range(100):
        out = _mask(ids, starts, 10, rng)
        words = {p if starts[p] else p - 1 for p in out.masked_lm_positions}
        assert len(out.masked_lm_positions) == 2 * len(words)


def test_ngram_spans_follow_inverse_n() -> None:
    # Budget 3 on a long run of one-piece words: the first pick is a 1-, 2- or 3-gram; a 3-gram
    # fills the budget at once, so P(three contiguous masked) ≈ P(n=3) + small chance of adjacency.
    rng = np.random.default_rng(4)
    ids = [CLS, *range(10, 410), SEP, *range(410, 810), SEP]
    runs = []
    for _ in range(3000):
        pos = _mask(ids, [True] * len(ids), 3, rng).masked_lm_positions
        runs.append(pos[2] - pos[0] == 2)
    assert abs(np.mean(runs) - 2 / 11) < 0.03


def test_80_10_10() -> None:
    rng = np.random.default_rng(5)
    ids = [CLS, *range(1000, 1400), SEP, *range(1400, 1800), SEP]
    masked = kept = replaced = 0
    for _ in range(400):
        out = _mask(ids, [True] * len(ids), 20, rng, vocab_size=30000)
        for p in out.masked_lm_positions:
            token = out.input_ids[p]
            if token == MASK:
                masked += 1
            elif token == ids[p]:
                kept += 1
            else:
                replaced += 1
    total = masked + kept + replaced
    assert total == 8000
    assert abs(masked / total - 0.8) < 0.015
    assert abs(kept / total - 0.1) < 0.012
    assert abs(replaced / total - 0.1) < 0.012


def test_same_generator_state_same_masks() -> None:
    ids = [CLS, *range(10, 60), SEP, *range(60, 110), SEP]
    a = _mask(ids, [True] * len(ids), 15, np.random.default_rng(7))
    b = _mask(ids, [True] * len(ids), 15, np.random.default_rng(7))
    assert a == b
