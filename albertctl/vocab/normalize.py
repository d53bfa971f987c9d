"""Text normalization applied before SentencePiece, identically at training and at encoding.

This is the reference ``preprocess_text`` (google-research/albert ``tokenization.py``, and the
slow transformers ``AlbertTokenizer``): collapse runs of whitespace to one space and strip the
ends, map the LaTeX-style quotes ``\\`\\``` and ``''`` to ``"`` (transformers does this; TF ALBERT does
not, so it is a setting), NFKD then drop combining marks (accent stripping), and lower-case.
SentencePiece then applies its own ``nmt_nfkc`` rules inside the model.

The digit-comma fix (a piece ending in digit + ``,`` is re-encoded with the comma split off) acts
on pieces after SentencePiece and lives in :mod:`albertctl.vocab.tokenizer`.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from dataclasses import asdict, dataclass
from typing import Any

from albertctl.errors import AlbertctlError


@dataclass(frozen=True, kw_only=True)
class NormalizationConfig:
    """How text is normalized before SentencePiece; saved in ``vocab_config.json``."""

    lower: bool = True
    """Lower-case the text (True for every released English ALBERT)."""
    keep_accents: bool = False
    """Keep accents; when False, NFKD-decompose and drop combining marks."""
    remove_space: bool = True
    """Collapse every run of whitespace to one space and strip both ends."""
    map_quotes: bool = True
    """Map ``\\`\\``` and ``''`` to ``"`` as transformers does (TF ALBERT does not)."""
    digit_comma_fix: bool = True
    """Split the comma off pieces that end in digit + ``,`` (reference ``encode_pieces``)."""

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, bool):
                raise AlbertctlError(f"normalization.{name} must be true or false, got {value!r}")

    def to_dict(self) -> dict[str, bool]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NormalizationConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise AlbertctlError(
                f"unknown normalization settings {unknown} in vocab_config.json",
                hint=f"known settings: {sorted(known)}; the vocabulary was written by a newer albertctl?",
            )
        return cls(**data)


def _char_class(chars: list[str]) -> str:
    """A regex character class of ``chars`` as ranges (sre matches ranges fast)."""
    ranges: list[list[int]] = []
    for code in sorted(ord(c) for c in chars):
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    parts = (re.escape(chr(lo)) + ("-" + re.escape(chr(hi)) if hi > lo else "") for lo, hi in ranges)
    return "[" + "".join(parts) + "]"


_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


@functools.cache
def _bmp_marks() -> re.Pattern[str]:
    """Combining marks in the BMP (``unicodedata.combining(c) != 0``, the reference's test), as a
    regex of ranges; built once per process from a scan of the 65,536 BMP code points (~10 ms)."""
    return re.compile(_char_class([chr(c) for c in range(0x10000) if unicodedata.combining(chr(c))]))


@functools.cache
def _all_marks() -> dict[int, None]:
    """A ``str.translate`` table deleting every combining mark, astral ones included (~0.2 s to
    build: a scan of all of Unicode, so only done when astral text is met)."""
    return dict.fromkeys(c for c in range(sys.maxunicode + 1) if unicodedata.combining(chr(c)))


def _collapse_spaces(text: str) -> str:
    # Most lines already have single spaces only: C-speed checks instead of split + join. Every
    # whitespace character but " " is non-printable (Cc, Zs, Zl, Zp), so a printable text holds
    # none; a non-printable one (rare) takes split + join, which leaves it unchanged if it has none.
    if "  " in text or text[:1] == " " or text[-1:] == " " or not text.isprintable():
        return " ".join(text.split())
    return text


def _strip_accents(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    if _ASTRAL.search(text):
        return text.translate(_all_marks())  # rare: astral text may hold astral combining marks
    return _bmp_marks().sub("", text)


def normalize_text(text: str, config: NormalizationConfig) -> str:
    """Apply the reference pre-SentencePiece normalization to one string."""
    if config.remove_space:
        text = _collapse_spaces(text)
    if config.map_quotes:
        text = text.replace("``", '"').replace("''", '"')
    # ASCII text has nothing to decompose; skipping NFKD there keeps encoding near raw spm speed.
    if not config.keep_accents and not text.isascii():
        text = _strip_accents(text)
    if config.lower:
        text = text.lower()
    return text
