"""Train an ALBERT SentencePiece vocabulary from a corpus: ``build_vocab``.

Streams the corpus once (:func:`albertctl.corpus.iter_segments`), keeps a seeded reservoir of at
most ``input_sentence_size`` segments (memory is bounded by that, not by the corpus), normalizes
the sample exactly as the tokenizer will at encoding time, and trains SentencePiece with the
reference flags (docs/reference.md §1). Writes, atomically::

    OUT/spiece.model        the SentencePiece model (ALBERT id layout)
    OUT/spiece.vocab        piece <TAB> score, one per id
    OUT/vocab_config.json   normalization settings (read by load_tokenizer)
    OUT/manifest.json       options, inputs with sha256, counts, timings (written last)
"""

from __future__ import annotations

import io
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from albertctl import __version__
from albertctl.corpus import CorpusStats, ErrorPolicy, iter_segments, resolve_inputs, total_input_bytes
from albertctl.errors import AlbertctlError
from albertctl.fsutil import atomic_dir, locks_output, write_json
from albertctl.settings import check_ranges, setting
from albertctl.vocab.normalize import NormalizationConfig, normalize_text
from albertctl.vocab.tokenizer import CLS, MASK, MODEL_FILE, PAD, SEP, UNK, VOCAB_FILE, SentencePieceTokenizer

# The reference user-defined symbols (A:README.md), always split out as their own pieces.
REFERENCE_USER_SYMBOLS: tuple[str, ...] = ("(", ")", '"', "-", ".", "\u2013", "\u00a3", "\u20ac")
NUM_SPECIAL = 5  # <pad> <unk> [CLS] [SEP] [MASK]

ModelType = Literal["unigram", "bpe"]


def parse_user_symbols(values: list[str] | None) -> tuple[str, ...] | None:
    """``--user-symbols`` values -> symbols: each value is split on whitespace (commas are kept,
    since ``,`` is a valid symbol); ``None`` means the reference default; ``""`` means none."""
    if values is None:
        return None
    return tuple(symbol for value in values for symbol in value.split())


@dataclass(frozen=True, kw_only=True)
class BuildVocabConfig:
    """Options of ``build-vocab``; the resolved config is written into ``manifest.json``."""

    vocab_size: int = setting(30000, min=2)
    """Pieces in the vocabulary, special and user symbols included (the released models: 30000)."""
    model_type: ModelType = "unigram"
    """SentencePiece algorithm: unigram (as released) or bpe."""
    lower: bool = True
    """Lower-case text (released English models do), before training and encoding."""
    keep_accents: bool = False
    """Keep accents instead of NFKD + dropping combining marks (the reference)."""
    map_quotes: bool = True
    """Map two backticks or two apostrophes to a double quote (transformers does, TF ALBERT not)."""
    character_coverage: float = 0.99995
    """Share of characters covered; ~0.9995 for Chinese/Japanese."""
    input_sentence_size: int = setting(10_000_000, min=1)
    """Most lines sampled for training (seeded reservoir sample); bounds memory."""
    user_symbols: tuple[str, ...] = setting(
        REFERENCE_USER_SYMBOLS,
        parse=parse_user_symbols,
        cli_type=list[str],
        default_text=" ".join(REFERENCE_USER_SYMBOLS),
    )
    """Symbols always split out, space-separated, repeatable ('' for none). They get the ids
    after [MASK]."""
    seed: int = 12345
    """Random seed; the same seed gives the same output (the reservoir sample and the trainer)."""
    threads: int = setting(1, min=1)
    """SentencePiece trainer threads."""
    max_sentence_length: int = setting(4192, min=1)
    """Longest line in bytes SentencePiece trains on (it skips longer ones, as upstream does)."""
    text_field: str = "text"
    """JSON field holding the text of ``.jsonl`` inputs."""
    text_column: str = "text"
    """Column holding the text of ``.parquet`` inputs."""
    errors: ErrorPolicy = "strict"
    """strict: stop at non-UTF-8 bytes; skip: drop such lines and count them."""

    def __post_init__(self) -> None:
        check_ranges(self)
        if not isinstance(self.vocab_size, int) or self.vocab_size < NUM_SPECIAL + len(self.user_symbols) + 1:
            raise AlbertctlError(
                f"vocab_size must be an integer > {NUM_SPECIAL + len(self.user_symbols)} "
                f"(5 special ids + {len(self.user_symbols)} user symbols), got {self.vocab_size!r}"
            )
        if self.model_type not in ("unigram", "bpe"):
            raise AlbertctlError(f"model_type must be 'unigram' or 'bpe', got {self.model_type!r}")
        if not 0.0 < self.character_coverage <= 1.0:
            raise AlbertctlError(f"character_coverage must be in (0, 1], got {self.character_coverage!r}")
        if self.errors not in ("strict", "skip"):
            raise AlbertctlError(f"errors must be 'strict' or 'skip', got {self.errors!r}")
        reserved = {PAD, UNK, CLS, SEP, MASK}
        for symbol in self.user_symbols:
            if not symbol or any(c.isspace() for c in symbol):
                raise AlbertctlError(f"user_symbols must be non-empty and hold no spaces, got {symbol!r}")
            if symbol in reserved:
                raise AlbertctlError(f"user_symbols must not repeat a special token, got {symbol!r}")
        if len(set(self.user_symbols)) != len(self.user_symbols):
            raise AlbertctlError(f"user_symbols has duplicates: {list(self.user_symbols)}")

    @property
    def normalization(self) -> NormalizationConfig:
        return NormalizationConfig(
            lower=self.lower, keep_accents=self.keep_accents, map_quotes=self.map_quotes
        )


