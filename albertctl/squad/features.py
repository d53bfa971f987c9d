"""SQuAD examples -> model windows (features), as the reference builds them, dynamically padded.

Each question becomes one or more ``[CLS] query [SEP] window [SEP]`` rows (token types 0 for
``[CLS] query [SEP]``, 1 for ``window [SEP]``): the query is cut to ``max_query_length`` tokens
and the paragraph's tokens are covered by windows of at most ``max_seq_length - len(query) - 3``
tokens whose starts are ``doc_stride`` apart (the last window ends at the paragraph's end). A
token seen by several windows has "max context" in the one where it has the most tokens on its
shorter side (the reference's ``min(left, right) + 0.01 * window length``); post-processing
starts answers only at such tokens.

Differences from the reference (google-research/albert ``squad_utils.py``, transformers'
``squad_convert_examples_to_features``), and why:

* Tokens map to characters of the ORIGINAL context through the tokenizer's offsets
  (``encode_with_offsets``), so an answer's character span maps to exactly the tokens it
  overlaps; the reference's whitespace-word alignment and ``_improve_answer_span`` search are
  not needed, and post-processing cuts the answer straight out of the context.
* Each distinct context is tokenized once (SQuAD has ~5 questions per paragraph), and questions
  are encoded in one batch.
* Training under 1.1 skips windows that do not hold the whole answer (the issue asks for it; the
  reference points them at ``[CLS]``, teaching a v1.1 model a null answer it never gives).
  Under 2.0 they, and impossible questions, get ``start = end = 0`` (``[CLS]``) as in the reference.
* Rows are not padded (each batch is padded to its longest row, as GLUE's); ``collate(pad_to=)``
  and :func:`reference_padded` give the reference's fixed ``max_seq_length`` layout.
* A paragraph with no tokens still gets one (empty) window, so every question gets a prediction;
  the reference drops such a question.

Pure functions; no file I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from albertctl.errors import AlbertctlError
from albertctl.squad.data import SquadData, SquadExample, check_version

if TYPE_CHECKING:
    import torch

    from albertctl.vocab import Tokenizer


@dataclass(frozen=True)
class SquadFeatures:
    """The windows of a set of questions, columnar and unpadded (N features, L_i tokens each)."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    example_index: np.ndarray
    """(N,) int64: the question (index into the examples) each feature is a window of."""
    context_index: np.ndarray
    """(N,) int64: the paragraph (index into ``context_offsets``) the window is cut from."""
    context_starts: np.ndarray
    """(N,) int64: position in the feature of the window's first token (query length + 2)."""
    window_starts: np.ndarray
    """(N,) int64: index of the window's first token among its paragraph's tokens."""
    window_lengths: np.ndarray
    """(N,) int64: context tokens in the window."""
    max_context: list[np.ndarray]
    """Per feature, (L_i,) bool: the token has max context in this window (False off the context)."""
    context_offsets: list[np.ndarray]
    """Per distinct paragraph, (T, 2) int64 ``[start, end)`` character span of each of its tokens."""
    start_positions: np.ndarray | None
    """(N,) int64 answer start token in the feature (0 = [CLS]: no answer here); training only."""
    end_positions: np.ndarray | None
    """(N,) int64 answer end token (inclusive); training only."""
    max_seq_length: int
    version: str
    skipped_examples: int = 0
    """Training: answerable questions left out: no answer, one that covers no token, or (1.1) one
    that no window holds whole."""

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def training(self) -> bool:
        return self.start_positions is not None

    @property
    def lengths(self) -> np.ndarray:
        """Row lengths in tokens, (N,) int64."""
        return np.fromiter((len(ids) for ids in self.input_ids), dtype=np.int64, count=len(self.input_ids))

    def token_spans(self, feature: int) -> np.ndarray:
        """(L, 2) int64 character span in the context of each token of ``feature``; -1 for
        ``[CLS]``, the query and ``[SEP]``."""
        spans = np.full((len(self.input_ids[feature]), 2), -1, dtype=np.int64)
        first, start = int(self.context_starts[feature]), int(self.window_starts[feature])
        n = int(self.window_lengths[feature])
        spans[first : first + n] = self.context_offsets[self.context_index[feature]][start : start + n]
        return spans

    def collate(self, rows: np.ndarray, *, pad_id: int, pad_to: int | None = None) -> dict[str, torch.Tensor]:
        """:func:`collate` of ``rows`` (the shared fine-tuning loop's batch contract)."""
        return collate(self, rows, pad_id=pad_id, pad_to=pad_to)


