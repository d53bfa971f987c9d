"""WordPiece vocabularies (a BERT ``vocab.txt``): what albert_zh and the Chinese BERTs use.

albert_zh's ``albert_tiny`` (V=21128) and the Hugging Face ports of it ship the BERT-Chinese
``vocab.txt`` with ``BertTokenizer``, not a ``spiece.model``. :class:`WordPieceTokenizer`
tokenizes as transformers' ``BertTokenizer`` does (google-research/bert ``tokenization.py``):

1. clean: drop NUL, U+FFFD and control characters, map every whitespace character to a space;
2. put spaces around CJK ideographs (each becomes its own word);
3. split on whitespace; lower-case and strip accents (NFD, drop ``Mn``) when ``lower``
   (``strip_accents`` can say otherwise); split every punctuation character off;
4. WordPiece: greedy longest match first, ``##`` marks a piece that continues a word; a word
   longer than ``max_input_chars_per_word`` or with no match is one ``[UNK]``.

Two choices, both transformers': a control character is any ``C*`` category (BERT's own code
says ``Cc``/``Cf``, so unassigned and private-use characters differ), and words longer than 100
characters are ``[UNK]`` (BERT: 200). One difference on purpose: a literal ``[MASK]`` or
``[SEP]`` in the text is text (``[``, ``mask``, ``]``), as in BERT's ``tokenization.py``;
transformers matches special tokens in raw text, so corpus text could inject them.

Special ids are wherever ``vocab.txt`` puts ``[PAD]``, ``[UNK]``, ``[CLS]``, ``[SEP]``,
``[MASK]`` (0, 100, 101, 102, 103 in the BERT vocabularies). A piece starts a whole word unless
it begins with ``##``; Chinese text is one ideograph per word, so whole-word masking of Chinese
words needs a word segmenter (docs/vocab.md).
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from albertctl.errors import AlbertctlError
from albertctl.fsutil import write_json
from albertctl.vocab.base import CONFIG_FILE, WORDPIECE_FILE, Tokenizer, WordStartRule
from albertctl.vocab.offsets import _per_char, code_points, monotonic_spans

BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
CONTINUATION = "##"
_WORD_CACHE_SIZE = 1 << 16


def wordpiece_word_start(piece: str) -> bool:
    """The WordPiece whole-word rule: a piece starts a word unless it begins with ``##``."""
    return not piece.startswith(CONTINUATION)


@dataclass(frozen=True, kw_only=True)
class WordPieceConfig:
    """How text is split before WordPiece; saved in ``vocab_config.json`` as ``normalization``."""

    lower: bool = True
    """Lower-case (``do_lower_case``; True for BERT-Chinese and albert_zh)."""
    strip_accents: bool | None = None
    """Strip accents (NFD, drop ``Mn``); None follows ``lower``, as transformers does."""
    tokenize_chinese_chars: bool = True
    """Make every CJK ideograph its own word."""
    max_input_chars_per_word: int = 100
    """Longer words become one ``[UNK]``."""

    def __post_init__(self) -> None:
        for name in ("lower", "tokenize_chinese_chars"):
            if not isinstance(getattr(self, name), bool):
                raise AlbertctlError(
                    f"normalization.{name} must be true or false, got {getattr(self, name)!r}"
                )
        if self.strip_accents not in (None, True, False):
            raise AlbertctlError(
                f"normalization.strip_accents must be true, false or null, got {self.strip_accents!r}"
            )
        if not isinstance(self.max_input_chars_per_word, int) or self.max_input_chars_per_word < 1:
            raise AlbertctlError(
                f"normalization.max_input_chars_per_word must be >= 1, got {self.max_input_chars_per_word!r}"
            )

    @property
    def strips_accents(self) -> bool:
        return self.lower if self.strip_accents is None else self.strip_accents

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WordPieceConfig:
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise AlbertctlError(
                f"unknown WordPiece settings {unknown} in {CONFIG_FILE}",
                hint=f"known settings: {sorted(cls.__dataclass_fields__)}",
            )
        return cls(**data)

    @classmethod
    def from_hf(cls, tokenizer_config: dict[str, Any]) -> WordPieceConfig:
        """The settings a transformers ``tokenizer_config.json`` gives ``BertTokenizer``."""
        return cls(
            lower=bool(tokenizer_config.get("do_lower_case", True)),
            strip_accents=tokenizer_config.get("strip_accents"),
            tokenize_chinese_chars=bool(tokenizer_config.get("tokenize_chinese_chars", True)),
        )


