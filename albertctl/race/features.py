"""RACE questions -> multiple-choice rows, as google-research/albert ``race_utils.py`` builds them.

Each option of a question becomes one row ``[CLS] article [SEP] question+option [SEP]`` (token
types 0 up to and including the first ``[SEP]``, 1 after). ``question+option`` is the question
with every ``_`` replaced by the option when it has a blank, else ``question + " " + option``
(:func:`join_question_option`, the reference's string join, done before tokenizing). Its tokens
keep their *last* ``max_qa_length`` (the reference's ``tokens[-max_qa_length:]``: a long
question loses its start, never the option), then the article keeps its first
``max_seq_length - 3 - len(qa)`` tokens.

Differences from the reference, and why:

* nothing is padded to ``max_seq_length`` when building: :class:`ChoiceFeatures` keeps the rows
  unpadded and :meth:`ChoiceFeatures.collate` pads each batch to its longest row (the reference's
  fixed-length batches are ``collate(..., pad_to_max=True)``, for benchmarks);
* each article is tokenized once (an article carries ~3.5 questions, i.e. ~14 rows) and every
  text goes through ``tokenizer.encode_batch``; the reference tokenized the article per question;
* question+option keeps at most ``max_seq_length - 3`` tokens even when ``max_qa_length`` is
  larger (``max_seq_length=128`` with the default 128): the reference made an over-long row there
  and failed an assert;
* a question may have any number of options (the reference assumed 4): a batch mixing counts pads
  the missing options with all-padding rows and ``choice_mask`` marks the real ones.

Storage is columnar: the article tokens once per distinct article, and per row how many of them
it keeps plus its own ``question+option`` tokens (int32), so the 351k train rows take ~85 MB.
Pure functions, no file I/O; torch is imported only by ``collate``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from albertctl.errors import AlbertctlError
from albertctl.race.data import RaceData, RaceExample
from albertctl.vocab.base import EncodedPair

if TYPE_CHECKING:
    import torch

    from albertctl.vocab import Tokenizer

MAX_SEQ_LENGTH = 512
"""The reference RACE ``max_seq_length``."""
MAX_QA_LENGTH = 128
"""The reference RACE ``max_qa_length``: question+option tokens kept per row."""


def join_question_option(question: str, option: str) -> str:
    """The text after the article's ``[SEP]``: the option fills every ``_`` blank, else follows."""
    # str.replace fills *every* underscore (a few RACE questions have two blanks), as the reference.
    return question.replace("_", option) if "_" in question else f"{question} {option}"


@dataclass(frozen=True)
class ChoiceFeatures:
    """Encoded multiple-choice examples, unpadded (see the module docstring for the layout).

    Example ``i`` owns rows ``choice_offsets[i]:choice_offsets[i + 1]``, one per option. Row ``r``
    is ``[CLS] article_tokens[a : a + context_lengths[r]] [SEP] qa_tokens[qa_offsets[r] :
    qa_offsets[r + 1]] [SEP]`` with ``a = article_offsets[row_article[r]]``.
    """

    ids: tuple[str, ...]
    """Per example, ``<article id>#<question index>``."""
    levels: tuple[str, ...]
    """Per example, ``middle`` or ``high``."""
    labels: np.ndarray
    """(N,) int64: the index of the right option."""
    lengths: np.ndarray
    """(N,) int64: the longest option row of each example, in tokens (batching groups by it)."""
    choice_offsets: np.ndarray
    """(N + 1,) int64: the rows of each example."""
    row_lengths: np.ndarray
    """(R,) int64: tokens per row, special tokens included."""
    row_article: np.ndarray
    """(R,) int64: which distinct article each row reads."""
    context_lengths: np.ndarray
    """(R,) int64: article tokens each row keeps."""
    qa_tokens: np.ndarray
    """int32, every row's (truncated) question+option tokens one after another."""
    qa_offsets: np.ndarray
    """(R + 1,) int64 into ``qa_tokens``."""
    article_tokens: np.ndarray
    """int32, every distinct article's full tokens one after another."""
    article_offsets: np.ndarray
    """(A + 1,) int64 into ``article_tokens``."""
    cls_id: int
    sep_id: int
    max_seq_length: int

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def num_choices(self) -> np.ndarray:
        """(N,) int64: options per example (4 everywhere in RACE)."""
        return np.diff(self.choice_offsets)

    @property
    def max_choices(self) -> int:
        """The most options any example has (0 when empty)."""
        return int(self.num_choices.max(initial=0))

    def row(self, r: int) -> EncodedPair:
        """Row ``r`` as ids and token types (for inspection and tests)."""
        a = int(self.article_offsets[self.row_article[r]])
        k = int(self.context_lengths[r])
        qa = self.qa_tokens[self.qa_offsets[r] : self.qa_offsets[r + 1]].tolist()
        ids = [self.cls_id, *self.article_tokens[a : a + k].tolist(), self.sep_id, *qa, self.sep_id]
        return EncodedPair(ids, [0] * (k + 2) + [1] * (len(qa) + 1))

    def option_rows(self, index: int) -> list[EncodedPair]:
        """The rows of example ``index``, one per option, unpadded."""
        start, end = int(self.choice_offsets[index]), int(self.choice_offsets[index + 1])
        return [self.row(r) for r in range(start, end)]

    def collate(self, rows: np.ndarray, *, pad_id: int, pad_to_max: bool = False) -> dict[str, torch.Tensor]:
        """One batch of examples ``rows``; see :func:`collate_choices`."""
        return collate_choices(self, rows, pad_id=pad_id, pad_to_max=pad_to_max)


