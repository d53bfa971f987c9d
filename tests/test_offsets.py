"""Token offsets (albertctl.vocab.offsets): ids always equal ``encode``'s, each token's span of the
original text normalizes to its piece, spans are ordered, and SQuAD answers round-trip."""

from __future__ import annotations

import collections
import json
import re
import string
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest

from albertctl.vocab import NormalizationConfig, SentencePieceTokenizer, load_tokenizer, normalize_text
from albertctl.vocab.base import SPIECE_UNDERLINE, Tokenizer
from albertctl.vocab.offsets import align_normalization, monotonic_spans
from albertctl.vocab.wordpiece import CONTINUATION, WordPieceTokenizer, split_words_with_offsets

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CORPUS, ZH_CORPUS, SQUAD = (
    DATA / "corpus" / "corpus.txt",
    DATA / "zh" / "corpus" / "corpus.txt",
    DATA / "squad" / "dev-v1.1.json",
)

TRICKY = [
    "The Cat SAT on the MAT.",
    "café Ångström naïve résumé",
    "cafe\u0301 decomposed, and a\u0301\u0323 two marks, \u0301 a leading mark",
    "ﬁne ﬂowers, ½ a cake, ＦＵＬＬ width １，２３４",
    "ΟΔΟΣ and Σίσυφος",
    "İstanbul ǅ ß",
    "  many   spaces\t\ttabs\nnew\r\nlines \u00a0nbsp\u3000ideographic  ",
    "``quoted'' and `single' and ''' and ````",
    "1,000,000 people, 2,5 and 10, and 3,",
    "well-known 3.0 e-mail",
    "数学是利用符号语言研究数量、结构。",
    "emoji 😀 and astral 𝐀𝐁 and 𠀀",
    "ctrl\x01char nul\x00byte zero\u200bwidth soft\u00adhyphen bidi\u202e line\u2028sep",
    "한국어 日本語のかな Ελληνικά кириллица",
    "a \u00a8 spacing diaeresis and \u00b4 acute",
    "",
    "   ",
    "x",
]


def _corpus_lines(path: Path, every: int, limit: int) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return [line.rstrip("\n") for i, line in enumerate(handle) if i % every == 0 and line.strip()][:limit]


def _check_order(text: str, spans: list[tuple[int, int]]) -> None:
    previous = 0
    for start, end in spans:
        assert previous <= start <= end <= len(text), (text, spans)
        previous = end


def _check_slices(
    text: str, pieces: list[str | None], spans: list[tuple[int, int]], normalize: Callable[[str], str]
) -> None:
    """Each token's original slice, normalized, is its piece text (None: unknown, any text:
    an unknown control character normalizes to nothing).

    Where one original character became several normalized ones (``ﬁ`` -> ``fi``) and pieces split
    them, only a run of tokens normalizes to their joined text; such runs are closed greedily and
    may only occur in non-ASCII text."""
    k = 0
    while k < len(pieces):
        j = k + 1
        while True:
            # Zero-width tokens at the run's end belong to it (the rest of a split character).
            while j < len(pieces) and pieces[j] != "" and spans[j][0] == spans[j][1] == spans[j - 1][1]:
                j += 1
            # casefold: a final sigma (ς) normalizes to σ when its word is not around it.
            pattern = "".join(".*" if p is None else re.escape(p.casefold()) for p in pieces[k:j])
            original = normalize(text[spans[k][0] : spans[j - 1][1]]).casefold()
            if re.fullmatch(pattern, original, re.DOTALL):
                break
            assert j < len(pieces), f"no run from token {k} matches: {text!r} {pieces[k:]} {spans[k:]}"
            j += 1
        assert j == k + 1 or not text.isascii(), (text, pieces[k:j])
        k = j


# --- SentencePiece ---------------------------------------------------------------------------


def _sp_piece_text(tok: SentencePieceTokenizer, token_id: int) -> str | None:
    """The piece's characters without ``▁`` (None for the unknown piece)."""
    return None if token_id == tok.unk_id else tok.id_to_piece(token_id).replace(SPIECE_UNDERLINE, "")