def doc_windows(num_tokens: int, max_tokens: int, doc_stride: int) -> list[tuple[int, int]]:
    """``(start, length)`` windows covering ``num_tokens`` context tokens, as the reference cuts them.

    Starts advance by ``doc_stride`` (or by the window, if shorter); the last window ends at the
    last token. No tokens -> one empty window.
    """
    windows: list[tuple[int, int]] = []
    start = 0
    while start < num_tokens:
        length = min(num_tokens - start, max_tokens)
        windows.append((start, length))
        if start + length == num_tokens:
            break
        start += min(length, doc_stride)
    return windows or [(0, 0)]


def max_context_flags(windows: list[tuple[int, int]]) -> list[np.ndarray]:
    """Per window, (length,) bool: the token's best window (most context on its shorter side) is
    this one; ties go to the earlier window, as in the reference."""
    starts = np.array([s for s, _ in windows], dtype=np.int64)[:, None]  # (W, 1)
    lengths = np.array([n for _, n in windows], dtype=np.int64)[:, None]  # (W, 1)
    pos = np.arange(int((starts + lengths).max()), dtype=np.int64)[None, :]  # (1, T)
    left, right = pos - starts, starts + lengths - 1 - pos  # (W, T)
    score = np.where((left >= 0) & (right >= 0), np.minimum(left, right) + 0.01 * lengths, -np.inf)
    best = score.argmax(axis=0)  # (T,) first maximum = earliest window
    return [best[s : s + n] == w for w, (s, n) in enumerate(windows)]


def char_span_to_tokens(offsets: np.ndarray, start: int, end: int) -> tuple[int, int] | None:
    """First and last token (inclusive) whose ``[start, end)`` span overlaps the characters
    ``[start, end)``; a zero-width token counts only strictly inside. None when none overlaps."""
    hit = np.flatnonzero((offsets[:, 1] > start) & (offsets[:, 0] < end))
    return (int(hit[0]), int(hit[-1])) if len(hit) else None


def _encode_contexts(
    tokenizer: Tokenizer, examples: Sequence[SquadExample]
) -> tuple[list[int], list[list[int]], list[np.ndarray]]:
    """Tokenize each distinct context once -> (context index per example, ids and (T, 2) offsets
    per context)."""
    index: dict[str, int] = {}
    per_example = [index.setdefault(e.context, len(index)) for e in examples]
    try:
        encoded = tokenizer.encode_batch_with_offsets(list(index))
    except NotImplementedError:
        raise AlbertctlError(
            f"{type(tokenizer).__name__} cannot report the character offsets of its tokens",
            hint="SQuAD needs a tokenizer with encode_with_offsets (SentencePiece or WordPiece)",
        ) from None
    ids = [list(tokens) for tokens, _ in encoded]
    offsets = [np.asarray(spans, dtype=np.int64).reshape(len(tokens), 2) for tokens, spans in encoded]
    return per_example, ids, offsets


def _answer_tokens(example: SquadExample, offsets: np.ndarray, version: str) -> tuple[int, int] | None:
    """Training target of one question in paragraph tokens: (-1, -1) for a v2.0 impossible
    question, None when it cannot be trained on (no answer, or one that covers no token)."""
    if example.is_impossible:
        if version == "1.1":
            raise AlbertctlError(
                f"question {example.qid} is marked is_impossible, which SQuAD v1.1 does not have",
                hint="this is SQuAD 2.0 data: use --version 2.0",
            )
        return (-1, -1)
    if not example.answers:
        return None
    answer = example.answers[0]  # the reference trains on the first answer
    return char_span_to_tokens(offsets, answer.start, answer.end)