def collate_choices(
    features: ChoiceFeatures, rows: np.ndarray, *, pad_id: int, pad_to_max: bool = False
) -> dict[str, torch.Tensor]:
    """Pad examples ``rows`` into one batch.

    input_ids, token_type_ids, input_mask: (B, C, L) int64, L the batch's longest row (or
    ``max_seq_length`` with ``pad_to_max``, the reference's fixed-length batches), C the batch's
    most options; labels (B,) int64; choice_mask (B, C) bool, False for an option slot an example
    does not have (an all-padding row: ids ``pad_id``, mask 0). The loss must drop those slots,
    e.g. ``logits.masked_fill(~choice_mask, torch.finfo(logits.dtype).min)``; the key is always
    present, all True when every example has C options (always so in RACE).
    """
    import torch

    rows = np.asarray(rows, dtype=np.int64)
    starts, ends = features.choice_offsets[rows], features.choice_offsets[rows + 1]
    num_choices = int((ends - starts).max(initial=0))
    width = features.max_seq_length if pad_to_max else int(features.lengths[rows].max(initial=0))
    shape = (len(rows), num_choices, width)
    ids = np.full(shape, pad_id, dtype=np.int64)
    types = np.zeros(shape, dtype=np.int64)
    mask = np.zeros(shape, dtype=np.int64)
    choice_mask = np.zeros(shape[:2], dtype=bool)
    article, qa_tokens = features.article_tokens, features.qa_tokens
    for b, (start, end) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        for c, r in enumerate(range(start, end)):
            a = int(features.article_offsets[features.row_article[r]])
            k = int(features.context_lengths[r])
            q0, q1 = int(features.qa_offsets[r]), int(features.qa_offsets[r + 1])
            n = k + (q1 - q0) + 3
            ids[b, c, 0] = features.cls_id
            ids[b, c, 1 : k + 1] = article[a : a + k]
            ids[b, c, k + 1] = features.sep_id
            ids[b, c, k + 2 : n - 1] = qa_tokens[q0:q1]
            ids[b, c, n - 1] = features.sep_id
            types[b, c, k + 2 : n] = 1
            mask[b, c, :n] = 1
            choice_mask[b, c] = True
    return {
        "input_ids": torch.from_numpy(ids),
        "token_type_ids": torch.from_numpy(types),
        "input_mask": torch.from_numpy(mask),
        "labels": torch.from_numpy(features.labels[rows]),
        "choice_mask": torch.from_numpy(choice_mask),
    }