def _sp_normalize(tok: SentencePieceTokenizer, text: str) -> str:
    return tok._sp.Normalize(tok.normalize(text)).replace(SPIECE_UNDERLINE, "")


def _check_sentencepiece(tok: SentencePieceTokenizer, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    ids, spans = tok.encode_with_offsets(text)
    assert ids == tok.encode(text), text
    assert len(spans) == len(ids)
    _check_order(text, spans)
    pieces = [_sp_piece_text(tok, i) for i in ids]
    _check_slices(text, pieces, spans, lambda t: _sp_normalize(tok, t))
    for piece, (start, end) in zip(pieces, spans, strict=True):
        assert (piece == "") <= (start == end), (text, spans)  # a lone "▁" is zero-width
    return ids, spans


CONFIGS = [
    NormalizationConfig(),
    NormalizationConfig(lower=False, keep_accents=True, map_quotes=False),
    NormalizationConfig(remove_space=False, digit_comma_fix=False),
]


@pytest.mark.parametrize("config", CONFIGS, ids=["default", "cased", "spaces-kept"])
def test_sentencepiece_ids_and_spans(
    config: NormalizationConfig, tiny_vocab: Path, tiny_corpus: Path
) -> None:
    tok = SentencePieceTokenizer(tiny_vocab / "spiece.model", config)
    lines = [line for line in tiny_corpus.read_text(encoding="utf-8").splitlines() if line][:300]
    texts = TRICKY + lines
    results = [_check_sentencepiece(tok, t) for t in texts]
    assert tok.encode_batch_with_offsets(texts, num_threads=2) == results
    assert any(tok.unk_id in ids for ids, _ in results)  # the unknown path was exercised


def test_sentencepiece_spans_by_hand(tiny_vocab: Path) -> None:
    tok = load_tokenizer(tiny_vocab)
    assert tok.encode_with_offsets("") == ([], [])
    text = "  The  ``Cat''\t1,000,000 cafe\u0301  "
    ids, spans = _check_sentencepiece(tok, text)  # type: ignore[arg-type]
    pieces = [tok.id_to_piece(i) for i in ids]
    slices = [text[s:e] for s, e in spans]
    assert pieces[0] == "\u2581the" and spans[0] == (2, 5)  # the word, not the spaces before it
    tokens = list(zip(pieces, slices, strict=True))
    assert ('"', "``") in tokens and ('"', "''") in tokens
    # The digit-comma fix splits "1," into "1" and ","; each comma covers its own character.
    commas = [s for p, s in zip(pieces, spans, strict=True) if p == ","]
    assert commas == [(m.start(), m.end()) for m in re.finditer(",", text)]
    # The decomposed accent belongs to the last piece; the trailing spaces to none.
    assert spans[-1][1] == len(text.rstrip())
    for k, piece in enumerate(pieces):
        if piece == SPIECE_UNDERLINE:
            assert spans[k][0] == spans[k][1] == spans[k + 1][0]
    assert SPIECE_UNDERLINE in pieces  # the tiny vocabulary has lone "▁" pieces (ids checked above)


def test_one_character_split_between_pieces(tiny_vocab: Path) -> None:
    tok = load_tokenizer(tiny_vocab)
    ids, spans = tok.encode_with_offsets("ﬁ")  # NFKD makes "fi"; the pieces split it
    assert [tok.id_to_piece(i) for i in ids] == ["\u2581f", "i"] and spans == [(0, 1), (1, 1)]


def test_align_normalization_spans() -> None:
    config = NormalizationConfig()
    text = "  A``b''  c\u0301ﬁ d  "
    alignment = align_normalization(text, config)
    assert alignment.text == normalize_text(text, config) == 'a"b" cfi d'
    spans = list(zip(alignment.starts.tolist(), alignment.ends.tolist(), strict=True))
    assert spans == [(2, 3), (3, 5), (5, 6), (6, 8), (8, 9), (10, 12), (12, 13), (12, 13), (13, 14), (14, 15)]


def test_align_normalization_over_all_of_unicode() -> None:
    """Per-character lengths add up for every code point, in context and alone (the alignment
    asserts it), and each normalized character's span normalizes to something holding it."""
    chars = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    config = NormalizationConfig()
    for k in range(0, len(chars), 1 << 16):
        align_normalization("a".join(chars[k : k + (1 << 16)]), config)
    sample = "".join(chars[::97]) + "".join(TRICKY)
    alignment = align_normalization(sample, config)
    for j, (start, end) in enumerate(zip(alignment.starts.tolist(), alignment.ends.tolist(), strict=True)):
        if alignment.text[j] != " ":
            # casefold: a sigma is final (ς) in context and σ alone.
            alone = normalize_text(sample[start:end], config).casefold()
            assert alignment.text[j].casefold() in alone, (j, sample[start:end])


def test_monotonic_spans() -> None:
    assert monotonic_spans([0, 0, 0, 2], [1, 1, 1, 3]) == [(0, 1), (1, 1), (1, 1), (2, 3)]
    assert monotonic_spans([0, 3], [5, 4]) == [(0, 5), (5, 5)]
    assert monotonic_spans([], []) == []


@pytest.mark.skipif(not CORPUS.exists(), reason="shared English corpus absent")
def test_sentencepiece_on_the_english_corpus(tiny_vocab: Path) -> None:
    tok = load_tokenizer(tiny_vocab)
    lines = _corpus_lines(CORPUS, every=150, limit=1500)
    assert tok.encode_batch_with_offsets(lines) == [_check_sentencepiece(tok, t) for t in lines]  # type: ignore[arg-type]


# --- WordPiece -------------------------------------------------------------------------------


def _wordpiece_vocab(directory: Path, texts: list[str]) -> Path:
    """A BERT-style vocab.txt: specials, every character seen (alone and as ``##``), frequent
    words and suffixes; "q" is left out so words holding it become [UNK]."""
    chars = {
        c
        for text in texts
        for c in unicodedata.normalize("NFD", text.lower()) + text
        if not c.isspace() and unicodedata.category(c) != "Mn"
    } - {"q"}
    counts = collections.Counter(re.findall(r"[a-z]+", " ".join(texts).lower()))
    words = [w for w, _ in counts.most_common(300) if "q" not in w]
    lines = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(chars), *(f"##{c}" for c in sorted(chars))]
    lines += words + ["##ing", "##ed", "##s", "##ly", "##tion"]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.txt").write_text("\n".join(dict.fromkeys(lines)) + "\n", encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def wordpiece(tiny_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> WordPieceTokenizer:
    texts = [*TRICKY, tiny_corpus.read_text(encoding="utf-8")[:100_000]]
    if ZH_CORPUS.exists():
        texts.append(ZH_CORPUS.read_text(encoding="utf-8")[:200_000])
    tok = load_tokenizer(_wordpiece_vocab(tmp_path_factory.mktemp("wordpiece") / "vocab", texts))
    assert isinstance(tok, WordPieceTokenizer)
    return tok


