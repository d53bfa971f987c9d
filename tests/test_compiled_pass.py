"""The compiled make-data pass (``albertctl/data/_instances.c``) against the Python one it mirrors.

Same documents, same options, same seeded ``Generator``: the same columns, and the generator left
in the same state (so the shard shuffle after the pass, and every later pass, agree too).
"""

from __future__ import annotations

import os
import shutil
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_data_golden import BASE

from albertctl import native
from albertctl.data import columns
from albertctl.data.columns import InstanceColumns, TokenizedGroup, build_pass
from albertctl.data.sop import SINGLE_SEGMENT_POLICIES, InstanceOptions, Segment

needs_compiled = pytest.mark.skipif(columns._instances is None, reason="the compiled pass is not built")
VOCAB = 50  # ids 0-4 are special: pad 0, cls 2, sep 3, mask 4


def options(**changes) -> InstanceOptions:
    """The golden test's options (same special ids), shorter and over a smaller vocabulary."""
    return InstanceOptions(
        **{**BASE, "max_seq_length": 24, "max_predictions": 6, "vocab_size": VOCAB, **changes}
    )


def both(group: TokenizedGroup, opts: InstanceOptions, seed: int, monkeypatch) -> tuple:
    """(python columns, python next draw, compiled columns, compiled next draw)."""
    results = []
    for flag in ("1", "0"):
        monkeypatch.setattr(native, "PURE_PYTHON", flag == "1")
        rng = np.random.default_rng(seed)
        results += [build_pass(group, opts, rng), rng.integers(0, 2**62)]
    return tuple(results)


def assert_equal(a: InstanceColumns, b: InstanceColumns) -> None:
    for field in InstanceColumns.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Makefile's install is checked on Linux")
def test_the_install_built_the_compiled_pass_where_a_compiler_is() -> None:
    """setup.py marks the extensions optional: a failed build must not pass unnoticed here."""
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler: the pure-Python pass is the one installed")
    from albertctl.vocab import normalize

    assert columns._instances is not None
    assert normalize._compiled is not None
    assert columns.backend() in ("compiled", "python")  # python only when ALBERTCTL_PURE_PYTHON says so


@pytest.mark.parametrize(("value", "python"), [("1", True), ("0", False), ("", False)])
def test_the_environment_variable_selects_the_python_pass(value: str, python: bool) -> None:
    """ALBERTCTL_PURE_PYTHON, as a process starts, picks the pass and the normalizer's check."""
    import subprocess

    probe = (
        "from albertctl.data import columns\n"
        "from albertctl.vocab import normalize\n"
        "print(columns.backend(), normalize._compiled is not None and normalize.compiled_allowed())\n"
    )
    env = {**os.environ, native.PURE_PYTHON_ENV: value}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    built = columns._instances is not None
    assert out.stdout.split() == ["python" if python or not built else "compiled", str(not python and built)]


documents_strategy = st.lists(
    st.lists(
        st.lists(st.tuples(st.integers(0, VOCAB - 1), st.booleans()), min_size=0, max_size=30),
        min_size=0,
        max_size=5,
    ),
    min_size=1,
    max_size=6,
)


@needs_compiled
@settings(max_examples=150, deadline=None)
@given(
    docs=documents_strategy,
    max_seq_length=st.integers(5, 40),
    max_predictions=st.integers(1, 8),
    masked_lm_prob=st.sampled_from([0.0, 0.15, 0.5, 1.0]),
    short_seq_prob=st.sampled_from([0.0, 0.3, 1.0]),
    ngram=st.integers(1, 4),
    whole_word=st.booleans(),
    favor_shorter=st.booleans(),
    policy=st.sampled_from(SINGLE_SEGMENT_POLICIES),
    seed=st.integers(0, 2**32 - 1),
)
def test_compiled_equals_python_on_any_group(
    docs, max_seq_length, max_predictions, masked_lm_prob, short_seq_prob, ngram, whole_word, favor_shorter,
    policy, seed,
) -> None:  # fmt: skip
    """Any text (special ids inside it, empty segments and documents, one-piece segments), any options."""
    group = TokenizedGroup.from_documents(
        [[Segment([t for t, _ in seg], [s for _, s in seg]) for seg in doc] for doc in docs]
    )
    if group.num_documents == 0:
        return
    opts = options(
        max_seq_length=max_seq_length,
        max_predictions=max_predictions,
        masked_lm_prob=masked_lm_prob,
        short_seq_prob=short_seq_prob,
        ngram=ngram,
        whole_word=whole_word,
        favor_shorter_ngram=favor_shorter,
        single_segment=policy,
    )
    with pytest.MonkeyPatch.context() as monkeypatch:
        python, python_next, compiled, compiled_next = both(group, opts, seed, monkeypatch)
    assert_equal(python, compiled)
    assert python_next == compiled_next