def _check_lengths(max_seq_length: int, max_qa_length: int) -> None:
    if max_qa_length < 1:
        raise AlbertctlError(
            f"max_qa_length must be >= 1, got {max_qa_length}", hint="the reference uses 128"
        )
    if max_seq_length < 4:
        raise AlbertctlError(
            f"max_seq_length must be >= 4 ([CLS] [SEP] [SEP] and one token), got {max_seq_length}",
            hint="the reference uses 512",
        )


def _check_examples(examples: Sequence[RaceExample]) -> None:
    for example in examples:
        if not example.options:
            raise AlbertctlError(f"question {example.id} has no options", hint="give every question options")
        if not 0 <= example.label < len(example.options):
            raise AlbertctlError(
                f"question {example.id}: label {example.label} is outside its {len(example.options)} options",
                hint="labels index the options from 0",
            )


def _flat(pieces: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Token lists -> (all tokens int32, (len + 1,) int64 offsets)."""
    sizes = np.fromiter((len(p) for p in pieces), dtype=np.int64, count=len(pieces))
    offsets = np.zeros(len(pieces) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    tokens = np.fromiter(itertools.chain.from_iterable(pieces), dtype=np.int32, count=int(offsets[-1]))
    return tokens, offsets


def build_features(
    data: RaceData | Sequence[RaceExample],
    tokenizer: Tokenizer,
    *,
    max_seq_length: int = MAX_SEQ_LENGTH,
    max_qa_length: int = MAX_QA_LENGTH,
) -> ChoiceFeatures:
    """Encode every question's options as the reference does (see the module docstring)."""
    _check_lengths(max_seq_length, max_qa_length)
    examples = data.examples if isinstance(data, RaceData) else list(data)
    _check_examples(examples)
    # Distinct articles by text (the reader shares one string among an article's questions).
    article_of: dict[str, int] = {}
    for example in examples:
        article_of.setdefault(example.article, len(article_of))
    article_tokens, article_offsets = _flat(tokenizer.encode_batch(list(article_of)))
    article_lengths = np.diff(article_offsets)

    qa_texts = [join_question_option(e.question, option) for e in examples for option in e.options]
    # Keep the end of question+option: with a long question the option survives. Never more than
    # max_seq_length - 3 (where the reference would overflow its row and fail an assert).
    keep = min(max_qa_length, max_seq_length - 3)
    qa = [ids if len(ids) <= keep else ids[-keep:] for ids in tokenizer.encode_batch(qa_texts)]
    qa_tokens, qa_offsets = _flat(qa)
    qa_lengths = np.diff(qa_offsets)

    num_choices = np.fromiter((len(e.options) for e in examples), dtype=np.int64, count=len(examples))
    choice_offsets = np.zeros(len(examples) + 1, dtype=np.int64)
    np.cumsum(num_choices, out=choice_offsets[1:])
    example_article = np.fromiter((article_of[e.article] for e in examples), np.int64, count=len(examples))
    row_article = np.repeat(example_article, num_choices)  # (R,)
    context_lengths = np.minimum(article_lengths[row_article], max_seq_length - 3 - qa_lengths)  # (R,)
    row_lengths = context_lengths + qa_lengths + 3  # (R,)
    lengths = (
        np.maximum.reduceat(row_lengths, choice_offsets[:-1])
        if len(examples)
        else np.zeros(0, dtype=np.int64)
    )  # (N,)
    return ChoiceFeatures(
        ids=tuple(e.id for e in examples),
        levels=tuple(e.level for e in examples),
        labels=np.fromiter((e.label for e in examples), dtype=np.int64, count=len(examples)),
        lengths=lengths.astype(np.int64),
        choice_offsets=choice_offsets,
        row_lengths=row_lengths.astype(np.int64),
        row_article=row_article,
        context_lengths=context_lengths.astype(np.int64),
        qa_tokens=qa_tokens,
        qa_offsets=qa_offsets,
        article_tokens=article_tokens,
        article_offsets=article_offsets,
        cls_id=tokenizer.cls_id,
        sep_id=tokenizer.sep_id,
        max_seq_length=max_seq_length,
    )
