"""What every vocabulary kind shares: the :class:`Tokenizer` contract, file names, special ids.

:mod:`albertctl.vocab.tokenizer` (SentencePiece, and :func:`~albertctl.vocab.tokenizer.load_tokenizer`),
:mod:`albertctl.vocab.wordpiece` and :mod:`albertctl.vocab.hf_export` all import from here, and
the tokenizer module imports the other two, so imports between them go one way. Every name here
is also importable from :mod:`albertctl.vocab.tokenizer`, where it has always been.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from albertctl.errors import AlbertctlError

MODEL_FILE = "spiece.model"
VOCAB_FILE = "spiece.vocab"
CONFIG_FILE = "vocab_config.json"
WORDPIECE_FILE = "vocab.txt"
SPIECE_UNDERLINE = "\u2581"

PAD, UNK, CLS, SEP, MASK = "<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_IDS: dict[str, int] = {PAD: 0, UNK: 1, CLS: 2, SEP: 3, MASK: 4}

# A function of a piece's text: does this piece begin a new whole word?
WordStartRule = Callable[[str], bool]


@dataclass(frozen=True)
class EncodedPair:
    """``[CLS] A [SEP] (B [SEP])`` ids and their token types (0 for A, 1 for B)."""

    input_ids: list[int]
    token_type_ids: list[int]


def truncate_pair(a: list[int], b: list[int], max_tokens: int) -> tuple[list[int], list[int]]:
    """Drop the last token of the longer side (B on a tie) until ``len(a) + len(b) <= max_tokens``."""
    a, b = list(a), list(b)
    while len(a) + len(b) > max_tokens:
        if len(a) > len(b):
            a.pop()
        else:
            b.pop()
    return a, b


class Tokenizer(abc.ABC):
    """A vocabulary with ALBERT's special tokens: what every stage after build-vocab uses.

    Subclasses set ``vocab_size``, the special ids and ``_pieces`` (the piece of each id), and
    implement :meth:`encode`, :meth:`decode`, :meth:`fingerprint`, :meth:`vocab_config` and
    :meth:`save`; pairs, word starts and inspection are shared.
    """

    vocab_size: int
    pad_id: int
    unk_id: int
    cls_id: int
    sep_id: int
    mask_id: int
    word_start_rule: WordStartRule
    _pieces: list[str]
    _word_starts: list[bool] | None = None

    @abc.abstractmethod
    def encode(self, text: str) -> list[int]:
        """Ids of one text, without special tokens."""

    @abc.abstractmethod
    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = True) -> str:
        """Text of ``ids`` (normalized, as the tokenizer saw it)."""

    @abc.abstractmethod
    def fingerprint(self) -> str:
        """Hex sha256 identifying the vocabulary (data and checkpoints record it)."""

    @abc.abstractmethod
    def vocab_config(self) -> dict[str, Any]:
        """What ``vocab_config.json`` holds for this tokenizer (``kind`` first)."""

    @abc.abstractmethod
    def save(self, out_dir: Path) -> None:
        """Write the files :func:`load_tokenizer` needs (and transformers' tokenizer files)."""

    def _is_special(self, token_id: int) -> bool:
        """Whether ``token_id`` is a special token (a word start, never a masking candidate's inner piece)."""
        return token_id in (self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id)

    def encode_batch(self, texts: Sequence[str], *, num_threads: int | None = None) -> list[list[int]]:
        """Ids of many texts."""
        return [self.encode(t) for t in texts]

    def encode_with_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Ids of one text (always exactly :meth:`encode`'s) and, for each, the ``(start, end)``
        character span of the original ``text`` it came from (see :mod:`albertctl.vocab.offsets`)."""
        raise NotImplementedError(f"{type(self).__name__} does not give token offsets")

    def encode_batch_with_offsets(
        self, texts: Sequence[str], *, num_threads: int | None = None
    ) -> list[tuple[list[int], list[tuple[int, int]]]]:
        """:meth:`encode_with_offsets` of many texts."""
        return [self.encode_with_offsets(t) for t in texts]

    def tokenize(self, text: str) -> list[str]:
        """Pieces of one text (for inspection)."""
        return [self._pieces[i] for i in self.encode(text)]

    def encode_pair(
        self, a: str | list[int], b: str | list[int] | None = None, max_length: int = 512
    ) -> EncodedPair:
        """``[CLS] A [SEP] (B [SEP])``, truncated to ``max_length`` as the reference classifier does.

        ``a`` and ``b`` are texts or already-encoded ids.
        """
        ids_a = self.encode(a) if isinstance(a, str) else list(a)
        if b is None:
            if max_length < 2:
                raise AlbertctlError(f"max_length must be >= 2 for a single text, got {max_length}")
            ids_a = ids_a[: max_length - 2]
            return EncodedPair([self.cls_id, *ids_a, self.sep_id], [0] * (len(ids_a) + 2))
        if max_length < 3:
            raise AlbertctlError(f"max_length must be >= 3 for a pair, got {max_length}")
        ids_b = self.encode(b) if isinstance(b, str) else list(b)
        ids_a, ids_b = truncate_pair(ids_a, ids_b, max_length - 3)
        input_ids = [self.cls_id, *ids_a, self.sep_id, *ids_b, self.sep_id]
        token_type_ids = [0] * (len(ids_a) + 2) + [1] * (len(ids_b) + 1)
        return EncodedPair(input_ids, token_type_ids)

    def id_to_piece(self, token_id: int) -> str:
        return self._pieces[token_id]

    def word_starts(self, ids: Sequence[int]) -> list[bool]:
        """Whether each id begins a whole word; special ids (``[CLS]``, ``[SEP]``, ...) always do."""
        if self._word_starts is None:
            self._word_starts = [
                self._is_special(i) or self.word_start_rule(p) for i, p in enumerate(self._pieces)
            ]
        table = self._word_starts
        return [table[i] for i in ids]
