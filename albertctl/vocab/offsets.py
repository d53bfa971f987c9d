"""Character offsets of tokens in the original text, for both vocabulary kinds (SQuAD needs them).

A SQuAD answer is a character span of the *original* context, and a predicted answer is a token
span mapped back to original text; but tokenizers see normalized text (lower-cased, accents
stripped, whitespace collapsed, quotes mapped, then SentencePiece's own ``nmt_nfkc``). This module
holds the pure functions that keep track of where each normalized character came from:

* :func:`align_normalization` normalizes exactly as :func:`~albertctl.vocab.normalize.normalize_text`
  does (it calls it) and builds, with numpy, the original span of every normalized character;
* :func:`map_spans` turns the spans SentencePiece reports in the normalized text into original
  spans: a word-start piece ``▁the`` covers ``the`` (the space trimmed, as transformers' fast
  tokenizers trim offsets), a piece with no character of its own (a lone ``▁``) is zero-width at
  the next character;
* :func:`split_words_with_offsets` is BERT's basic tokenization
  (:meth:`~albertctl.vocab.wordpiece.WordPieceTokenizer.split_words`) with each word character's
  original span;
* :func:`monotonic_spans` makes spans non-decreasing and non-overlapping: where one original
  character became several normalized ones (``ﬁ`` -> ``fi``, a Hangul syllable -> jamo) and
  pieces split them, the first piece keeps the character and the later ones are zero-width at
  its end.

Offsets are ``(start, end)`` indices of Python ``str`` characters (code points), end exclusive.
No I/O; the tokenizers' ``encode_with_offsets`` methods call these functions.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from albertctl.vocab.normalize import NormalizationConfig, normalize_text

Span = tuple[int, int]

_QUOTE_PAIR = re.compile("``|''")
# ASCII characters Python calls whitespace (what str.split() and the space collapse split on).
_ASCII_SPACE = np.array([chr(c).isspace() for c in range(128)])
# Characters trimmed from the front of a piece's span: whitespace, and the controls and format
# characters (zero-width space, soft hyphen) that SentencePiece's nmt_nfkc deletes.
_ASCII_SKIP = np.array([chr(c).isspace() or c < 32 or c == 127 for c in range(128)])


@dataclass(frozen=True)
class Alignment:
    """A normalized text and the original span of each of its characters."""

    text: str
    """The normalized text (what SentencePiece is given)."""
    starts: np.ndarray
    """(n,) int64: original index of the character normalized character ``j`` came from."""
    ends: np.ndarray
    """(n,) int64: end of that span; it takes in characters normalization dropped after it
    (combining marks, the second half of a ``\\`\\``` pair), never whitespace."""
    original_length: int
    """``len`` of the original text."""


def code_points(text: str) -> np.ndarray:
    """(len(text),) int64 code points, through a C-level encode instead of a Python loop."""
    if text.isascii():
        return np.frombuffer(text.encode("ascii"), dtype=np.uint8).astype(np.int64)
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4").astype(np.int64)


def _per_char(codes: np.ndarray, fn: Callable[[str], int]) -> np.ndarray:
    """``fn(chr(c))`` for every code, computed once per distinct character (texts hold few)."""
    unique, inverse = np.unique(codes, return_inverse=True)
    return np.array([fn(chr(c)) for c in unique.tolist()], dtype=np.int64)[inverse]


@functools.cache
def _normalized_length(char: str, keep_accents: bool, lower: bool) -> int:
    """How many characters ``char`` becomes under accent stripping and lower-casing.

    Per character is exact for whole texts: NFKD decomposes character by character and only
    reorders combining marks, which are all dropped; lower-casing is contextual only for the final
    sigma, which keeps the length.
    """
    if not keep_accents:
        char = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    return len(char.lower() if lower else char)


@functools.cache
def _is_space(char: str) -> int:
    return int(char.isspace())


@functools.cache
def _is_skipped(char: str) -> int:
    return int(char.isspace() or unicodedata.category(char) in ("Cc", "Cf"))


def _next_true(mask: np.ndarray, values: np.ndarray, default: int) -> np.ndarray:
    """For each ``i``: ``values[k]`` for the smallest ``k > i`` with ``mask[k]``, else ``default``."""
    where = np.flatnonzero(mask)
    k = np.searchsorted(where, np.arange(len(mask)), side="right")
    return np.append(values[where], default)[k]


def _next_false(mask: np.ndarray, n: int) -> np.ndarray:
    """(n + 1,): for each position ``j``, the first ``k >= j`` with ``mask[k]`` false, else ``n``."""
    where = np.flatnonzero(np.append(~mask, True))
    return where[np.searchsorted(where, np.arange(n + 1), side="left")]


def normalization_lengths(text: str, config: NormalizationConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per original character: how many characters of ``normalize_text(text)`` it became, and
    whether it is whitespace; both (len(text),). A run of inner whitespace becomes one space (its
    first character's), end runs nothing; a ``\\`\\``` or ``''`` pair becomes one ``"``."""
    codes = code_points(text)
    if text.isascii():
        lengths = np.ones(len(codes), dtype=np.int64)  # ASCII lower-cases and decomposes to itself
        space = _ASCII_SPACE[codes]
    else:
        lengths = _per_char(codes, functools.partial(_normalized_length, **_length_flags(config)))
        space = _per_char(codes, _is_space).astype(bool)
    if config.remove_space and space.any():
        solid = np.flatnonzero(~space)
        run_start = space & ~np.concatenate(([False], space[:-1]))
        if solid.size:
            run_start[: solid[0]] = False
            run_start[solid[-1] :] = False
        else:
            run_start[:] = False
        lengths[space] = 0
        lengths[run_start] = 1
    if config.map_quotes and ("``" in text or "''" in text):
        # Both halves are non-space, so the pairs are the same before and after the space collapse.
        for match in _QUOTE_PAIR.finditer(text):
            lengths[match.start() + 1] = 0
    return lengths, space


