"""SOP pairing (albertctl.data.sop) pinned on hand-made documents of id lists."""

from __future__ import annotations

import numpy as np
import pytest

from albertctl.data.sop import (
    InstanceOptions,
    Segment,
    chunk_segments,
    create_instances_from_document,
    draw_a_end,
    draw_target_length,
    make_sop_pair,
    split_segment,
    truncate_pair,
)

CLS, SEP, PAD, MASK = 2, 3, 0, 4


def seg(ids: list[int], starts: list[bool] | None = None) -> Segment:
    return Segment(list(ids), list(starts) if starts is not None else [True] * len(ids))


def options(**overrides) -> InstanceOptions:
    values = dict(
        max_seq_length=32, max_predictions=5, masked_lm_prob=0.15, short_seq_prob=0.0, ngram=3,
        whole_word=True, favor_shorter_ngram=True, single_segment="split", vocab_size=5000,
        cls_id=CLS, sep_id=SEP, pad_id=PAD, mask_id=MASK,
    )  # fmt: skip
    values.update(overrides)
    return InstanceOptions(**values)


def test_target_length() -> None:
    rng = np.random.default_rng(0)
    assert all(draw_target_length(100, 0.0, rng) == 100 for _ in range(50))
    short = [draw_target_length(100, 1.0, rng) for _ in range(2000)]
    assert min(short) == 2 and max(short) == 100
    rate = np.mean([draw_target_length(100, 0.1, rng) < 100 for _ in range(20_000)])
    assert abs(rate - 0.1 * 98 / 99) < 0.01


def test_chunk_segments() -> None:
    assert chunk_segments([3, 4, 6, 1], 6) == [(0, 2), (2, 3), (3, 4)]
    assert chunk_segments([3, 4, 5, 1], 6) == [(0, 2), (2, 4)]
    assert chunk_segments([10], 6) == [(0, 1)]
    assert chunk_segments([1, 1, 1], 100) == [(0, 3)]
    assert chunk_segments([], 6) == []


def test_a_end_range() -> None:
    rng = np.random.default_rng(1)
    assert draw_a_end(1, rng) == 1
    assert {draw_a_end(4, rng) for _ in range(500)} == {1, 2, 3}


def test_sop_swap_rate_and_label_convention() -> None:
    rng = np.random.default_rng(2)
    a, b = seg([10, 11]), seg([20])
    labels = []
    for _ in range(10_000):
        first, second, label = make_sop_pair(a, b, rng)
        assert (first, second) == ((a, b) if label == 0 else (b, a))
        labels.append(label)
    assert abs(np.mean(labels) - 0.5) < 0.02


def test_truncation_cuts_the_longer_side_from_both_ends() -> None:
    rng = np.random.default_rng(3)
    a, b = seg(list(range(100, 120))), seg(list(range(200, 205)))
    fronts = backs = 0
    for _ in range(300):
        ta, tb = truncate_pair(a, b, 15, rng)
        assert len(ta.ids) + len(tb.ids) == 15
        assert tb == b  # B is shorter all along: only A is cut
        start = ta.ids[0] - 100
        assert ta.ids == list(range(100 + start, 100 + start + 10))  # a contiguous slice
        fronts += start > 0
        backs += ta.ids[-1] < 119
    assert fronts > 250 and backs > 250
    # A tie cuts B; no cut when it fits.
    ta, tb = truncate_pair(seg([1, 2]), seg([3, 4]), 3, rng)
    assert len(ta.ids) == 2 and len(tb.ids) == 1
    assert truncate_pair(a, b, 25, rng) == (a, b)


def test_split_segment_at_word_starts() -> None:
    rng = np.random.default_rng(4)
    s = seg([1, 2, 3, 4, 5], [True, False, False, True, False])
    for _ in range(50):
        a, b = split_segment(s, rng)
        assert a.ids == [1, 2, 3] and b.ids == [4, 5]
    assert split_segment(seg([7]), rng) is None
    cuts = {len(split_segment(seg([1, 2, 3], [True, False, False]), rng)[0].ids) for _ in range(100)}
    assert cuts == {1, 2}  # no word start: any piece boundary


def _check_structure(inst, opts: InstanceOptions) -> tuple[list[int], list[int]]:
    ids = list(inst.input_ids)
    for p, original in zip(inst.masked_lm_positions, inst.masked_lm_ids, strict=True):
        ids[p] = original
    assert len(ids) <= opts.max_seq_length
    assert ids[0] == CLS and ids[-1] == SEP
    sep = ids.index(SEP)
    assert inst.token_type_ids == [0] * (sep + 1) + [1] * (len(ids) - sep - 1)
    assert inst.token_boundary[0] == inst.token_boundary[sep] == inst.token_boundary[-1] == 1
    assert 1 <= len(inst.masked_lm_positions) <= opts.max_predictions
    return ids[1:sep], ids[sep + 1 : -1]


def test_instances_label_1_iff_swapped() -> None:
    # Ids increase along the document, so "in order" means every A id < every B id.
    document = [seg(list(range(100 * k + 10, 100 * k + 10 + 6))) for k in range(12)]
    opts = options()
    rng = np.random.default_rng(5)
    labels = []
    for _ in range(200):
        for inst in create_instances_from_document([document], 0, options=opts, rng=rng):
            a, b = _check_structure(inst, opts)
            assert (max(a) < min(b)) == (inst.sentence_order_label == 0)
            labels.append(inst.sentence_order_label)
    assert abs(np.mean(labels) - 0.5) < 0.05


def test_long_line_is_truncated_to_the_sequence() -> None:
    document = [seg(list(range(10, 500))), seg(list(range(500, 900)))]
    opts = options(max_seq_length=16)
    insts = create_instances_from_document([document], 0, options=opts, rng=np.random.default_rng(6))
    assert insts and all(len(i.input_ids) == 16 for i in insts)


@pytest.mark.parametrize("policy", ["reference", "split", "drop"])
def test_single_segment_policies(policy: str) -> None:
    doc0 = [seg(list(range(10, 60)))]  # one long segment: a single-segment chunk
    doc1 = [seg(list(range(1000, 1010))), seg(list(range(1010, 1020)))]
    opts = options(single_segment=policy)
    rng = np.random.default_rng(7)
    labels = []
    for _ in range(100):
        insts = create_instances_from_document([doc0, doc1], 0, options=opts, rng=rng)
        if policy == "drop":
            assert insts == []
            continue
        for inst in insts:
            a, b = _check_structure(inst, opts)
            labels.append(inst.sentence_order_label)
            if policy == "reference":
                assert max(a) < 60 and min(b) >= 1000  # B comes from the other document
            else:
                assert max(b) < 60 and max(a) < 60
                assert (max(a) < min(b)) == (inst.sentence_order_label == 0)
    if policy == "reference":
        assert set(labels) == {1}
    elif policy == "split":
        assert abs(np.mean(labels) - 0.5) < 0.1
