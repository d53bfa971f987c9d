"""The demo's inputs: an embedded default corpus and a fine-tuning task derived from it.

Nothing here is a data file in the repository. :func:`harvest_documents` reads the prose the
installed software already carries -- the docstrings of the Python standard library and of the
project's own dependencies (parsed with :mod:`ast`, never imported) and the language reference
that ships in ``pydoc_data`` -- and cleans it into documents of one-paragraph segments. A user
corpus (``.txt``/``.txt.gz`` in the corpus layout: one segment per line, a blank line between
documents) goes through the same split instead.

:func:`build_demo_data` writes ``OUT/``::

    train.txt       pretraining corpus (documents whose hash bucket is below 100 - heldout_percent)
    heldout.txt     every other document: never seen in pretraining; held-out MLM/SOP evaluation
    glue/CoLA/      train.tsv, dev.tsv (no header) and test.tsv (``index<TAB>sentence``): a word-order
                    acceptability task in the exact CoLA layout, built only from held-out documents,
                    train and dev/test from disjoint documents, labels balanced 50/50
    manifest.json   options, counts, sizes, source fingerprint, harvest time (written last)

Everything is deterministic: sources in sorted order, document buckets from a sha256 of the
document's text, corruptions from a ``numpy.random.Generator`` seeded from ``(seed, split)``.
"""

from __future__ import annotations

import ast
import functools
import gzip
import hashlib
import importlib.util
import re
import sys
import sysconfig
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from albertctl.errors import AlbertctlError
from albertctl.fsutil import atomic_dir, locks_output, sha256_json, write_json

# The project's runtime dependencies (always installed, versions pinned by pyproject.toml), in the
# order their docstrings are harvested after the standard library. Import names, not dist names.
DEFAULT_PACKAGES: tuple[str, ...] = ("numpy", "torch", "rich", "typer", "click", "pyarrow", "sentencepiece")

