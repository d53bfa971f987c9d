"""Parity of our Tokenizer with transformers' AlbertTokenizer on an in-process corpus.

transformers 5 has only the ``tokenizers``-backed AlbertTokenizer. On our vocab directory it
reads the ``tokenizer.json`` we write and must give our ids (a difference is allowed only where two
segmentations have exactly the same score). On a bare ``spiece.model`` it converts the model and
differs at user symbols and digit-commas (docs/reference.md §1); those differences are pinned
here so a change in transformers shows up. With transformers < 5 the sentencepiece-based slow
tokenizer is compared id for id. Each test names the transformers versions it describes
(tests/upstream.py) and skips outside them.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from upstream import describes

from albertctl.vocab import Tokenizer, load_tokenizer

transformers = pytest.importorskip("transformers")
# transformers 5: AlbertTokenizerFast is an alias of AlbertTokenizer (tokenizers-backed).
FastTokenizer = transformers.AlbertTokenizerFast

EXTRA_TEXTS = [
    "well-known 3.0 results (see below) cost £5 or €3 – roughly.",
    "In 1,000,000 cases, 12,5 and 3,000 were ``quoted'' as \"odd\".",
    "  Ünïcödé  text\twith\u00a0odd   spaces and CAPITALS  ",
    "(leading symbol) and trailing -",
    "\u4e2d\u6587 and emoji \U0001f600 are unknown here",
]


def _texts(tiny_corpus: Path) -> list[str]:
    lines = [line for line in tiny_corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines + EXTRA_TEXTS


def _scores(tok: Tokenizer) -> list[float]:
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(tok.model_file))
    return [sp.GetScore(i) for i in range(sp.GetPieceSize())]


def _is_tie(ours: list[int], theirs: list[int], scores: list[float], unk_id: int) -> bool:
    """Two segmentations of the same text with the same total score (and the same unknowns)."""
    total = [sum(scores[i] for i in ids if i != unk_id) for ids in (ours, theirs)]
    return ours.count(unk_id) == theirs.count(unk_id) and abs(total[0] - total[1]) < 1e-4


def test_exported_tokenizer_json_matches(tiny_vocab: Path, tiny_corpus: Path) -> None:
    tok = load_tokenizer(tiny_vocab)
    hf = FastTokenizer.from_pretrained(tiny_vocab)
    scores = _scores(tok)
    texts = _texts(tiny_corpus)
    exact = 0
    for text in texts:
        ours = tok.encode_pair(text, max_length=1 << 20).input_ids
        theirs = hf(text)["input_ids"]
        if ours == theirs:
            exact += 1
        else:
            assert _is_tie(ours, theirs, scores, tok.unk_id), (text, tok.tokenize(text), hf.tokenize(text))
    assert exact >= 0.99 * len(texts)


def test_exported_pairs_and_token_types_match(tiny_vocab: Path, tiny_corpus: Path) -> None:
    tok = load_tokenizer(tiny_vocab)
    hf = FastTokenizer.from_pretrained(tiny_vocab)
    texts = _texts(tiny_corpus)
    for a, b in zip(texts[:200:2], texts[1:200:2], strict=True):
        pair = tok.encode_pair(a, b, max_length=1 << 20)
        enc = hf(a, b, return_token_type_ids=True)
        assert (pair.input_ids, pair.token_type_ids) == (enc["input_ids"], enc["token_type_ids"])


@describes("transformers", ">=4.40,<5.26", "the spiece.model converter's differences from SentencePiece")
def test_converted_spiece_model_differs_only_where_documented(
    tiny_vocab: Path, tiny_corpus: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copyfile(tiny_vocab / "spiece.model", bare / "spiece.model")
    hf = FastTokenizer.from_pretrained(bare)
    tok = load_tokenizer(tiny_vocab)
    scores = _scores(tok)
    symbols = [tok.id_to_piece(i) for i in range(tok.vocab_size) if tok.is_user_symbol(i)]
    trigger = re.compile("|".join(rf"(?:^|\s){re.escape(s)}|{re.escape(s)}\S" for s in symbols) + r"|\d,")
    mismatches = 0
    for text in _texts(tiny_corpus):
        ours = tok.encode(text)
        theirs = hf(text, add_special_tokens=False)["input_ids"]
        if ours != theirs:
            mismatches += 1
            # transformers 4's converter also keeps a "▁" for trailing whitespace.
            explained = (
                trigger.search(tok.normalize(text))
                or _is_tie(ours, theirs, scores, tok.unk_id)
                or text != text.strip()
            )
            assert explained, (text, tok.tokenize(text), hf.tokenize(text))
    assert mismatches > 0  # the converter's known differences are present on this corpus


@describes(
    "transformers", ">=5.0,<5.25", "the converter adds a '\u2581' after a glued user symbol; 5.25 does not"
)
def test_converter_splits_the_word_after_a_glued_symbol(tiny_vocab: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copyfile(tiny_vocab / "spiece.model", bare / "spiece.model")
    hf = FastTokenizer.from_pretrained(bare)
    tok = load_tokenizer(tiny_vocab)
    # The word after a glued user symbol gets a new "▁" in transformers, not in SentencePiece/TF.
    for text, symbol in (("well-known", "-"), ("3.0", ".")):
        ours_pieces, hf_pieces = tok.tokenize(text), hf.tokenize(text)
        after = ours_pieces.index(symbol) + 1
        assert not ours_pieces[after].startswith("\u2581")
        assert hf_pieces[hf_pieces.index(symbol) + 1].startswith("\u2581")


@describes("transformers", ">=4.40,<5", "the sentencepiece-based AlbertTokenizer, gone in 5")
def test_slow_tokenizer_matches_exactly(tiny_vocab: Path, tiny_corpus: Path) -> None:  # pragma: no cover
    slow = transformers.AlbertTokenizer(vocab_file=str(tiny_vocab / "spiece.model"))
    tok = load_tokenizer(tiny_vocab)
    for text in _texts(tiny_corpus):
        assert tok.encode_pair(text, max_length=1 << 20).input_ids == slow(text)["input_ids"], text
