"""Pins the exact instances make-data writes, so a faster builder must stay byte-identical.

The digests were recorded with the pure-Python builder of issue 6 (before issue 19 vectorized it)
on synthetic documents made here: no tokenizer, no files, only the seeded numpy streams. A change
in any draw, in its order or in how a draw becomes a choice changes them. numpy's ``Generator``
streams are stable in practice but not promised across releases, hence the version range.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from upstream import describes

from albertctl import native
from albertctl.data import columns
from albertctl.data.columns import TokenizedGroup, build_pass
from albertctl.data.sop import InstanceOptions, Segment, create_instances_from_document

VOCAB = 300


def synthetic_documents(seed: int, count: int) -> list[list[Segment]]:
    """Documents of segments with ids in [5, VOCAB) (ids 0-4 are special) and ~70% word starts;
    a few segments hold a [SEP] or pad id, as text made of special pieces can."""
    rng = np.random.default_rng(seed)
    documents = []
    for _ in range(count):
        segments = []
        for _ in range(int(rng.integers(1, 9))):
            length = int(rng.integers(1, 60))
            ids = rng.integers(5, VOCAB, length)
            if rng.random() < 0.1:
                ids[int(rng.integers(0, length))] = int(rng.choice([0, 3]))
            starts = rng.random(length) < 0.7
            segments.append(Segment(ids.tolist(), starts.tolist()))
        documents.append(segments)
    return documents


def instances(options: InstanceOptions, seed: int, backend: str) -> list:
    """The instances of one pass: document by document (the specification) or one ``build_pass``."""
    documents = synthetic_documents(seed, 40)
    rng = np.random.default_rng([seed, 7])
    if backend == "per-document":
        return [
            instance
            for index in range(len(documents))
            for instance in create_instances_from_document(documents, index, options=options, rng=rng)
        ]
    return build_pass(TokenizedGroup.from_documents(documents), options, rng).rows()


def digest(rows: list) -> str:
    hasher = hashlib.sha256()
    for instance in rows:
        for column in (
            instance.input_ids,
            instance.token_type_ids,
            instance.token_boundary,
            instance.masked_lm_positions,
            instance.masked_lm_ids,
            [instance.sentence_order_label],
        ):
            hasher.update(np.asarray(column, dtype=np.int64).tobytes())
            hasher.update(b"|")
    return hasher.hexdigest()[:16]


BASE = dict(
    max_seq_length=64,
    max_predictions=10,
    masked_lm_prob=0.15,
    short_seq_prob=0.1,
    ngram=3,
    whole_word=True,
    favor_shorter_ngram=True,
    single_segment="split",
    vocab_size=VOCAB,
    cls_id=2,
    sep_id=3,
    pad_id=0,
    mask_id=4,
)
CASES = {
    "defaults": ({}, "4109452e431a3223"),
    "reference-policy": ({"single_segment": "reference"}, "5ab37356096eb7cf"),
    "drop-policy": (
        {"single_segment": "drop", "max_seq_length": 128, "max_predictions": 20},
        "453b35f0dc8fb232",
    ),
    "no-whole-word": ({"whole_word": False, "ngram": 1}, "d911f75cdad29255"),
    "favor-longer": ({"favor_shorter_ngram": False, "masked_lm_prob": 0.3}, "90e5f8127b2d10ff"),
    "no-masking": ({"masked_lm_prob": 0.0}, "5291e7ea2d595b56"),
    "short": ({"max_seq_length": 8, "short_seq_prob": 0.5}, "830e74ff514efa8a"),
}


BACKENDS = ["per-document", "python", "compiled"]


@describes("numpy", ">=1.24,<3", "Generator streams of random, integers and permutation")
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_instances_match_the_recorded_digests(case: str, backend: str, monkeypatch) -> None:
    """The Python builder document by document, the whole pass in Python, and compiled."""
    if backend == "compiled" and columns._instances is None:
        pytest.skip("the compiled pass is not built (no C compiler at install)")
    monkeypatch.setattr(native, "PURE_PYTHON", backend == "python")
    changes, expected = CASES[case]
    options = InstanceOptions(**{**BASE, **changes})
    assert digest(instances(options, seed=11, backend=backend)) == expected