@needs_compiled
def test_compiled_equals_python_on_long_documents(monkeypatch) -> None:
    """Long segments (truncation of hundreds of tokens), many masks, seq 512 and 20 predictions."""
    rng = np.random.default_rng(3)
    docs = [
        [Segment(rng.integers(5, 30000, n).tolist(), (rng.random(n) < 0.6).tolist()) for n in lengths]
        for lengths in rng.integers(1, 900, (30, 4))
    ]
    group = TokenizedGroup.from_documents(docs)
    for policy in SINGLE_SEGMENT_POLICIES:
        opts = options(max_seq_length=512, max_predictions=20, vocab_size=30000, single_segment=policy)
        python, python_next, compiled, compiled_next = both(group, opts, 12345, monkeypatch)
        assert len(python) > 30
        assert_equal(python, compiled)
        assert python_next == compiled_next


def test_groups_drop_empty_segments_and_documents() -> None:
    docs = [[Segment([], [])], [Segment([7, 8], [True, False]), Segment([], []), Segment([9], [True])], []]
    group = TokenizedGroup.from_documents(docs)
    assert group.num_documents == 1 and group.num_segments == 2
    assert group.documents() == [[Segment([7, 8], [True, False]), Segment([9], [True])]]
    assert group.segment_lengths().tolist() == [2, 1]


@pytest.mark.parametrize("flag", ["0", "1"])
def test_take_reorders_whole_rows(flag: str, monkeypatch) -> None:
    monkeypatch.setattr(native, "PURE_PYTHON", flag == "1")
    group = TokenizedGroup.from_documents(
        [[Segment(list(range(5, 5 + n)), [True] * n) for n in (3, 9, 4, 12)] for _ in range(5)]
    )
    instances = build_pass(group, options(), np.random.default_rng(1))
    order = np.random.default_rng(2).permutation(len(instances))
    rows = instances.rows()
    taken = instances.take(order)
    assert taken.rows() == [rows[i] for i in order]
    assert [c.dtype for c in vars(taken).values()] == [c.dtype for c in vars(instances).values()]
    assert InstanceColumns.from_instances(rows).rows() == rows


def test_compiled_take_refuses_rows_out_of_range() -> None:
    if columns._instances is None:
        pytest.skip("the compiled pass is not built")
    instances = build_pass(
        TokenizedGroup.from_documents([[Segment([5, 6, 7], [True] * 3), Segment([8, 9], [True] * 2)]] * 3),
        options(),
        np.random.default_rng(1),
    )
    with pytest.raises(ValueError, match="out of range"):
        instances.take(np.full(len(instances), len(instances), dtype=np.int64))


@pytest.mark.parametrize("flag", ["0", "1"])
def test_flatten_ids_gives_flat_ids_and_lengths(flag: str, monkeypatch) -> None:
    monkeypatch.setattr(native, "PURE_PYTHON", flag == "1")
    ids, lengths = columns.flatten_ids([[5, 2**31 - 1], [], [0, 7, 9]])
    assert ids.dtype == np.int32 and ids.tolist() == [5, 2**31 - 1, 0, 7, 9]
    assert lengths.dtype == np.int64 and lengths.tolist() == [2, 0, 3]
    with pytest.raises(OverflowError):
        columns.flatten_ids([[1, 2**31]])


@needs_compiled
@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(
        st.lists(st.tuples(st.integers(0, VOCAB - 1), st.booleans()), min_size=0, max_size=40),
        min_size=1,
        max_size=6,
    ),
    max_predictions=st.integers(1, 8),
    masked_lm_prob=st.sampled_from([0.05, 0.15, 0.5, 1.0]),
    ngram=st.integers(1, 4),
    whole_word=st.booleans(),
    favor_shorter=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_compiled_mask_rows_equal_mask_row(
    rows, max_predictions, masked_lm_prob, ngram, whole_word, favor_shorter, seed
) -> None:
    """The loader's dynamic masks: each row from its own generator, compiled as in Python."""
    from albertctl.data.masking import MaskingSpec, mask_row

    spec = MaskingSpec(
        masked_lm_prob=masked_lm_prob,
        max_predictions=max_predictions,
        ngram=ngram,
        whole_word=whole_word,
        favor_shorter_ngram=favor_shorter,
        vocab_size=VOCAB,
        mask_id=4,
        special_ids=(2, 3, 0),
    )
    ids = [np.array([t for t, _ in row], dtype=np.int64) for row in rows]
    boundaries = [np.array([int(b) for _, b in row], dtype=np.uint8) for row in rows]
    expected_rngs = [np.random.default_rng([seed, r]) for r in range(len(rows))]
    expected = [
        mask_row(i.tolist(), b.tolist(), spec, g)
        for i, b, g in zip(ids, boundaries, expected_rngs, strict=True)
    ]
    rngs = [np.random.default_rng([seed, r]) for r in range(len(rows))]
    assert columns.mask_rows(ids, boundaries, spec, rngs) == expected
    assert [g.random() for g in rngs] == [g.random() for g in expected_rngs]
