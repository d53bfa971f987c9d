"""Train an ALBERT vocabulary from a corpus: ``build_vocab``.

Streams the corpus once (:func:`albertctl.corpus.iter_segments`) and keeps a seeded reservoir of
at most ``input_sentence_size`` segments (memory is bounded by that, not by the corpus). Then, by
``kind``:

``sentencepiece`` (the default, what the released ALBERTs use): normalizes the sample exactly as
the tokenizer will at encoding time and trains SentencePiece with the reference flags
(docs/reference.md §1). ``character_coverage`` left unset is picked from the sample: 0.9995 when
most of its letters are CJK (SentencePiece's advice for Chinese and Japanese), else the
reference 0.99995; the report says which. Writes, atomically::

    OUT/spiece.model        the SentencePiece model (ALBERT id layout)
    OUT/spiece.vocab        piece <TAB> score, one per id

``wordpiece`` (what albert_zh and the Chinese BERTs use): a BERT-Chinese ``vocab.txt`` trained
with Hugging Face ``tokenizers`` (:mod:`albertctl.vocab.wordpiece_build`), read back by
:class:`~albertctl.vocab.wordpiece.WordPieceTokenizer`::

    OUT/vocab.txt               one piece per line, [PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103
    OUT/tokenizer_config.json   the same splitting for transformers' BertTokenizer

and for both::

    OUT/vocab_config.json   kind and normalization settings (read by load_tokenizer)
    OUT/manifest.json       options, inputs with sha256, counts, timings (written last)
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
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
from albertctl.vocab.tokenizer import (
    CLS,
    MASK,
    MODEL_FILE,
    PAD,
    SEP,
    UNK,
    VOCAB_FILE,
    WORDPIECE_FILE,
    SentencePieceTokenizer,
    Tokenizer,
)
from albertctl.vocab.wordpiece import WordPieceConfig, WordPieceTokenizer
from albertctl.vocab.wordpiece_build import (
    BERT_CHINESE_SPECIALS,
    require_tokenizers,
    strip_accents_for,
    train_wordpiece,
    write_wordpiece_vocab,
)

# The reference user-defined symbols (A:README.md), always split out as their own pieces.
REFERENCE_USER_SYMBOLS: tuple[str, ...] = ("(", ")", '"', "-", ".", "\u2013", "\u00a3", "\u20ac")
NUM_SPECIAL = 5  # <pad> <unk> [CLS] [SEP] [MASK]

ModelType = Literal["unigram", "bpe"]
VocabKind = Literal["sentencepiece", "wordpiece"]

# character_coverage when the user leaves it unset: SentencePiece's advice is 0.9995 for a
# script with thousands of characters (Chinese, Japanese), the reference 0.99995 otherwise.
REFERENCE_COVERAGE = 0.99995
CJK_COVERAGE = 0.9995
CJK_MAJORITY = 0.5  # share of letters that are CJK above which a corpus counts as CJK
CJK_SAMPLE_CHARS = 2_000_000  # characters of the (random) sample the share is measured on
# Settings only the SentencePiece trainer reads: --kind wordpiece warns when one is set.
SENTENCEPIECE_ONLY = (
    "model_type",
    "map_quotes",
    "character_coverage",
    "user_symbols",
    "threads",
    "max_sentence_length",
)


def parse_user_symbols(values: list[str] | None) -> tuple[str, ...] | None:
    """``--user-symbols`` values -> symbols: each value is split on whitespace (commas are kept,
    since ``,`` is a valid symbol); ``None`` means the reference default; ``""`` means none."""
    if values is None:
        return None
    return tuple(symbol for value in values for symbol in value.split())


@dataclass(frozen=True, kw_only=True)
class BuildVocabConfig:
    """Options of ``build-vocab``; the resolved config is written into ``manifest.json``."""

    kind: VocabKind = "sentencepiece"
    """Vocabulary kind: sentencepiece (spiece.model, as the released ALBERTs) or wordpiece (a
    BERT-Chinese vocab.txt, as albert_zh; needs the ``tokenizers`` extra). With wordpiece, every
    CJK character is its own token, other scripts get ``##`` continuation pieces, the special ids
    are bert-base-chinese's ([PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103), and the
    SentencePiece-only settings (model type, quotes, coverage, user symbols, threads, line
    length) do not apply."""
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
    character_coverage: float | None = setting(None, default_text="0.9995 if mostly CJK, else 0.99995")
    """Share of characters SentencePiece covers. Unset: 0.9995 when most letters of the sampled
    text are CJK (Chinese, Japanese), else 0.99995 (the reference); the report says which."""
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
        if self.kind not in ("sentencepiece", "wordpiece"):
            raise AlbertctlError(f"kind must be 'sentencepiece' or 'wordpiece', got {self.kind!r}")
        if self.kind == "wordpiece":
            if not isinstance(self.vocab_size, int) or self.vocab_size <= len(BERT_CHINESE_SPECIALS):
                raise AlbertctlError(
                    f"vocab_size must be an integer > {len(BERT_CHINESE_SPECIALS)} for kind wordpiece "
                    f"([PAD], [unused1..99], [UNK], [CLS], [SEP], [MASK]), got {self.vocab_size!r}"
                )
        elif (
            not isinstance(self.vocab_size, int) or self.vocab_size < NUM_SPECIAL + len(self.user_symbols) + 1
        ):
            raise AlbertctlError(
                f"vocab_size must be an integer > {NUM_SPECIAL + len(self.user_symbols)} "
                f"(5 special ids + {len(self.user_symbols)} user symbols), got {self.vocab_size!r}"
            )
        if self.model_type not in ("unigram", "bpe"):
            raise AlbertctlError(f"model_type must be 'unigram' or 'bpe', got {self.model_type!r}")
        coverage = self.character_coverage
        if coverage is not None and (
            isinstance(coverage, bool) or not isinstance(coverage, int | float) or not 0.0 < coverage <= 1.0
        ):
            raise AlbertctlError(f"character_coverage must be in (0, 1], got {coverage!r}")
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
        """The SentencePiece kind's normalization settings."""
        return NormalizationConfig(
            lower=self.lower, keep_accents=self.keep_accents, map_quotes=self.map_quotes
        )

    @property
    def wordpiece(self) -> WordPieceConfig:
        """The WordPiece kind's splitting settings (BERT-Chinese's for the defaults)."""
        return WordPieceConfig(
            lower=self.lower, strip_accents=strip_accents_for(self.lower, self.keep_accents)
        )