def is_chinese_char(code: int) -> bool:
    """CJK Unified Ideographs and their extensions and compatibility blocks (BERT's ranges);
    not Hangul, kana or CJK punctuation."""
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x2A6DF
        or 0x2A700 <= code <= 0x2B73F
        or 0x2B740 <= code <= 0x2B81F
        or 0x2B820 <= code <= 0x2CEAF
        or 0xF900 <= code <= 0xFAFF
        or 0x2F800 <= code <= 0x2FA1F
    )


def is_punctuation(char: str) -> bool:
    """Every non-alphanumeric ASCII printable character, and every Unicode ``P*`` character."""
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_whitespace(char: str) -> bool:
    return char in " \t\n\r" or unicodedata.category(char) == "Zs"


def _is_control(char: str) -> bool:
    return char not in "\t\n\r" and unicodedata.category(char).startswith("C")


# ASCII text: controls (Cc) deleted, tab/newline/return made spaces; no CJK to isolate.
_ASCII_CLEAN = {c: None for c in [*range(0, 9), 11, 12, *range(14, 32), 127]} | {9: " ", 10: " ", 13: " "}


def _clean(text: str, chinese: bool) -> str:
    if text.isascii():
        return text.translate(_ASCII_CLEAN)
    out: list[str] = []
    for char in text:
        code = ord(char)
        if code == 0 or code == 0xFFFD or _is_control(char):
            continue
        if _is_whitespace(char):
            out.append(" ")
        elif chinese and is_chinese_char(code):
            out.extend((" ", char, " "))
        else:
            out.append(char)
    return "".join(out)


def _split_punctuation(word: str) -> list[str]:
    if word.isalnum():  # the common case: nothing to split
        return [word]
    out: list[str] = []
    start = 0
    for i, char in enumerate(word):
        if is_punctuation(char):
            if start < i:
                out.append(word[start:i])
            out.append(char)
            start = i + 1
    if start < len(word):
        out.append(word[start:])
    return out


