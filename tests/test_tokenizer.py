"""Tests for the Tokenizer contract (docs/design.md): ids, pairs, word starts, loading, saving."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from albertctl.errors import AlbertctlError
from albertctl.vocab import (
    EncodedPair,
    NormalizationConfig,
    SentencePieceTokenizer,
    load_tokenizer,
    normalize_text,
    reference_word_start,
    truncate_pair,
)

SAMPLE = "Hello World, the numbers 1,000,000 and well-known 3.0 Café ``quoted'' text."


def test_normalize_text_reference_steps() -> None:
    config = NormalizationConfig()
    assert normalize_text("  Ünïcödé\t\u00a0Text\n ", config) == "unicode text"
    assert normalize_text("``Quote''", config) == '"quote"'
    assert normalize_text("``Quote''", NormalizationConfig(map_quotes=False)) == "``quote''"
    assert normalize_text("Café", NormalizationConfig(lower=False, keep_accents=True)) == "Café"
    assert normalize_text("ﬁ", config) == "fi"  # NFKD compatibility decomposition


def _reference_preprocess(text: str) -> str:
    """The reference preprocess_text written plainly (whitespace, quotes, accents, lower)."""
    text = " ".join(text.strip().split()).replace("``", '"').replace("''", '"')
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
@settings(max_examples=300, deadline=None)
def test_normalize_text_equals_the_plain_reference(text: str) -> None:
    assert normalize_text(text, NormalizationConfig()) == _reference_preprocess(text)


def test_normalize_text_every_space_and_mark() -> None:
    """Exhaustive over Unicode: every whitespace character collapses, every combining mark is
    dropped (the fast paths use precomputed character classes; this checks them all)."""
    codes = range(sys.maxunicode + 1)
    for space in (chr(c) for c in codes if chr(c).isspace()):
        assert normalize_text(f"a{space}b", NormalizationConfig()) == "a b", hex(ord(space))
    marks = [chr(c) for c in codes if unicodedata.combining(chr(c))]
    bmp = "".join("a" + m for m in marks if ord(m) <= 0xFFFF)
    assert normalize_text(bmp, NormalizationConfig()) == "a" * (len(bmp) // 2)
    every = "".join("a" + m for m in marks) + "\U0001d400"  # astral text takes another path
    assert normalize_text(every, NormalizationConfig()) == _reference_preprocess(every)


def test_encode_and_batch_agree(tiny_vocab: Path, tiny_corpus: Path) -> None:
    tok = load_tokenizer(tiny_vocab)
    lines = [line for line in tiny_corpus.read_text(encoding="utf-8").splitlines() if line][:200]
    lines.append(SAMPLE)
    assert tok.encode_batch(lines) == [tok.encode(line) for line in lines]
    assert tok.encode_batch(lines, num_threads=2) == tok.encode_batch(lines)
    assert all(0 < i < tok.vocab_size for ids in tok.encode_batch(lines) for i in ids)


def test_lower_case_and_accents_by_default(tiny_vocab: Path) -> None:
    tok = load_tokenizer(tiny_vocab)
    assert tok.encode("THE Café") == tok.encode("the cafe")
    assert tok.decode(tok.encode("THE  Résumé")) == "the resume"


def test_digit_comma_fix_splits_the_comma(tiny_vocab: Path) -> None:
    tok = load_tokenizer(tiny_vocab)
    digit_comma = [
        i
        for i in range(tok.vocab_size)
        if tok.id_to_piece(i)[-2:-1].isdigit() and tok.id_to_piece(i)[-1] == ","
    ]
    assert digit_comma, "the tiny vocab should hold a digit+comma piece such as '1,'"
    for token_id in digit_comma:
        text = "in " + tok.id_to_piece(token_id).replace("\u2581", " ") + "000 cases"
        pieces = tok.tokenize(text)
        assert not any(len(p) > 1 and p[-1] == "," and p[-2].isdigit() for p in pieces), pieces
        assert "," in pieces
        assert tok.decode(tok.encode(text)) == " ".join(text.split())
    unfixed = SentencePieceTokenizer(tok.model_file, NormalizationConfig(digit_comma_fix=False))
    assert any(i in digit_comma for i in unfixed.encode("in 1,000,000 cases, 2,5"))


def test_encode_pair_layout(tiny_vocab: Path) -> None:
    tok = load_tokenizer(tiny_vocab)
    a, b = tok.encode("first text"), tok.encode("the second one")
    pair = tok.encode_pair("first text", "the second one")
    assert pair == EncodedPair([2, *a, 3, *b, 3], [0] * (len(a) + 2) + [1] * (len(b) + 1))
    single = tok.encode_pair("first text")
    assert single == EncodedPair([2, *a, 3], [0] * (len(a) + 2))
    assert tok.encode_pair(a, b) == pair  # ids are accepted too


def test_encode_pair_truncates_like_the_reference(tiny_vocab: Path) -> None:
    tok = load_tokenizer(tiny_vocab)
    a, b = list(range(100, 110)), list(range(200, 204))
    pair = tok.encode_pair(a, b, max_length=12)  # 9 tokens of A and B fit
    # The longer side (A) loses its last tokens until 5 == 4 + 1 ... then ties cut B.
    assert pair.input_ids == [2, *a[:5], 3, *b[:4], 3]
    assert len(pair.input_ids) == 12 and pair.token_type_ids == [0] * 7 + [1] * 5
    assert tok.encode_pair(a, max_length=5).input_ids == [2, 100, 101, 102, 3]
    with pytest.raises(AlbertctlError, match="max_length must be >= 3"):
        tok.encode_pair(a, b, max_length=2)


@given(
    st.lists(st.integers(5, 99), max_size=40), st.lists(st.integers(5, 99), max_size=40), st.integers(0, 60)
)
@settings(max_examples=200, deadline=None)
def test_truncate_pair_properties(a: list[int], b: list[int], max_tokens: int) -> None:
    ta, tb = truncate_pair(a, b, max_tokens)
    assert len(ta) + len(tb) == min(len(a) + len(b), max_tokens)
    assert ta == a[: len(ta)] and tb == b[: len(tb)]  # tokens are cut from the end only
    if len(ta) < len(a) and len(tb) < len(b):
        assert len(ta) in (len(tb), len(tb) + 1)  # both cut: lengths end balanced (A keeps the tie's extra)


def test_reference_word_start_rule() -> None:
    assert reference_word_start("\u2581the")
    assert not reference_word_start("s") and not reference_word_start("ing")
    assert reference_word_start(",") and reference_word_start("-")  # single punctuation
    assert reference_word_start("<unk>")
    assert reference_word_start("12")  # digits are outside a-z: always a start (albert#161)
    assert reference_word_start("\u00e9t\u00e9") and reference_word_start("\u4e2d")
    # The reference punctuation set lists '"' twice and lacks the apostrophe, so "n't" starts a word.
    assert reference_word_start("n't") and not reference_word_start("ab(c")
    assert not reference_word_start("ab-c")


def test_word_starts_and_special_ids(tiny_vocab: Path) -> None:
    tok = load_tokenizer(tiny_vocab)
    pair = tok.encode_pair("the unbelievable things", "in 1999")
    starts = tok.word_starts(pair.input_ids)
    expected = [
        i in (tok.cls_id, tok.sep_id) or reference_word_start(tok.id_to_piece(i)) for i in pair.input_ids
    ]
    assert starts == expected and starts[0] and starts[-1]
    assert tok.word_starts([tok.pad_id, tok.mask_id, tok.unk_id]) == [True, True, True]
    assert not all(starts)  # some piece continues a word


def test_word_start_rule_is_pluggable(tiny_vocab: Path) -> None:
    every_piece = load_tokenizer(tiny_vocab, word_start_rule=lambda piece: True)
    ids = every_piece.encode("unbelievable")
    assert every_piece.word_starts(ids) == [True] * len(ids)


def test_id_to_piece_and_decode(tiny_vocab: Path) -> None:
    tok = load_tokenizer(tiny_vocab)
    ids = tok.encode("the function returns a list")
    assert (
        "".join(tok.id_to_piece(i) for i in ids).replace("\u2581", " ").strip()
        == "the function returns a list"
    )
    pair = tok.encode_pair("the list", "a value")
    assert tok.decode(pair.input_ids) == "the list a value"


def test_fingerprint_save_and_reload(tiny_vocab: Path, tmp_path: Path) -> None:
    tok = load_tokenizer(tiny_vocab)
    assert tok.fingerprint() == hashlib.sha256((tiny_vocab / "spiece.model").read_bytes()).hexdigest()
    tok.save(tmp_path / "copy")
    assert sorted(p.name for p in (tmp_path / "copy").iterdir()) == [
        "spiece.model",
        "spiece.vocab",
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab_config.json",
    ]
    again = load_tokenizer(tmp_path / "copy")
    assert again.fingerprint() == tok.fingerprint() and again.encode(SAMPLE) == tok.encode(SAMPLE)
    assert again.normalization == tok.normalization


def test_saved_normalization_is_used(tiny_vocab: Path, tmp_path: Path) -> None:
    target = tmp_path / "cased"
    shutil.copytree(tiny_vocab, target)
    config = json.loads((target / "vocab_config.json").read_text(encoding="utf-8"))
    config["normalization"]["lower"] = False
    (target / "vocab_config.json").write_text(json.dumps(config), encoding="utf-8")
    assert load_tokenizer(target).normalize("ABC") == "ABC"
    config["normalization"]["shout"] = True
    (target / "vocab_config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(AlbertctlError, match="unknown normalization settings"):
        load_tokenizer(target)


def test_bare_spiece_model_dir_uses_released_defaults(tiny_vocab: Path, tmp_path: Path) -> None:
    hf_dir = tmp_path / "hf"
    hf_dir.mkdir()
    shutil.copyfile(tiny_vocab / "spiece.model", hf_dir / "spiece.model")
    tok = load_tokenizer(hf_dir)
    assert tok.normalization == NormalizationConfig()
    assert tok.encode(SAMPLE) == load_tokenizer(tiny_vocab).encode(SAMPLE)
    assert load_tokenizer(hf_dir / "spiece.model").encode(SAMPLE) == tok.encode(SAMPLE)


def test_hf_dir_tokenizer_config_is_honoured(tiny_vocab: Path, tmp_path: Path) -> None:
    hf_dir = tmp_path / "cased"
    hf_dir.mkdir()
    shutil.copyfile(tiny_vocab / "spiece.model", hf_dir / "spiece.model")
    config = {"tokenizer_class": "AlbertTokenizer", "do_lower_case": False, "keep_accents": True}
    (hf_dir / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    tok = load_tokenizer(hf_dir)
    assert tok.normalization == NormalizationConfig(lower=False, keep_accents=True)
    assert tok.normalize("Café") == "Café"


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(AlbertctlError, match="does not exist"):
        load_tokenizer(tmp_path / "nope")
    with pytest.raises(AlbertctlError, match="has no spiece.model"):
        load_tokenizer(tmp_path)
    (tmp_path / "vocab.txt").write_text("[PAD]\n", encoding="utf-8")
    with pytest.raises(AlbertctlError, match=r"vocab.txt has no \[UNK\], \[CLS\], \[SEP\], \[MASK\] line"):
        load_tokenizer(tmp_path)
    (tmp_path / "spiece.model").write_bytes(b"not a model")
    with pytest.raises(AlbertctlError, match="is not a SentencePiece model"):
        load_tokenizer(tmp_path)


def test_foreign_id_layout_is_rejected(tiny_corpus: Path, tmp_path: Path) -> None:
    import sentencepiece as spm

    spm.SentencePieceTrainer.train(
        input=str(tiny_corpus), model_prefix=str(tmp_path / "spiece"), vocab_size=200, minloglevel=2
    )
    with pytest.raises(AlbertctlError, match="does not have ALBERT's id layout"):
        load_tokenizer(tmp_path)
