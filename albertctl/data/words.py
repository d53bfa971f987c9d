"""Whole words for Chinese (``make-data --word-segmenter``): a word segmenter joins pieces.

The tokenizer's rule decides word starts one piece at a time (``##`` for WordPiece, ``▁`` and
the reference rule for SentencePiece); in Chinese every ideograph then starts a word, so masking
is per character. Whole-word masking for Chinese (Chinese-BERT-wwm, albert_zh's
``create_pretraining_data.py``) asks a segmenter which characters form words. Here, per text:

1. the segmenter splits the text into words (``jieba.lcut`` by default);
2. in each run of pieces made only of CJK ideographs (a WordPiece ``##`` or SentencePiece ``▁``
   prefix ignored), from left to right, the longest run of pieces whose characters spell one of
   the text's segmented words becomes one whole word: its pieces after the first stop being
   word starts. Pieces outside such runs keep the tokenizer's rule.

Matching spelled words rather than character offsets keeps this independent of the tokenizer's
normalization (lower-casing, full-width folding); it is albert_zh's method without its cap of
three characters per word. Segmenters are a registry (:data:`WORD_SEGMENTERS`): add a factory
under a new name to plug another one in (LTP, pkuseg, a user dictionary).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from albertctl.errors import AlbertctlError
from albertctl.vocab.wordpiece import is_chinese_char

WordSegmenter = Callable[[str], list[str]]
"""A function from a text to its words (their concatenation need not be the text)."""


def _jieba() -> WordSegmenter:
    try:
        import jieba
    except ImportError:
        raise AlbertctlError(
            "--word-segmenter jieba needs the 'jieba' package, which is not installed",
            hint="pip install 'albertctl[zh]'",
        ) from None
    import logging

    jieba.setLogLevel(logging.WARNING)  # no "Building prefix dict..." lines on stderr
    return lambda text: jieba.lcut(text)


WORD_SEGMENTERS: dict[str, Callable[[], WordSegmenter]] = {"jieba": _jieba}
"""Segmenter name -> factory (called once per worker process)."""


def make_word_segmenter(name: str) -> WordSegmenter:
    """The segmenter registered as ``name``; a clear error for unknown names or missing packages."""
    if name not in WORD_SEGMENTERS:
        raise AlbertctlError(
            f"unknown word segmenter {name!r}", hint=f"choose one of {', '.join(sorted(WORD_SEGMENTERS))}"
        )
    return WORD_SEGMENTERS[name]()


def _cjk_text(piece: str) -> str:
    """The piece's characters if they are all CJK ideographs (prefixes ignored), else ``""``."""
    text = piece.removeprefix("##").removeprefix("\u2581")
    return text if text and all(is_chinese_char(ord(c)) for c in text) else ""


def join_segmented_words(pieces: Sequence[str], starts: Sequence[bool], words: Sequence[str]) -> list[bool]:
    """``starts`` with the pieces inside each segmented CJK word marked as continuing it."""
    vocabulary = {w for w in words if len(w) > 1 and all(is_chinese_char(ord(c)) for c in w)}
    out = list(starts)
    if not vocabulary:
        return out
    longest = max(map(len, vocabulary))
    texts = [_cjk_text(p) for p in pieces]
    i = 0
    while i < len(pieces):
        if not texts[i]:
            i += 1
            continue
        # Longest run of CJK pieces from i spelling a segmented word (at most `longest` characters).
        end, spelled, match = i, "", 0
        while end < len(pieces) and texts[end] and len(spelled) + len(texts[end]) <= longest:
            spelled += texts[end]
            end += 1
            if end - i > 1 and spelled in vocabulary:
                match = end
        if match:
            for j in range(i + 1, match):
                out[j] = False
            i = match
        else:
            i += 1
    return out