# Standard-library folders that hold tests, vendored wheels or third-party code, not reference prose.
_SKIP_DIRS = frozenset(
    {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__", "_bundled"}
)

Document = list[str]  # one cleaned segment (paragraph) per item


@dataclass(frozen=True, kw_only=True)
class DemoDataConfig:
    """How the demo corpus is harvested (or read) and split, and how the CoLA-layout task is made."""

    max_bytes: int = 4_000_000
    """Stop harvesting once the cleaned text reaches this many UTF-8 bytes (embedded corpus only)."""
    packages: tuple[str, ...] = DEFAULT_PACKAGES
    """Installed packages whose docstrings follow the standard library's, in this order."""
    min_words: int = 5
    """A paragraph with fewer words is dropped (headings, one-word notes)."""
    min_segments: int = 2
    """A document with fewer segments is dropped (sentence-order prediction needs two)."""
    heldout_percent: int = 20
    """Percent of documents (by text hash) kept out of pretraining for evaluation and the task."""
    max_train_examples: int = 4000
    """Cap on the task's train.tsv rows."""
    max_dev_examples: int = 1000
    """Cap on dev.tsv (and test.tsv) rows."""
    min_sentence_words: int = 6
    """Shortest sentence used by the task."""
    max_sentence_words: int = 30
    """Longest sentence used by the task."""
    corruption: str = "shuffle"
    """How a label-0 sentence is made: ``shuffle`` its inner words, or ``swap`` two of them."""
    seed: int = 12345
    """Seed for the labels and corruptions of the task."""

    def __post_init__(self) -> None:
        _check_range("max_bytes", self.max_bytes, 10_000, 10**11)
        _check_range("min_words", self.min_words, 1, 100)
        _check_range("min_segments", self.min_segments, 1, 100)
        _check_range("heldout_percent", self.heldout_percent, 5, 50)
        _check_range("max_train_examples", self.max_train_examples, 10, 10**7)
        _check_range("max_dev_examples", self.max_dev_examples, 10, 10**7)
        _check_range("min_sentence_words", self.min_sentence_words, 4, 200)
        _check_range("max_sentence_words", self.max_sentence_words, self.min_sentence_words, 500)
        if self.corruption not in CORRUPTIONS:
            raise AlbertctlError(
                f"corruption must be one of {', '.join(CORRUPTIONS)}, got {self.corruption!r}"
            )
        if self.seed < 0:
            raise AlbertctlError(f"seed must be >= 0, got {self.seed}")


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise AlbertctlError(f"{name} must be in [{low}, {high}], got {value}")


@dataclass(frozen=True)
class DemoDataReport:
    """What :func:`build_demo_data` wrote; also the body of ``manifest.json``."""

    source: str
    source_fingerprint: str
    documents: int
    segments: int
    bytes: int
    harvest_seconds: float
    train: dict[str, int]
    heldout: dict[str, int]
    task: dict[str, dict[str, int]]
    config: dict[str, object] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------
# Cleaning: pure functions, text in, paragraphs out.

_ROLE = re.compile(r":[\w.+-]+(?::[\w.+-]+)*:`(~?)([^`<]*?)(?:\s*<[^>]*>)?`")
_LITERAL = re.compile(r"``([^`]+)``|`([^`]+)`_?")
_EMPHASIS = re.compile(r"\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*")
_UNDERLINE = re.compile(r"^([-=~^*#\"'+`])\1{2,}\s*$")
_SPACE = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
# A line that starts a code block, a doctest, a directive, a field list or a table.
_NOT_PROSE_START = re.compile(r"^(>>>|\.\.\.|\.\. |:[\w ]+:|[@$%|+\-*=#{}\[\]<>])")


def strip_markup(text: str) -> str:
    """Remove reST roles, literals and emphasis markers, keeping their text."""
    # :class:`~a.b.C` renders as "C" in Sphinx, :class:`a.b.C` as "a.b.C".
    text = _ROLE.sub(lambda m: m.group(2).rsplit(".", 1)[-1] if m.group(1) else m.group(2), text)
    text = _LITERAL.sub(lambda m: m.group(1) or m.group(2), text)
    return _EMPHASIS.sub(lambda m: m.group(1) or m.group(2), text)


def is_prose(paragraph: str, *, min_words: int) -> bool:
    """A paragraph worth keeping: enough words, mostly letters, not code-looking."""
    words = paragraph.split()
    if len(words) < min_words:
        return False
    visible = [c for c in paragraph if not c.isspace()]
    letters = sum(c.isalpha() for c in visible)
    # Code and signatures are dense in brackets, underscores and operators; prose is not.
    return (
        letters >= 0.75 * len(visible) and paragraph.count("_") <= len(words) // 4 and "()" not in paragraph
    )


def clean_text(text: str, *, min_words: int) -> Document:
    """Split documentation text into cleaned one-line paragraphs.

    Paragraphs are separated by blank lines. A paragraph with an indented line (a code block, a
    numpydoc parameter description) or a line that opens a doctest, directive, list or table is
    dropped; a heading and its underline are removed; wrapped lines are joined with one space.
    """
    out: Document = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        lines = [line.rstrip() for line in block.strip("\n").split("\n")]
        if len(lines) >= 2 and _UNDERLINE.match(lines[1]):
            lines = lines[2:]  # "Title" + "=====": a heading
        lines = [line for line in lines if not _UNDERLINE.match(line)]
        if not lines or any(line[:1].isspace() or _NOT_PROSE_START.match(line) for line in lines):
            continue
        paragraph = _SPACE.sub(" ", strip_markup(" ".join(lines))).strip()
        if paragraph.endswith("::"):
            paragraph = paragraph[:-1]
        if is_prose(paragraph, min_words=min_words):
            out.append(paragraph)
    return out


def docstrings_of_source(source: bytes) -> list[str]:
    """Module, class and function docstrings of one Python file, in source order ([] if unparsable)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    docs: list[str] = []
    _collect_docstrings(tree, docs)
    return docs


_DOC_NODES = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _collect_docstrings(node: ast.AST, out: list[str]) -> None:
    """Pre-order over statements only (expressions never hold docstrings): ~10x faster than ast.walk."""
    if isinstance(node, _DOC_NODES) and (doc := ast.get_docstring(node)):
        out.append(doc)
    for name in ("body", "orelse", "handlers", "finalbody"):
        for child in getattr(node, name, ()):
            if isinstance(child, ast.stmt | ast.excepthandler):
                _collect_docstrings(child, out)


def split_sentences(paragraph: str) -> list[str]:
    """Split a paragraph after ``.``/``!``/``?`` followed by a capital or a quote (a simple rule)."""
    return [s.strip() for s in _SENTENCE_END.split(paragraph) if s.strip()]


# ----------------------------------------------------------------------------------------------
# Sources: the files to harvest, in a fixed order.


def _python_files(root: Path) -> list[Path]:
    files = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).parts
        if not any(part in _SKIP_DIRS for part in rel[:-1]) and not rel[-1].startswith("test_"):
            files.append(path)
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def _package_root(name: str) -> Path | None:
    """Source folder of an installed top-level package, found without importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def iter_sources(packages: Iterable[str]) -> Iterator[tuple[str, Path]]:
    """``(label, file)`` for the standard library, then each installed package, sorted within each."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in _python_files(stdlib):
        yield f"stdlib/{path.relative_to(stdlib).as_posix()}", path
    for name in packages:
        root = _package_root(name)
        if root is not None:
            for path in _python_files(root):
                yield f"{name}/{path.relative_to(root).as_posix()}", path


def source_fingerprint(packages: Iterable[str] = DEFAULT_PACKAGES) -> str:
    """sha256 of the Python version and every harvested file's label and size (stat only, fast).

    It changes when Python or a harvested package is upgraded, which is when the embedded
    corpus can change; the pipeline uses it to decide whether the demo data must be rebuilt.
    """
    listing = [(label, path.stat().st_size) for label, path in iter_sources(packages)]
    return sha256_json({"python": sys.version, "files": listing})


def _pydoc_topics() -> list[tuple[str, str]]:
    try:
        from pydoc_data.topics import topics
    except ImportError:  # some distributions strip pydoc_data
        return []
    return sorted(topics.items())


def harvest_documents(config: DemoDataConfig) -> Iterator[Document]:
    """Documents of the embedded corpus, cleaned and deduplicated, until ``config.max_bytes``.

    Order: the Python language reference (``pydoc_data`` topics), then the standard library's
    modules, then each of ``config.packages``; one document per topic or per source file.
    """
    seen: set[str] = set()
    total = 0

    def keep(paragraphs: Document) -> Document:
        fresh = []
        for paragraph in paragraphs:
            key = paragraph.lower()
            if key not in seen:
                seen.add(key)
                fresh.append(paragraph)
        return fresh

    def texts() -> Iterator[list[str]]:
        for _name, text in _pydoc_topics():
            yield [text]
        for _label, path in iter_sources(config.packages):
            yield docstrings_of_source(path.read_bytes())

    for docstrings in texts():
        doc = keep([p for text in docstrings for p in clean_text(text, min_words=config.min_words)])
        if len(doc) < config.min_segments:
            continue
        yield doc
        total += sum(len(line.encode("utf-8")) + 1 for line in doc) + 1
        if total >= config.max_bytes:
            return


def read_corpus_documents(paths: Iterable[Path]) -> Iterator[Document]:
    """Documents of ``.txt``/``.txt.gz`` files in the corpus layout (blank line between documents)."""
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise AlbertctlError(
                f"corpus file {path} does not exist", hint="check the path passed as --corpus"
            )
        if not path.name.endswith((".txt", ".txt.gz")):
            raise AlbertctlError(
                f"corpus file {path} is not .txt or .txt.gz",
                hint="the demo splits plain-text corpora; convert it, or run the stage commands directly",
            )
        opener = gzip.open if path.name.endswith(".gz") else open
        doc: Document = []
        with opener(path, "rt", encoding="utf-8", errors="strict") as handle:
            try:
                for raw in handle:
                    line = _SPACE.sub(" ", raw).strip()
                    if line:
                        doc.append(line)
                    elif doc:
                        yield doc
                        doc = []
            except UnicodeDecodeError as exc:
                raise AlbertctlError(
                    f"{path} is not UTF-8 text ({exc.reason})", hint="convert it to UTF-8"
                ) from exc
        if doc:
            yield doc


# ----------------------------------------------------------------------------------------------
# Splitting and the derived task.


def document_bucket(doc: Document) -> int:
    """A stable bucket in [0, 100) from the document's text, independent of corpus order."""
    digest = hashlib.sha256("\n".join(doc).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 100


def split_name(bucket: int, heldout_percent: int) -> str:
    """Which split a bucket belongs to: ``pretrain``, or held-out ``task-train``/``task-dev``/``task-test``.

    The held-out range ``[100 - heldout_percent, 100)`` is cut 60/20/20 so that the task's train,
    dev and test sentences come from disjoint documents that pretraining never saw.
    """
    start = 100 - heldout_percent
    if bucket < start:
        return "pretrain"
    position = (bucket - start) / heldout_percent
    return "task-train" if position < 0.6 else "task-dev" if position < 0.8 else "task-test"


def task_sentences(
    docs: Iterable[Document],
    *,
    min_words: int,
    max_words: int,
    exclude: set[str] | frozenset[str] = frozenset(),
) -> list[str]:
    """Sentences fit for the acceptability task, each once, none of them in ``exclude``.

    Fit: length in range, prose, at least two distinct inner words. ``exclude`` holds the
    pretraining text's sentences, so boilerplate repeated across documents cannot leak.
    """
    out: list[str] = []
    seen = set(exclude)
    for doc in docs:
        for paragraph in doc:
            for sentence in split_sentences(paragraph):
                words = sentence.split()
                inner = {w.lower() for w in words[1:-1]}
                fit = min_words <= len(words) <= max_words and len(inner) >= 2
                if fit and sentence not in seen and is_prose(sentence, min_words=min_words):
                    seen.add(sentence)
                    out.append(sentence)
    return out


def swap_two_words(sentence: str, rng: np.random.Generator) -> str:
    """Swap two different inner words (never the first or last), keeping the bag of words and the ends.

    Keeping the first word (capitalised) and the last (with the full stop) in place removes the
    surface cues, so only word order tells the two classes apart.
    """
    words = sentence.split()
    inner = list(range(1, len(words) - 1))
    assert len({words[i].lower() for i in inner}) >= 2, "task_sentences guarantees two distinct inner words"
    while True:
        i, j = sorted(rng.choice(inner, size=2, replace=False).tolist())
        if words[i].lower() != words[j].lower():
            break
    words[i], words[j] = words[j], words[i]
    return " ".join(words)


def shuffle_inner_words(sentence: str, rng: np.random.Generator) -> str:
    """Shuffle the inner words (first and last stay), so the result differs from the original.

    The bag of words and the ends are kept, so only word order tells the classes apart; unlike
    one swap, a whole sentence out of order is within reach of a small model after a few minutes
    of pretraining, which is what the demo can afford.
    """
    words = sentence.split()
    inner = words[1:-1]
    assert len({w.lower() for w in inner}) >= 2, "task_sentences guarantees two distinct inner words"
    while True:
        shuffled = [inner[k] for k in rng.permutation(len(inner))]
        if [w.lower() for w in shuffled] != [w.lower() for w in inner]:
            return " ".join([words[0], *shuffled, words[-1]])


def replace_inner_words(sentence: str, rng: np.random.Generator, pool: list[str]) -> str:
    """Replace a quarter of the inner words (at least one) with words drawn from ``pool``.

    ``pool`` holds every inner word of the task's sentences, so replacements follow the corpus's
    word frequencies: a rare word is no cue, only whether a word fits its context is, which is
    what masked-LM pretraining learns. The first and last words stay.
    """
    words = sentence.split()
    inner = list(range(1, len(words) - 1))
    count = max(1, round(len(inner) / 4))
    for i in rng.choice(inner, size=count, replace=False).tolist():
        while True:
            word = pool[int(rng.integers(len(pool)))]
            if word.lower() != words[i].lower():
                words[i] = word
                break
    return " ".join(words)


# name -> (the split's sentences -> a corruption ``(sentence, rng) -> sentence``).
CORRUPTIONS: dict[str, Callable[[list[str]], Callable[[str, np.random.Generator], str]]] = {
    "shuffle": lambda sentences: shuffle_inner_words,
    "swap": lambda sentences: swap_two_words,
    "replace": lambda sentences: functools.partial(
        replace_inner_words, pool=[w for s in sentences for w in s.split()[1:-1]]
    ),
}


def make_acceptability_examples(
    sentences: list[str], *, limit: int, rng: np.random.Generator, corruption: str = "shuffle"
) -> list[tuple[int, str]]:
    """``(label, sentence)`` pairs, exactly balanced: 1 = original, 0 = corrupted (inner words
    shuffled, or two of them swapped).

    Each source sentence is used once, either as it is or corrupted, so a pair of versions of
    the same sentence never appears in one split.
    """
    order = rng.permutation(len(sentences))[: min(limit, len(sentences))]
    half = len(order) // 2
    examples = [(1, sentences[k]) for k in order[:half]]
    corrupt = CORRUPTIONS[corruption](sentences)
    examples += [(0, corrupt(sentences[k], rng)) for k in order[half : 2 * half]]
    return [examples[k] for k in rng.permutation(len(examples))]


def write_cola(glue_dir: Path, splits: dict[str, list[tuple[int, str]]]) -> None:
    """Write the exact CoLA file layout: 4 columns, no header in train/dev; ``index sentence`` in test."""
    cola = glue_dir / "CoLA"
    cola.mkdir(parents=True)
    for name in ("train", "dev"):
        with open(cola / f"{name}.tsv", "w", encoding="utf-8", newline="\n") as handle:
            for label, sentence in splits[name]:
                handle.write(f"demo\t{label}\t{'' if label else '*'}\t{sentence}\n")
    with open(cola / "test.tsv", "w", encoding="utf-8", newline="\n") as handle:
        handle.write("index\tsentence\n")
        for index, (_label, sentence) in enumerate(splits["test"]):
            handle.write(f"{index}\t{sentence}\n")


def _write_documents(path: Path, docs: list[Document]) -> dict[str, int]:
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        for doc in docs:
            handle.write("\n".join(doc) + "\n\n")
    return {
        "documents": len(docs),
        "segments": sum(len(doc) for doc in docs),
        "bytes": path.stat().st_size,
    }


@locks_output("out")
def build_demo_data(
    out: Path, config: DemoDataConfig, *, corpus: list[Path] | None = None, overwrite: bool = False
) -> DemoDataReport:
    """Harvest (or read ``corpus``), split by document, derive the CoLA-layout task; write ``out``."""
    started = time.perf_counter()
    if corpus:
        source = "corpus: " + ", ".join(str(p) for p in corpus)
        docs = list(read_corpus_documents(corpus))
        fingerprint = sha256_json([str(p) for p in corpus])
    else:
        source = "embedded: Python reference + docstrings of the stdlib and " + ", ".join(config.packages)
        docs = list(harvest_documents(config))
        fingerprint = source_fingerprint(config.packages)
    harvest_seconds = time.perf_counter() - started
    if not docs:
        raise AlbertctlError(
            f"no documents found in {source}", hint="documents need two non-empty lines or more"
        )

    parts: dict[str, list[Document]] = {"pretrain": [], "task-train": [], "task-dev": [], "task-test": []}
    for doc in docs:
        parts[split_name(document_bucket(doc), config.heldout_percent)].append(doc)
    heldout = parts["task-train"] + parts["task-dev"] + parts["task-test"]
    if not parts["pretrain"] or not heldout:
        raise AlbertctlError(
            f"{source} has {len(docs)} documents, too few to hold some out",
            hint="give a corpus with more documents (a blank line separates documents)",
        )

    pretrain_sentences = {s for doc in parts["pretrain"] for p in doc for s in split_sentences(p)}
    splits = {}
    for index, name in enumerate(("train", "dev", "test")):
        sentences = task_sentences(
            parts[f"task-{name}"],
            min_words=config.min_sentence_words,
            max_words=config.max_sentence_words,
            exclude=pretrain_sentences,
        )
        limit = config.max_train_examples if name == "train" else config.max_dev_examples
        rng = np.random.default_rng([config.seed, index])
        splits[name] = make_acceptability_examples(
            sentences, limit=limit, rng=rng, corruption=config.corruption
        )
    if len(splits["train"]) < 10 or len(splits["dev"]) < 10:
        raise AlbertctlError(
            f"the held-out documents of {source} give only {len(splits['train'])} train and "
            f"{len(splits['dev'])} dev sentences for the task",
            hint="use a larger corpus or a larger heldout_percent",
        )

    with atomic_dir(out, overwrite=overwrite) as tmp:
        train_stats = _write_documents(tmp / "train.txt", parts["pretrain"])
        heldout_stats = _write_documents(tmp / "heldout.txt", heldout)
        write_cola(tmp / "glue", splits)
        report = DemoDataReport(
            source=source,
            source_fingerprint=fingerprint,
            documents=len(docs),
            segments=sum(len(doc) for doc in docs),
            bytes=train_stats["bytes"] + heldout_stats["bytes"],
            harvest_seconds=round(harvest_seconds, 2),
            train=train_stats,
            heldout=heldout_stats,
            task={
                name: {"rows": len(rows), "label_1": sum(label for label, _ in rows)}
                for name, rows in splits.items()
            },
            config=asdict(config),
        )
        write_json(tmp / "manifest.json", asdict(report))
    return report
