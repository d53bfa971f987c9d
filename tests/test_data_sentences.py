"""Sentence splitting for ``make-data --split-sentences``."""

from __future__ import annotations

import pytest

from albertctl.data.sentences import make_sentence_splitter, split_cjk
from albertctl.errors import AlbertctlError


def test_cjk_stops_always_split() -> None:
    assert split_cjk("他来了。你好吗？“好！”再见") == ["他来了。", "你好吗？", "“好！”", "再见"]
    assert split_cjk("no stop here") == ["no stop here"]
    assert split_cjk("。。") == ["。", "。"]


def test_regex_baseline_splits_and_keeps_cjk_rule() -> None:
    split = make_sentence_splitter("regex")
    # The baseline splits only before an upper-case letter or digit; the CJK rule still applies.
    expected = ["It rained.", "We stayed in! 他来了。", "你好"]
    assert split("It rained. We stayed in! 他来了。你好") == expected


def test_sentencex_handles_abbreviations() -> None:
    pytest.importorskip("sentencex")
    split = make_sentence_splitter("sentencex")
    assert split("Mr. Smith went to Washington. He arrived at noon.") == [
        "Mr. Smith went to Washington.",
        "He arrived at noon.",
    ]


def test_unknown_backend_is_a_clear_error() -> None:
    with pytest.raises(AlbertctlError, match="unknown sentence splitter"):
        make_sentence_splitter("nope")


def test_split_sentences_build(tiny_corpus, tiny_vocab, tmp_path) -> None:
    pytest.importorskip("sentencex")
    from albertctl.data.build import MakeDataConfig, build_pretraining_data

    common = dict(max_seq_length=64, dupe_factor=1, shard_size_mb=0.05)
    plain = build_pretraining_data([tiny_corpus], tiny_vocab, tmp_path / "a", MakeDataConfig(**common))
    split = build_pretraining_data(
        [tiny_corpus], tiny_vocab, tmp_path / "b", MakeDataConfig(split_sentences=True, **common)
    )
    assert split.manifest["totals"]["segments"] > plain.manifest["totals"]["segments"]