def _length_flags(config: NormalizationConfig) -> dict[str, bool]:
    return {"keep_accents": config.keep_accents, "lower": config.lower}


def align_normalization(text: str, config: NormalizationConfig) -> Alignment:
    """``normalize_text(text, config)`` and the original span of each of its characters."""
    normalized = normalize_text(text, config)
    lengths, space = normalization_lengths(text, config)
    positions = np.arange(len(lengths), dtype=np.int64)
    # A dropped character joins the span of the one before it, unless it is whitespace (trailing
    # spaces belong to no token).
    ends = _next_true((lengths > 0) | space, positions, len(text))
    starts, ends = np.repeat(positions, lengths), np.repeat(ends, lengths)
    assert len(starts) == len(normalized), "normalization lengths must add up to the normalized text"
    return Alignment(normalized, starts, ends, len(text))


def map_spans(alignment: Alignment, begins: list[int], ends: list[int]) -> list[Span]:
    """Original spans of pieces given as ``[begin, end)`` character spans of the normalized text.

    Leading whitespace (and deleted invisible characters) is trimmed off each span; a piece left
    with no character is zero-width where the next character begins (the end of the text's last
    normalized character when none follows). The result is :func:`monotonic_spans`.
    """
    n = len(alignment.text)
    if not begins:
        return []
    if n == 0:
        return [(0, 0)] * len(begins)
    b = np.asarray(begins, dtype=np.int64).clip(0, n)
    e = np.asarray(ends, dtype=np.int64).clip(0, n)
    codes = code_points(alignment.text)
    skip = _ASCII_SKIP[codes] if alignment.text.isascii() else _per_char(codes, _is_skipped).astype(bool)
    # The first character of each piece that is not whitespace or invisible (n past the end).
    first = _next_false(skip, n)[b]
    text_end = int(alignment.ends[-1])
    start = np.append(alignment.starts, text_end)[first]
    end = np.where(first < e, alignment.ends[np.maximum(e - 1, 0)], start)
    return monotonic_spans(start, end)


def monotonic_spans(starts: np.ndarray | list[int], ends: np.ndarray | list[int]) -> list[Span]:
    """Spans made non-decreasing and non-overlapping: a span starting inside the previous one
    starts at its end (zero-width when it lay wholly inside)."""
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    if starts.size == 0:
        return []
    reached = np.maximum.accumulate(np.maximum(ends, starts))
    starts = np.maximum(starts, np.concatenate(([0], reached[:-1])))
    ends = np.maximum(ends, starts)
    return list(zip(starts.tolist(), ends.tolist(), strict=True))