def _check_wordpiece(tok: WordPieceTokenizer, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    ids, spans = tok.encode_with_offsets(text)
    assert ids == tok.encode(text), text
    assert [w for w, _, _ in split_words_with_offsets(text, tok.config)] == tok.split_words(text)
    _check_order(text, spans)
    pieces = [None if i == tok.unk_id else tok.id_to_piece(i).removeprefix(CONTINUATION) for i in ids]
    _check_slices(text, pieces, spans, lambda t: "".join(tok.split_words(t)))
    for token_id, (start, end) in zip(ids, spans, strict=True):
        if token_id == tok.unk_id:  # [UNK] covers the whole word it replaced
            words = tok.split_words(text[start:end])
            assert len(words) == 1 and tok.encode(words[0]) == [tok.unk_id], (text, text[start:end])
    return ids, spans


@pytest.mark.parametrize("lower", [True, False])
def test_wordpiece_ids_and_spans(lower: bool, wordpiece: WordPieceTokenizer, tiny_corpus: Path) -> None:
    from albertctl.vocab.wordpiece import WordPieceConfig

    tok = WordPieceTokenizer(wordpiece.vocab_file, WordPieceConfig(lower=lower))
    lines = [line for line in tiny_corpus.read_text(encoding="utf-8").splitlines() if line][:300]
    results = [_check_wordpiece(tok, t) for t in [*TRICKY, "x" * 101, *lines]]
    assert sum(tok.unk_id in ids for ids, _ in results) > 3


def test_wordpiece_spans_by_hand(wordpiece: WordPieceTokenizer) -> None:
    text = "Quick  RUNNING,\tcafe\u0301!"
    ids, spans = _check_wordpiece(wordpiece, text)
    tokens = [(wordpiece.id_to_piece(i), text[s:e]) for i, (s, e) in zip(ids, spans, strict=True)]
    assert tokens[0] == ("[UNK]", "Quick")  # no "q" in the vocabulary: the whole word
    assert ("##ing", "ING") in tokens and (",", ",") in tokens and ("!", "!") in tokens
    assert [t for t in tokens if t[0].endswith("e")][-1][1] == "e\u0301"  # the mark joins its letter
    assert wordpiece.encode_with_offsets("") == ([], []) == wordpiece.encode_with_offsets(" \x00 ")


@pytest.mark.skipif(not ZH_CORPUS.exists() or not CORPUS.exists(), reason="shared corpora absent")
def test_wordpiece_on_the_real_corpora(wordpiece: WordPieceTokenizer, tiny_vocab: Path) -> None:
    zh = _corpus_lines(ZH_CORPUS, every=25, limit=500)
    for text in zh + _corpus_lines(CORPUS, every=300, limit=1500):
        _check_wordpiece(wordpiece, text)
    sentencepiece = load_tokenizer(tiny_vocab)
    for text in zh[:200]:  # Chinese through the English SentencePiece vocabulary: mostly unknown
        _check_sentencepiece(sentencepiece, text)  # type: ignore[arg-type]


# --- SQuAD round trip ------------------------------------------------------------------------

_EDGE = string.punctuation + string.whitespace


def _round_trip_rate(tok: Tokenizer, squad: dict) -> tuple[float, int]:
    """Share of answers whose overlapping tokens, mapped back, give the answer (edge punctuation aside)."""
    paragraphs = [p for article in squad["data"] for p in article["paragraphs"]]
    encoded = tok.encode_batch_with_offsets([p["context"] for p in paragraphs])
    exact = total = 0
    for paragraph, (_, spans) in zip(paragraphs, encoded, strict=True):
        context = paragraph["context"]
        for qa in paragraph["qas"]:
            for answer in qa["answers"]:
                start = answer["answer_start"]
                end = start + len(answer["text"])
                cover = [(s, e) for s, e in spans if s < end and e > start]
                found = context[cover[0][0] : cover[-1][1]] if cover else ""
                exact += found.strip(_EDGE) == answer["text"].strip(_EDGE)
                total += 1
    return exact / total, total


@pytest.mark.skipif(not SQUAD.exists(), reason="shared SQuAD dev set absent")
def test_squad_answers_round_trip(tiny_vocab: Path, wordpiece: WordPieceTokenizer) -> None:
    squad = json.loads(SQUAD.read_text(encoding="utf-8"))
    squad["data"] = squad["data"][::2]  # half the articles keep the test quick
    for tok in (load_tokenizer(tiny_vocab), wordpiece):
        rate, total = _round_trip_rate(tok, squad)
        # Misses are answers that start or end inside a word ("ten" of "content") in the data.
        assert total > 10_000 and rate >= 0.998, (type(tok).__name__, rate)
