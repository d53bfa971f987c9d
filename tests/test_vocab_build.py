"""Tests for albertctl.vocab.build: id layout, output layout, sampling, determinism, errors."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from albertctl.errors import AlbertctlError
from albertctl.vocab import REFERENCE_USER_SYMBOLS, BuildVocabConfig, build_vocab, load_tokenizer
from albertctl.vocab.build import reservoir_sample


def test_id_layout_matches_the_released_models(tiny_vocab: Path) -> None:
    tok = load_tokenizer(tiny_vocab)
    pieces = [tok.id_to_piece(i) for i in range(13)]
    assert pieces[:5] == ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]
    # The CSV pitfall would merge the symbols after "-" into one piece; they must stay separate.
    assert tuple(pieces[5:13]) == REFERENCE_USER_SYMBOLS
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 1, 2, 3, 4)
    assert tok.vocab_size == 1000
    # No BOS/EOS pieces.
    assert tok.piece_to_id("<s>") == tok.unk_id and tok.piece_to_id("</s>") == tok.unk_id


def test_output_layout_and_manifest(tiny_vocab: Path, tiny_corpus: Path) -> None:
    assert sorted(p.name for p in tiny_vocab.iterdir()) == [
        "manifest.json",
        "spiece.model",
        "spiece.vocab",
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab_config.json",
    ]
    vocab_lines = (tiny_vocab / "spiece.vocab").read_text(encoding="utf-8").splitlines()
    assert len(vocab_lines) == 1000 and vocab_lines[2].split("\t")[0] == "[CLS]"
    config = json.loads((tiny_vocab / "vocab_config.json").read_text(encoding="utf-8"))
    assert config["normalization"] == {
        "lower": True,
        "keep_accents": False,
        "remove_space": True,
        "map_quotes": True,
        "digit_comma_fix": True,
    }
    manifest = json.loads((tiny_vocab / "manifest.json").read_text(encoding="utf-8"))
    tok = load_tokenizer(tiny_vocab)
    assert manifest["model_sha256"] == tok.fingerprint()
    assert manifest["config"]["vocab_size"] == 1000 and manifest["config"]["seed"] == 0
    lines = [line for line in tiny_corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert manifest["counts"]["lines"] == len(lines) == manifest["counts"]["sampled_lines"]
    assert manifest["inputs"][0]["bytes"] == tiny_corpus.stat().st_size
    assert len(manifest["inputs"][0]["sha256"]) == 64


def test_same_seed_same_model(tiny_corpus: Path, tmp_path: Path) -> None:
    config = BuildVocabConfig(vocab_size=300, seed=7, input_sentence_size=500)
    build_vocab([tiny_corpus], tmp_path / "a", config)
    build_vocab([tiny_corpus], tmp_path / "b", config)
    assert (tmp_path / "a" / "spiece.model").read_bytes() == (tmp_path / "b" / "spiece.model").read_bytes()
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["sampled_lines"] == 500


def test_reservoir_keeps_everything_when_small() -> None:
    rng = np.random.default_rng(0)
    assert reservoir_sample(iter(["a", "b", "c"]), 5, rng) == ["a", "b", "c"]


def test_reservoir_is_seeded_bounded_and_uniform() -> None:
    items = [str(i) for i in range(2000)]
    first = reservoir_sample(iter(items), 100, np.random.default_rng(1))
    assert first == reservoir_sample(iter(items), 100, np.random.default_rng(1))
    assert first != reservoir_sample(iter(items), 100, np.random.default_rng(2))
    assert len(first) == 100 == len(set(first))
    # Each item is kept with probability k/n = 0.05: over 400 seeds, every tenth of the stream
    # gets ~10% of the picks (4000 of 40000); a biased sampler (say, favouring the tail) fails.
    picks: Counter[int] = Counter()
    for seed in range(400):
        for item in reservoir_sample(iter(items), 100, np.random.default_rng(seed)):
            picks[int(item) // 200] += 1
    assert all(3700 < picks[decile] < 4300 for decile in range(10)), picks


def test_normalization_is_applied_at_training(tmp_path: Path) -> None:
    corpus = tmp_path / "c.txt"
    words = "Café RÉSUMÉ Naïve ``Quoted'' Élan Über Alpha Beta Gamma Delta Epsilon Zeta Theta".split()
    lines = [" ".join(words[(i * 7 + j) % len(words)] for j in range(i % 5 + 2)) for i in range(300)]
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    build_vocab([corpus], tmp_path / "lower", BuildVocabConfig(vocab_size=36, user_symbols=()))
    lines = (tmp_path / "lower" / "spiece.vocab").read_text(encoding="utf-8").splitlines()
    pieces = "".join(line.split("\t")[0] for line in lines[5:])  # after <pad> <unk> [CLS] [SEP] [MASK]
    assert not any(c.isupper() for c in pieces) and "é" not in pieces and "`" not in pieces
    build_vocab([corpus], tmp_path / "cased", BuildVocabConfig(vocab_size=45, user_symbols=(), lower=False))
    tok = load_tokenizer(tmp_path / "cased")
    assert tok.normalization.lower is False
    assert any(c.isupper() for c in "".join(tok.tokenize("Café RÉSUMÉ")))


def test_user_symbols_option(tiny_corpus: Path, tmp_path: Path) -> None:
    build_vocab([tiny_corpus], tmp_path / "v", BuildVocabConfig(vocab_size=300, user_symbols=("@@", ",")))
    tok = load_tokenizer(tmp_path / "v")
    assert [tok.id_to_piece(i) for i in (5, 6)] == ["@@", ","]
    assert "@@" in tok.tokenize("a@@b")


def test_bpe_model_type(tiny_corpus: Path, tmp_path: Path) -> None:
    build_vocab([tiny_corpus], tmp_path / "v", BuildVocabConfig(vocab_size=400, model_type="bpe"))
    tok = load_tokenizer(tmp_path / "v")
    assert tok.vocab_size == 400 and tok.id_to_piece(4) == "[MASK]"


def test_empty_corpus_is_an_error_and_writes_nothing(tmp_path: Path) -> None:
    corpus = tmp_path / "empty.txt"
    corpus.write_text("\n  \n\n", encoding="utf-8")
    with pytest.raises(AlbertctlError, match="the corpus is empty"):
        build_vocab([corpus], tmp_path / "out", BuildVocabConfig(vocab_size=100))
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["empty.txt"]


def test_too_large_vocab_names_the_largest_that_works(tiny_corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(AlbertctlError, match=r"largest that works is --vocab-size (\d+)") as info:
        build_vocab([tiny_corpus], tmp_path / "out", BuildVocabConfig(vocab_size=50_000))
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == []
    largest = int(str(info.value).split("--vocab-size ")[1].split(",")[0])
    report = build_vocab([tiny_corpus], tmp_path / "out", BuildVocabConfig(vocab_size=largest))
    assert report.vocab_size == largest


def test_existing_output_needs_overwrite(tiny_corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious", encoding="utf-8")
    config = BuildVocabConfig(vocab_size=200)
    with pytest.raises(AlbertctlError, match="already exists"):
        build_vocab([tiny_corpus], out, config)
    assert (out / "keep.txt").read_text(encoding="utf-8") == "precious"
    build_vocab([tiny_corpus], out, config, overwrite=True)
    assert (out / "spiece.model").is_file() and not (out / "keep.txt").exists()


def test_non_utf8_corpus(tiny_corpus: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(tiny_corpus.read_bytes() + b"caf\xe9 latin-1 line\n")
    with pytest.raises(
        AlbertctlError, match=r"bad\.txt is not UTF-8 text: invalid byte 0xe9 at byte offset \d+"
    ):
        build_vocab([bad], tmp_path / "out", BuildVocabConfig(vocab_size=200))
    report = build_vocab([bad], tmp_path / "out", BuildVocabConfig(vocab_size=200, errors="skip"))
    assert report.skipped_lines == 1
    assert (
        json.loads((tmp_path / "out" / "manifest.json").read_text())["counts"]["skipped_non_utf8_lines"] == 1
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vocab_size": 10}, "vocab_size must be an integer > 13"),
        ({"model_type": "wordpiece"}, "model_type must be 'unigram' or 'bpe', got 'wordpiece'"),
        ({"character_coverage": 1.5}, r"character_coverage must be in \(0, 1\], got 1.5"),
        ({"input_sentence_size": 0}, "input_sentence_size must be >= 1, got 0"),
        ({"threads": 0}, "threads must be >= 1"),
        ({"errors": "ignore"}, "errors must be 'strict' or 'skip'"),
        ({"user_symbols": ("[CLS]",)}, "must not repeat a special token"),
        ({"user_symbols": ("a b",)}, "hold no spaces"),
        ({"user_symbols": ("x", "x")}, "duplicates"),
    ],
)
def test_config_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(AlbertctlError, match=message):
        BuildVocabConfig(**kwargs)