def build_features(
    data: SquadData | Sequence[SquadExample],
    tokenizer: Tokenizer,
    *,
    max_seq_length: int = 384,
    doc_stride: int = 128,
    max_query_length: int = 64,
    training: bool,
    version: str | None = None,
) -> SquadFeatures:
    """The windows of every question (see the module docstring); ``version`` defaults to the data's."""
    examples = data.examples if isinstance(data, SquadData) else list(data)
    if version is None:
        if not isinstance(data, SquadData):
            raise AlbertctlError(
                "build_features needs version= for a list of examples", hint="pass 1.1 or 2.0"
            )
        version = data.version
    check_version(version)
    if max_seq_length - max_query_length - 3 < 1 or doc_stride < 1:
        raise AlbertctlError(
            f"max_seq_length {max_seq_length} with max_query_length {max_query_length} and doc_stride "
            f"{doc_stride} leaves no room for context",
            hint="max_seq_length must exceed max_query_length + 3, and doc_stride must be >= 1",
        )
    cls, sep = tokenizer.cls_id, tokenizer.sep_id
    ctx_of, ctx_ids, ctx_offsets = _encode_contexts(tokenizer, examples)
    queries = tokenizer.encode_batch([e.question for e in examples])
    cols: dict[str, list] = {k: [] for k in ("ids", "types", "ex", "ctx", "first", "wstart", "wlen", "flags")}
    starts: list[int] = []
    ends: list[int] = []
    windows_cache: dict[tuple[int, int], tuple[list[tuple[int, int]], list[np.ndarray]]] = {}
    skipped = 0
    for e, example in enumerate(examples):
        c = ctx_of[e]
        query = queries[e][:max_query_length]
        target = _answer_tokens(example, ctx_offsets[c], version) if training else None
        if training and target is None:
            skipped += 1
            continue
        key = (len(ctx_ids[c]), max_seq_length - len(query) - 3)
        if key not in windows_cache:
            windows = doc_windows(key[0], key[1], doc_stride)
            windows_cache[key] = (windows, max_context_flags(windows))
        windows, flags = windows_cache[key]
        first = len(query) + 2
        before = len(cols["ids"])
        for (start, length), flag in zip(windows, flags, strict=True):
            if target is not None:
                inside = target[0] >= start and target[1] < start + length
                if not inside and version == "1.1":
                    continue  # v1.1: a window without the whole answer teaches nothing true
                starts.append(target[0] - start + first if inside else 0)
                ends.append(target[1] - start + first if inside else 0)
            cols["ids"].append([cls, *query, sep, *ctx_ids[c][start : start + length], sep])
            cols["types"].append([0] * first + [1] * (length + 1))
            full = np.zeros(first + length + 1, dtype=bool)
            full[first : first + length] = flag
            cols["flags"].append(full)
            for name, value in (("ex", e), ("ctx", c), ("first", first), ("wstart", start), ("wlen", length)):
                cols[name].append(value)
        skipped += len(cols["ids"]) == before  # v1.1: an answer longer than any window

    def column(name: str) -> np.ndarray:
        return np.asarray(cols[name], dtype=np.int64)

    return SquadFeatures(
        input_ids=cols["ids"],
        token_type_ids=cols["types"],
        example_index=column("ex"),
        context_index=column("ctx"),
        context_starts=column("first"),
        window_starts=column("wstart"),
        window_lengths=column("wlen"),
        max_context=cols["flags"],
        context_offsets=ctx_offsets,
        start_positions=np.asarray(starts, dtype=np.int64) if training else None,
        end_positions=np.asarray(ends, dtype=np.int64) if training else None,
        max_seq_length=max_seq_length,
        version=version,
        skipped_examples=skipped,
    )


def pad_rows(
    data: SquadFeatures, rows: np.ndarray, *, pad_id: int, pad_to: int | None = None
) -> dict[str, np.ndarray]:
    """Numpy batch of ``rows``: input_ids, token_type_ids, input_mask (B, W) int64 with W the
    longest row (or ``pad_to``); start/end_positions (B,) when training."""
    longest = max((len(data.input_ids[r]) for r in rows), default=0)
    width = longest if pad_to is None else pad_to
    if width < longest:
        raise ValueError(f"pad_to={pad_to} is shorter than the longest row ({longest} tokens)")
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    types = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        n = len(data.input_ids[r])
        ids[i, :n] = data.input_ids[r]
        types[i, :n] = data.token_type_ids[r]
        mask[i, :n] = 1
    batch = {"input_ids": ids, "token_type_ids": types, "input_mask": mask}
    if data.start_positions is not None and data.end_positions is not None:
        batch["start_positions"] = data.start_positions[rows]
        batch["end_positions"] = data.end_positions[rows]
    return batch


def collate(
    data: SquadFeatures, rows: np.ndarray, *, pad_id: int, pad_to: int | None = None
) -> dict[str, torch.Tensor]:
    """Pad one batch to its longest row (or ``pad_to``): :func:`pad_rows` as int64 tensors."""
    import torch

    return {k: torch.from_numpy(v) for k, v in pad_rows(data, rows, pad_id=pad_id, pad_to=pad_to).items()}


def reference_padded(data: SquadFeatures, *, pad_id: int) -> dict[str, np.ndarray]:
    """Every feature padded to ``max_seq_length``: the reference's fixed layout, for benchmarks."""
    return pad_rows(data, np.arange(len(data)), pad_id=pad_id, pad_to=data.max_seq_length)