@dataclass(frozen=True)
class BuildVocabReport:
    """What ``build_vocab`` did; the same facts as ``manifest.json``."""

    out_dir: Path
    vocab_size: int
    files: int
    documents: int
    lines: int
    characters: int
    bytes_read: int
    skipped_lines: int
    sampled_lines: int
    read_seconds: float
    train_seconds: float
    manifest: dict[str, Any] = field(repr=False)


def reservoir_sample(items: Iterable[str], k: int, rng: np.random.Generator) -> list[str]:
    """A uniform sample of at most ``k`` items in one pass, memory O(k) (Li's Algorithm L).

    Keeps every item when there are at most ``k``, in their order. Draws a few random numbers
    per kept item rather than one per item, so sampling costs little next to reading.
    """
    iterator: Iterator[str] = iter(items)
    sample: list[str] = []
    for item in iterator:
        sample.append(item)
        if len(sample) == k:
            break
    else:
        return sample
    # w: the running maximum of k uniform keys, in the form Algorithm L uses.
    # Draws are taken in (0, 1] (1 - U) so log() never sees 0.
    w = math.exp(math.log(1.0 - rng.random()) / k)
    while True:
        skip = math.floor(math.log(1.0 - rng.random()) / math.log1p(-w)) if 0.0 < w < 1.0 else 0
        item = None
        for _ in range(skip + 1):
            item = next(iterator, None)
            if item is None:
                return sample
        sample[int(rng.integers(k))] = item
        w *= math.exp(math.log(1.0 - rng.random()) / k)


_TOO_BIG = re.compile(r"Vocabulary size (?:is )?too (?:big|high).*?Please set it to a value <= (\d+)")
_TOO_SMALL = re.compile(r"Vocabulary size is smaller than required_chars\. (\d+) vs (\d+)")


def train_sentencepiece(sentences: Iterable[str], config: BuildVocabConfig) -> bytes:
    """Train SentencePiece with the reference flags on already-normalized ``sentences``.

    Returns the serialized model (no paths are recorded in it, so the same sample and seed give
    the same bytes). An impossible vocabulary size becomes an :class:`AlbertctlError` naming the
    largest size that works.
    """
    import sentencepiece as spm

    # spm's trainer draws from a process-wide generator; seed it for a reproducible model.
    spm.set_random_generator_seed(config.seed)
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_writer=model,
            vocab_size=config.vocab_size,
            model_type=config.model_type,
            character_coverage=config.character_coverage,
            pad_id=0,
            unk_id=1,
            bos_id=-1,
            eos_id=-1,
            pad_piece=PAD,
            unk_piece=UNK,
            # Lists, not the README's comma string: spm parses that as CSV (docs/reference.md §1).
            control_symbols=[CLS, SEP, MASK],
            user_defined_symbols=list(config.user_symbols),
            shuffle_input_sentence=True,
            input_sentence_size=config.input_sentence_size,
            max_sentence_length=config.max_sentence_length,
            num_threads=config.threads,
            minloglevel=2,
        )
    except RuntimeError as exc:
        message = str(exc)
        too_big = _TOO_BIG.search(message)
        if too_big:
            largest = int(too_big.group(1))
            raise AlbertctlError(
                f"vocab size {config.vocab_size} is too large for this corpus",
                hint=f"the largest that works is --vocab-size {largest}, or add more text",
            ) from None
        too_small = _TOO_SMALL.search(message)
        if too_small:
            raise AlbertctlError(
                f"vocab size {config.vocab_size} cannot hold the corpus's "
                f"{too_small.group(2)} required characters",
                hint="raise --vocab-size or lower --character-coverage",
            ) from None
        if "sentences_.empty()" in message:  # spm drops lines over max_sentence_length bytes
            raise AlbertctlError(
                "SentencePiece kept no sentence to train on: every line is longer than "
                f"--max-sentence-length ({config.max_sentence_length} bytes), or the text is empty",
                hint="split the text into lines (a sentence or paragraph each), "
                "or raise --max-sentence-length",
            ) from None
        raise AlbertctlError(f"SentencePiece training failed: {message}") from None
    return model.getvalue()