def _strip_accents(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")


class WordPieceTokenizer(Tokenizer):
    """A BERT ``vocab.txt`` with BERT's text splitting (see the module docstring)."""

    def __init__(
        self,
        vocab_file: Path,
        config: WordPieceConfig | None = None,
        *,
        word_start_rule: WordStartRule = wordpiece_word_start,
    ) -> None:
        self.vocab_file = Path(vocab_file)
        if not self.vocab_file.is_file():
            raise AlbertctlError(f"{self.vocab_file} does not exist", hint="pass a BERT vocab.txt")
        self.config = config or WordPieceConfig()
        self.word_start_rule = word_start_rule
        try:
            text = self.vocab_file.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise AlbertctlError(
                f"{self.vocab_file} is not UTF-8 (byte {exc.start})",
                hint="a vocab.txt is UTF-8, one piece per line",
            ) from None
        # One piece per line, id = line number (transformers keeps a duplicate's last id).
        self._pieces = text.split("\n")
        if self._pieces and self._pieces[-1] == "":
            self._pieces.pop()
        self.vocab_size = len(self._pieces)
        self._ids = {piece: i for i, piece in enumerate(self._pieces)}
        missing = [s for s in BERT_SPECIALS if s not in self._ids]
        if missing:
            raise AlbertctlError(
                f"{self.vocab_file} has no {', '.join(missing)} line",
                hint="a BERT vocab.txt lists [PAD], [UNK], [CLS], [SEP] and [MASK]",
            )
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = (
            self._ids[s] for s in BERT_SPECIALS
        )
        self._word_starts = None
        self._word_cache: dict[str, list[int]] = {}
        self._fingerprint: str | None = None

    # -- encoding -------------------------------------------------------------------------------

    def split_words(self, text: str) -> list[str]:
        """BERT's basic tokenization: the words WordPiece then splits (steps 1-3)."""
        config = self.config
        words: list[str] = []
        for word in _clean(text, config.tokenize_chinese_chars).split():
            if config.lower:
                word = word.lower()
            if config.strips_accents and not word.isascii():
                word = _strip_accents(word)
            words.extend(_split_punctuation(word))
        return words

    def _word_ids(self, word: str) -> list[int]:
        """Greedy longest-match-first WordPiece of one word (step 4)."""
        ids = self._word_cache.get(word)
        if ids is not None:
            return ids
        if len(word) > self.config.max_input_chars_per_word:
            ids = [self.unk_id]
        else:
            ids = []
            start = 0
            while start < len(word):
                end = len(word)
                while end > start:
                    piece = word[start:end] if start == 0 else CONTINUATION + word[start:end]
                    found = self._ids.get(piece)
                    if found is not None:
                        ids.append(found)
                        break
                    end -= 1
                else:
                    ids = [self.unk_id]
                    break
                start = end
        if len(self._word_cache) >= _WORD_CACHE_SIZE:
            self._word_cache.clear()
        self._word_cache[word] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        return [i for word in self.split_words(text) for i in self._word_ids(word)]

    def encode_with_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Ids of one text (exactly :meth:`encode`'s) and each token's span of the original text:
        a ``##ing`` piece covers its own characters, an ``[UNK]`` the whole word it replaced."""

        ids: list[int] = []
        starts: list[int] = []
        ends: list[int] = []
        for word, word_starts, word_ends in split_words_with_offsets(text, self.config):
            word_ids = self._word_ids(word)
            if word_ids == [self.unk_id]:
                ids.append(self.unk_id)
                starts.append(word_starts[0])
                ends.append(word_ends[-1])
                continue
            x = 0
            for k, token_id in enumerate(word_ids):
                y = x + len(self._pieces[token_id]) - (len(CONTINUATION) if k else 0)
                ids.append(token_id)
                starts.append(word_starts[x])
                ends.append(word_ends[y - 1])
                x = y
        return ids, monotonic_spans(starts, ends)

    def piece_to_id(self, piece: str) -> int:
        return self._ids.get(piece, self.unk_id)

    def is_user_symbol(self, token_id: int) -> bool:
        return False

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = True) -> str:
        if skip_special_tokens:  # [UNK] stays visible, as SentencePiece's unknown piece does
            ids = [i for i in ids if i == self.unk_id or not self._is_special(i)]
        return " ".join(self._pieces[i] for i in ids).replace(" " + CONTINUATION, "")

    # -- files ------------------------------------------------------------------------------------

    def fingerprint(self) -> str:
        """Hex sha256 of ``vocab.txt`` and the splitting settings."""
        if self._fingerprint is None:
            digest = hashlib.sha256(self.vocab_file.read_bytes())
            digest.update(json.dumps(self.config.to_dict(), sort_keys=True).encode())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def vocab_config(self) -> dict[str, Any]:
        return {
            "kind": "wordpiece",
            "vocab_file": WORDPIECE_FILE,
            "vocab_size": self.vocab_size,
            "special_ids": {s: self._ids[s] for s in BERT_SPECIALS},
            "normalization": self.config.to_dict(),
        }

    def save(self, out_dir: Path) -> None:
        """Copy ``vocab.txt``; write ``vocab_config.json`` and a ``tokenizer_config.json`` with which
        transformers' ``BertTokenizer`` (what albert_zh models use) splits text as we do."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / WORDPIECE_FILE
        if target.resolve() != self.vocab_file.resolve():
            shutil.copyfile(self.vocab_file, target)
        write_json(
            out_dir / "tokenizer_config.json",
            {
                "tokenizer_class": "BertTokenizer",
                "do_lower_case": self.config.lower,
                "strip_accents": self.config.strip_accents,
                "tokenize_chinese_chars": self.config.tokenize_chinese_chars,
                "model_max_length": 512,
                **{f"{s[1:-1].lower()}_token": s for s in BERT_SPECIALS},
            },
        )
        write_json(out_dir / CONFIG_FILE, self.vocab_config())

    def __repr__(self) -> str:
        return f"WordPieceTokenizer({str(self.vocab_file)!r}, vocab_size={self.vocab_size})"


# --- WordPiece: BERT's basic tokenization with offsets ----------------------------------------------

_DROP, _SPACE, _CJK, _KEEP = 0, 1, 2, 3


@functools.cache
def _wordpiece_class(char: str, chinese: bool) -> int:
    """What BERT's cleaning does with ``char`` (:func:`albertctl.vocab.wordpiece._clean`, then
    ``str.split``, which also splits on the U+2028/U+2029 separators cleaning keeps)."""
    code = ord(char)
    if code == 0 or code == 0xFFFD or _is_control(char):
        return _DROP
    if _is_whitespace(char) or char.isspace():
        return _SPACE
    if chinese and is_chinese_char(code):
        return _CJK
    return _KEEP


_ASCII_WORDPIECE = np.array([_wordpiece_class(chr(c), False) for c in range(128)], dtype=np.int64)


@functools.cache
def _wordpiece_length(char: str, lower: bool, strip: bool) -> int:
    """How many characters ``char`` becomes in its word (lower-case, then NFD without ``Mn``);
    additive over a word: NFD only reorders marks, and only the final sigma is contextual."""
    if lower:
        char = char.lower()
    return len(_strip_accents(char) if strip else char)


def _raw_words(text: str, chinese: bool) -> list[tuple[str, list[int]]]:
    """Whitespace-separated words of the cleaned text (each CJK ideograph alone), each with the
    original index of every character."""
    codes = code_points(text)
    if text.isascii():
        classes = _ASCII_WORDPIECE[codes]
    else:
        classes = _per_char(codes, functools.partial(_wordpiece_class, chinese=chinese))
    where = np.flatnonzero(classes != _DROP)  # dropped characters neither count nor split words
    kinds = classes[where]
    keep = kinds == _KEEP
    before = np.concatenate(([False], keep[:-1]))
    after = np.concatenate((keep[1:], [False]))
    first = np.flatnonzero((kinds == _CJK) | (keep & ~before))
    last = np.flatnonzero((kinds == _CJK) | (keep & ~after)) + 1
    words: list[tuple[str, list[int]]] = []
    for s, e in zip(first.tolist(), last.tolist(), strict=True):
        a, z = int(where[s]), int(where[e - 1]) + 1
        if z - a == e - s:  # no dropped character inside: a plain slice
            words.append((text[a:z], list(range(a, z))))
        else:
            index = where[s:e].tolist()
            words.append(("".join(text[i] for i in index), index))
    return words


def split_words_with_offsets(text: str, config: WordPieceConfig) -> list[tuple[str, list[int], list[int]]]:
    """:meth:`WordPieceTokenizer.split_words` with offsets: ``(word, starts, ends)`` where
    ``starts[j], ends[j]`` is the original span character ``j`` of ``word`` came from."""
    strip = config.strips_accents
    out: list[tuple[str, list[int], list[int]]] = []
    for raw, index in _raw_words(text, config.tokenize_chinese_chars):
        word = raw.lower() if config.lower else raw
        if strip and not word.isascii():
            word = _strip_accents(word)
        if raw.isascii():
            starts = index
            ends = [i + 1 for i in index]
        else:
            starts, ends = _expand(index, [_wordpiece_length(c, config.lower, strip) for c in raw])
        assert len(starts) == len(word), "word lengths must add up"
        x = 0
        for part in _split_punctuation(word):
            y = x + len(part)
            out.append((part, starts[x:y], ends[x:y]))
            x = y
    return out


def _expand(index: list[int], lengths: list[int]) -> tuple[list[int], list[int]]:
    """Spans of the characters ``lengths[i]`` makes of character ``index[i]``; a character that
    makes none (a dropped mark) joins the span of the one before it, all of whose characters
    then end after it."""
    starts: list[int] = []
    ends: list[int] = []
    made = 0  # characters the last character that made any made
    for i, count in zip(index, lengths, strict=True):
        if count == 0:
            if made:
                ends[-made:] = [i + 1] * made
            continue
        starts.extend([i] * count)
        ends.extend([i + 1] * count)
        made = count
    return starts, ends