def ignored_settings(config: BuildVocabConfig) -> list[str]:
    """The SentencePiece-only settings ``config`` sets to other than their defaults when its kind
    is wordpiece (each as its flag), which that kind does not read."""
    if config.kind != "wordpiece":
        return []
    defaults = BuildVocabConfig()
    return [
        "--" + name.replace("_", "-")
        for name in SENTENCEPIECE_ONLY
        if getattr(config, name) != getattr(defaults, name)
    ]


_CJK_LETTER = re.compile(
    "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]"
)  # kana and the CJK ideograph blocks (wordpiece.is_chinese_char's, kana added for Japanese)
_LETTER = re.compile(r"[^\W\d_]")


def cjk_share(lines: Sequence[str], max_chars: int = CJK_SAMPLE_CHARS) -> float:
    """Share of the letters in ``lines`` (up to about ``max_chars`` characters read) that are CJK
    ideographs or kana; 0.0 for text without letters. ``lines`` should be a random sample (the
    reservoir is), so its head is one too."""
    letters = cjk = read = 0
    for line in lines:
        letters += len(_LETTER.findall(line))
        cjk += len(_CJK_LETTER.findall(line))
        read += len(line)
        if read >= max_chars:
            break
    return cjk / letters if letters else 0.0


def pick_character_coverage(given: float | None, share: float) -> tuple[float, str | None]:
    """The coverage to train with, and a note saying what was picked and why (None when the user
    gave it)."""
    if given is not None:
        return given, None
    if share > CJK_MAJORITY:
        return CJK_COVERAGE, f"character_coverage {CJK_COVERAGE} ({share:.0%} of sampled letters are CJK)"
    return (
        REFERENCE_COVERAGE,
        f"character_coverage {REFERENCE_COVERAGE} ({share:.0%} of sampled letters are CJK)",
    )