def write_vocab_file(model_file: Path, out: Path) -> None:
    """Write ``piece<TAB>score`` per id, as SentencePiece's own ``.vocab`` file."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(model_file))
    lines = (f"{sp.IdToPiece(i)}\t{sp.GetScore(i):g}\n" for i in range(sp.GetPieceSize()))
    out.write_text("".join(lines), encoding="utf-8")


@locks_output("out_dir")
def build_vocab(
    inputs: Iterable[str | Path],
    out_dir: Path,
    config: BuildVocabConfig,
    *,
    overwrite: bool = False,
    on_progress: Callable[[CorpusStats], None] | None = None,
    on_train_start: Callable[[], None] | None = None,
    progress_every: int = 10_000,
) -> BuildVocabReport:
    """Build ``out_dir`` (see the module docstring) from ``inputs``; atomic; returns a report.

    ``on_progress`` is called with the live counters every ``progress_every`` segments read and
    once at the end of reading (for a progress bar over ``stats.bytes_read``); ``on_train_start``
    when reading is done and SentencePiece starts.
    """
    files = resolve_inputs(inputs)
    out_dir = Path(out_dir)
    # Refuse a clashing output before reading a possibly large corpus.
    from albertctl.fsutil import check_output_dir

    check_output_dir(out_dir, overwrite=overwrite)
    stats = CorpusStats()
    started = time.time()
    t0 = time.perf_counter()
    segments = iter_segments(
        files,
        text_field=config.text_field,
        text_column=config.text_column,
        errors=config.errors,
        stats=stats,
        hash_files=True,
    )
    rng = np.random.default_rng([config.seed, 0x766F6361])  # stream key: "voca"
    sample = reservoir_sample(
        _report_every(segments, stats, on_progress, progress_every), config.input_sentence_size, rng
    )
    if on_progress is not None:
        on_progress(stats)
    read_seconds = time.perf_counter() - t0
    if not sample:
        raise AlbertctlError(
            f"the corpus is empty: {len(files)} file(s) hold no text"
            + (f" ({stats.skipped_lines} non-UTF-8 lines skipped)" if stats.skipped_lines else ""),
            hint="check the inputs (and --text-field / --text-column for jsonl / parquet)",
        )
    normalization = config.normalization
    if on_train_start is not None:
        on_train_start()
    t1 = time.perf_counter()
    with atomic_dir(out_dir, overwrite=overwrite) as tmp:
        model = train_sentencepiece(_drain_normalized(sample, normalization), config)
        del sample
        (tmp / MODEL_FILE).write_bytes(model)
        write_vocab_file(tmp / MODEL_FILE, tmp / VOCAB_FILE)
        tokenizer = SentencePieceTokenizer(tmp / MODEL_FILE, normalization)
        tokenizer.save(tmp)
        train_seconds = time.perf_counter() - t1
        manifest = {
            "kind": "albertctl-vocab",
            "albertctl_version": __version__,
            "created_unix": round(started, 3),
            "config": _jsonable(asdict(config)),
            "vocab_size": tokenizer.vocab_size,
            "model_sha256": tokenizer.fingerprint(),
            "files": {MODEL_FILE: MODEL_FILE, VOCAB_FILE: VOCAB_FILE},
            "inputs": [
                {"path": str(f), "bytes": f.stat().st_size, "sha256": stats.sha256.get(str(f))} for f in files
            ],
            "counts": {
                "files": len(files),
                "documents": stats.documents,
                "lines": stats.lines,
                "characters": stats.characters,
                "bytes": stats.bytes_read,
                "skipped_non_utf8_lines": stats.skipped_lines,
                "sampled_lines": min(stats.lines, config.input_sentence_size),
            },
            "seconds": {"read_and_sample": round(read_seconds, 3), "train": round(train_seconds, 3)},
        }
        write_json(tmp / "manifest.json", manifest)
    return BuildVocabReport(
        out_dir=out_dir,
        vocab_size=tokenizer.vocab_size,
        files=len(files),
        documents=stats.documents,
        lines=stats.lines,
        characters=stats.characters,
        bytes_read=stats.bytes_read,
        skipped_lines=stats.skipped_lines,
        sampled_lines=min(stats.lines, config.input_sentence_size),
        read_seconds=read_seconds,
        train_seconds=train_seconds,
        manifest=manifest,
    )


def _drain_normalized(sample: list[str], normalization: NormalizationConfig) -> Iterator[str]:
    """Yield each sampled line normalized, dropping our copy as SentencePiece takes its own, so the
    sample is not held twice at the peak."""
    for index, line in enumerate(sample):
        sample[index] = ""
        text = normalize_text(line, normalization)
        if text:
            yield text


def _report_every(
    items: Iterator[str], stats: CorpusStats, on_progress: Callable[[CorpusStats], None] | None, every: int
) -> Iterator[str]:
    if on_progress is None:
        yield from items
        return
    for n, item in enumerate(items, start=1):
        if n % every == 0:
            on_progress(stats)
        yield item


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, tuple):
        return list(obj)
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, os.PathLike):
        return str(obj)
    return obj


def total_bytes(inputs: Iterable[str | Path]) -> int:
    """On-disk size of all inputs (the progress bar's total)."""
    return total_input_bytes(resolve_inputs(inputs))