@dataclass(frozen=True)
class BuildVocabReport:
    """What ``build_vocab`` did; the same facts as ``manifest.json``."""

    out_dir: Path
    vocab_size: int
    kind: str
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
    picked: tuple[str, ...] = ()
    """Settings ``build_vocab`` chose itself, each with why (``character_coverage 0.9995 (...)``)."""
    warnings: tuple[str, ...] = ()
    """User settings the kind ignores."""


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
            character_coverage=(
                REFERENCE_COVERAGE if config.character_coverage is None else config.character_coverage
            ),
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
    when reading is done and the trainer starts.
    """
    files = resolve_inputs(inputs)
    out_dir = Path(out_dir)
    # Refuse a clashing output, or a missing optional trainer, before reading a large corpus.
    from albertctl.fsutil import check_output_dir

    check_output_dir(out_dir, overwrite=overwrite)
    if config.kind == "wordpiece":
        require_tokenizers()
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
    picked: list[str] = []
    warnings = [f"{flag} is ignored: --kind wordpiece does not read it" for flag in ignored_settings(config)]
    if config.kind == "sentencepiece":
        share = cjk_share(sample) if config.character_coverage is None else None
        coverage, note = pick_character_coverage(config.character_coverage, share or 0.0)
        config = dataclasses.replace(config, character_coverage=coverage)
        picked += [note] if note else []
    if on_train_start is not None:
        on_train_start()
    t1 = time.perf_counter()
    with atomic_dir(out_dir, overwrite=overwrite) as tmp:
        tokenizer = _train_into(tmp, sample, config)
        del sample
        if tokenizer.vocab_size < config.vocab_size:  # the WordPiece trainer ran out of merges
            warnings.append(
                f"the corpus gave {tokenizer.vocab_size:,} pieces, fewer than --vocab-size "
                f"{config.vocab_size:,}: every merge it holds was learned (add text for more)"
            )
        train_seconds = time.perf_counter() - t1
        vocab_files = [WORDPIECE_FILE] if config.kind == "wordpiece" else [MODEL_FILE, VOCAB_FILE]
        manifest = {
            "kind": "albertctl-vocab",
            "albertctl_version": __version__,
            "created_unix": round(started, 3),
            "config": _jsonable(asdict(config)),
            "vocab_kind": config.kind,
            "vocab_size": tokenizer.vocab_size,
            "model_sha256": tokenizer.fingerprint(),
            "files": {name: name for name in vocab_files},
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
            "picked": picked,
            "warnings": warnings,
        }
        write_json(tmp / "manifest.json", manifest)
    return BuildVocabReport(
        out_dir=out_dir,
        vocab_size=tokenizer.vocab_size,
        kind=config.kind,
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
        picked=tuple(picked),
        warnings=tuple(warnings),
    )


def _train_into(tmp: Path, sample: list[str], config: BuildVocabConfig) -> Tokenizer:
    """Train ``config.kind`` on ``sample`` (emptied as the trainer takes it), write its files and
    ``vocab_config.json`` into ``tmp``; returns the tokenizer reading them."""
    if config.kind == "wordpiece":
        splitting = config.wordpiece
        # Raw lines: the trainer's BertNormalizer splits them as WordPieceTokenizer will.
        pieces = train_wordpiece(_drain(sample), vocab_size=config.vocab_size, normalization=splitting)
        write_wordpiece_vocab(pieces, tmp / WORDPIECE_FILE)
        tokenizer: Tokenizer = WordPieceTokenizer(tmp / WORDPIECE_FILE, splitting)
    else:
        normalization = config.normalization
        model = train_sentencepiece(_drain_normalized(sample, normalization), config)
        (tmp / MODEL_FILE).write_bytes(model)
        write_vocab_file(tmp / MODEL_FILE, tmp / VOCAB_FILE)
        tokenizer = SentencePieceTokenizer(tmp / MODEL_FILE, normalization)
    tokenizer.save(tmp)
    return tokenizer


def _drain(sample: list[str]) -> Iterator[str]:
    """Yield each sampled line, dropping our copy as the trainer takes its own."""
    for index, line in enumerate(sample):
        sample[index] = ""
        if line:
            yield line


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
