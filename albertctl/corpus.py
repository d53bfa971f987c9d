"""Read raw text corpora into documents of segments, streaming.

One reader shared by ``build-vocab`` and ``make-data``. Inputs are files, directories (searched
recursively, in sorted order) and globs of these types:

- ``.txt`` / ``.txt.gz``: the reference layout, one segment (sentence or paragraph) per line and a
  blank line between documents.
- ``.jsonl`` / ``.jsonl.gz``: one JSON object per line; its ``text_field`` is one document whose
  non-blank lines are its segments.
- ``.parquet``: one row per document in ``text_column``; segments as for jsonl.

Nothing is held beyond the current document. Bytes that are not UTF-8 raise an
:class:`~albertctl.errors.AlbertctlError` naming the file and byte offset, or (``errors="skip"``) the
line is dropped and counted in :class:`CorpusStats`.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import io
import json
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from albertctl.errors import AlbertctlError

ErrorPolicy = Literal["strict", "skip"]

# Longest suffixes first so ``.txt.gz`` is not taken for ``.gz``.
_SUFFIXES: tuple[tuple[str, str], ...] = (
    (".jsonl.gz", "jsonl"),
    (".txt.gz", "txt"),
    (".jsonl", "jsonl"),
    (".txt", "txt"),
    (".parquet", "parquet"),
)
SUPPORTED_SUFFIXES: tuple[str, ...] = tuple(suffix for suffix, _ in _SUFFIXES)


@dataclass
class CorpusStats:
    """Counters a reader updates while it streams (read them during or after iteration).

    ``bytes_read`` counts on-disk bytes (compressed bytes for ``.gz``), so it can be compared with
    :func:`total_input_bytes` for a progress bar.
    """

    files: int = 0
    documents: int = 0
    lines: int = 0
    characters: int = 0
    bytes_read: int = 0
    skipped_lines: int = 0
    # path -> hex sha256 of the file's bytes, filled when ``hash_files`` is set.
    sha256: dict[str, str] = field(default_factory=dict)


def file_kind(path: Path) -> str:
    """``"txt"``, ``"jsonl"`` or ``"parquet"`` from the file name, else a clear error."""
    name = path.name.lower()
    for suffix, kind in _SUFFIXES:
        if name.endswith(suffix):
            return kind
    raise AlbertctlError(
        f"unknown file type: {path}",
        hint=f"inputs must end in one of {', '.join(SUPPORTED_SUFFIXES)}",
    )


def _is_supported(path: Path) -> bool:
    name = path.name.lower()
    return any(name.endswith(suffix) for suffix in SUPPORTED_SUFFIXES)


def resolve_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files, directories (recursive, sorted, supported types only) and globs to files.

    Order is the order of ``paths``, each expanded in sorted order; duplicates are kept once.
    """
    resolved: list[Path] = []
    for raw in paths:
        text = str(raw)
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and _is_supported(p))
            if not found:
                raise AlbertctlError(
                    f"directory {path} holds no corpus files",
                    hint=f"expected files ending in {', '.join(SUPPORTED_SUFFIXES)}",
                )
            resolved.extend(found)
        elif path.is_file():
            file_kind(path)
            resolved.append(path)
        elif glob.has_magic(text):
            matches = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
            if not matches:
                raise AlbertctlError(f"no file matches {text}", hint="check the pattern")
            for match in matches:
                file_kind(match)
            resolved.extend(matches)
        else:
            raise AlbertctlError(f"input {path} does not exist", hint="check the path")
    unique = list(dict.fromkeys(resolved))
    if not unique:
        raise AlbertctlError("no input files given", hint="pass at least one file, directory or glob")
    return unique


def total_input_bytes(files: Sequence[Path]) -> int:
    """Sum of on-disk sizes, the total for a bytes progress bar."""
    return sum(Path(f).stat().st_size for f in files)


class _CountingReader(io.RawIOBase):
    """A raw binary stream over a file that counts (and optionally hashes) the bytes read."""

    def __init__(self, handle: IO[bytes], stats: CorpusStats, digest: Any | None) -> None:
        super().__init__()
        self._handle = handle
        self._stats = stats
        self._digest = digest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._handle.readinto(buffer)  # type: ignore[attr-defined]
        self._stats.bytes_read += n
        if self._digest is not None:
            self._digest.update(memoryview(buffer)[:n])
        return n


_BLOCK_BYTES = 1 << 20


def _checked_blocks(stream: IO[bytes], path: Path) -> Iterator[bytes]:
    """The stream in blocks of whole lines (only the last may lack its ``\\n``); a .gz that is not
    gzip, or is cut short, is one clear error."""
    pending = b""
    try:
        while block := stream.read(_BLOCK_BYTES):
            cut = block.rfind(b"\n") + 1
            if cut == 0:
                pending += block
                continue
            yield pending + block[:cut]
            pending = block[cut:]
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise AlbertctlError(
            f"{path} is not a complete gzip file ({exc})",
            hint="check it with `gzip -t`, re-compress it, or pass the uncompressed .txt",
        ) from None
    if pending:
        yield pending


def _iter_line_blocks(
    path: Path, stats: CorpusStats, errors: ErrorPolicy, hash_files: bool
) -> Iterator[list[str]]:
    """Yield the lines of a (possibly gzipped) text file a block at a time, decoded, without
    their line endings (a list per block of about ``_BLOCK_BYTES``).

    Lines end at ``\\n`` only (a ``\\r`` before it is dropped). A block of lines is decoded at
    once; only a block with invalid UTF-8 is gone through line by line, to skip the bad lines or
    to name the first bad byte's offset.
    """
    digest = hashlib.sha256() if hash_files else None
    offset = 0  # byte offset of the current block in the uncompressed stream
    gzipped = path.name.lower().endswith(".gz")
    with open(path, "rb", buffering=0) as raw:
        counted = _CountingReader(raw, stats, digest)
        stream: IO[bytes]
        if gzipped:
            stream = gzip.GzipFile(fileobj=counted, mode="rb")  # type: ignore[arg-type]
        else:
            stream = io.BufferedReader(counted, buffer_size=_BLOCK_BYTES)  # type: ignore[arg-type]
        with stream:
            for block in _checked_blocks(stream, path):
                try:
                    text = block.decode("utf-8")
                except UnicodeDecodeError:
                    yield list(_decode_lines(block, offset, path, stats, errors, gzipped))
                else:
                    lines = text.split("\n")
                    if not lines[-1]:
                        lines.pop()  # the block ended with a line break
                    if "\r" in text:
                        lines = [line.rstrip("\r") for line in lines]
                    yield lines
                offset += len(block)
    if digest is not None:
        stats.sha256[str(path)] = digest.hexdigest()


def _iter_decoded_lines(
    path: Path, stats: CorpusStats, errors: ErrorPolicy, hash_files: bool
) -> Iterator[str]:
    """Each line of a (possibly gzipped) text file, decoded (see :func:`_iter_line_blocks`)."""
    for lines in _iter_line_blocks(path, stats, errors, hash_files):
        yield from lines


def _decode_lines(
    block: bytes, offset: int, path: Path, stats: CorpusStats, errors: ErrorPolicy, gzipped: bool
) -> Iterator[str]:
    """The lines of a block that holds invalid UTF-8, one at a time: skipped or an error."""
    for line in io.BytesIO(block):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            if errors == "skip":
                stats.skipped_lines += 1
                offset += len(line)
                continue
            where = "uncompressed byte offset" if gzipped else "byte offset"
            raise AlbertctlError(
                f"{path} is not UTF-8 text: invalid byte 0x{line[exc.start]:02x} at {where} "
                f"{offset + exc.start}",
                hint="convert the file to UTF-8, or pass --errors skip to drop such lines",
            ) from None
        offset += len(line)
        yield text.rstrip("\r\n")


def _segments_of(text: str) -> list[str]:
    """Non-blank lines of a document's text, stripped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def _iter_txt(path: Path, stats: CorpusStats, errors: ErrorPolicy, hash_files: bool) -> Iterator[list[str]]:
    """Documents of stripped non-blank lines; a blank (or whitespace-only) line ends one. A block
    of lines at a time: C-speed strips and joins, no Python step per line."""
    document: list[str] = []
    for lines in _iter_line_blocks(path, stats, errors, hash_files):
        segments = [line.strip() for line in lines]
        blank = [i for i, segment in enumerate(segments) if not segment]
        stats.lines += len(segments) - len(blank)
        stats.characters += sum(map(len, segments))
        start = 0
        for end in blank:
            document.extend(segments[start:end])
            if document:
                yield document
                document = []
            start = end + 1
        document.extend(segments[start:])
    if document:
        yield document


def _iter_jsonl(
    path: Path, stats: CorpusStats, errors: ErrorPolicy, hash_files: bool, text_field: str
) -> Iterator[list[str]]:
    for number, line in enumerate(_iter_decoded_lines(path, stats, errors, hash_files), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise AlbertctlError(
                f"{path} line {number} is not valid JSON ({exc.msg})",
                hint="each line must be one JSON object",
            ) from None
        if not isinstance(record, dict) or text_field not in record:
            raise AlbertctlError(
                f"{path} line {number} has no field {text_field!r}",
                hint="pass --text-field with the name of the field that holds the text",
            )
        value = record[text_field]
        if value is None:
            continue
        segments = _segments_of(str(value))
        stats.lines += len(segments)
        stats.characters += sum(len(s) for s in segments)
        if segments:
            yield segments


def _iter_parquet(path: Path, stats: CorpusStats, hash_files: bool, text_column: str) -> Iterator[list[str]]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise AlbertctlError(
            f"{path} is not a readable parquet file ({exc})", hint="check the file"
        ) from None
    names = parquet.schema_arrow.names
    if text_column not in names:
        raise AlbertctlError(
            f"{path} has no column {text_column!r} (columns: {', '.join(names)})",
            hint="pass --text-column with the name of the column that holds the text",
        )
    size = path.stat().st_size
    # Row groups are decoded one at a time: memory is one batch, not the file.
    for batch in parquet.iter_batches(batch_size=1024, columns=[text_column]):
        for value in batch.column(0).to_pylist():
            if value is None:
                continue
            segments = _segments_of(str(value))
            stats.lines += len(segments)
            stats.characters += sum(len(s) for s in segments)
            if segments:
                yield segments
    stats.bytes_read += size  # counted when the whole file has been read
    if hash_files:
        from albertctl.fsutil import sha256_file

        stats.sha256[str(path)] = sha256_file(path)


def iter_documents(
    paths: Iterable[str | Path],
    *,
    text_field: str = "text",
    text_column: str = "text",
    errors: ErrorPolicy = "strict",
    stats: CorpusStats | None = None,
    hash_files: bool = False,
) -> Iterator[list[str]]:
    """Yield documents (lists of non-empty, stripped segments) from files, directories and globs.

    Args:
        paths: files, directories or glob patterns (see the module docstring for the types).
        text_field: the JSON field holding the text in ``.jsonl`` inputs.
        text_column: the column holding the text in ``.parquet`` inputs.
        errors: ``"strict"`` raises on bytes that are not UTF-8; ``"skip"`` drops such lines.
        stats: counters updated while streaming (files, documents, lines, bytes, skipped lines).
        hash_files: also record each file's sha256 in ``stats.sha256`` (computed while reading).

    Empty documents are never yielded. Inputs are resolved (and missing or unknown files
    reported) before the first document is read.
    """
    if errors not in ("strict", "skip"):
        raise AlbertctlError(f"errors must be 'strict' or 'skip', got {errors!r}")
    files = resolve_inputs(paths)
    counters = stats if stats is not None else CorpusStats()
    return _iter_files(files, counters, text_field, text_column, errors, hash_files)


def _iter_files(
    files: list[Path],
    stats: CorpusStats,
    text_field: str,
    text_column: str,
    errors: ErrorPolicy,
    hash_files: bool,
) -> Iterator[list[str]]:
    for path in files:
        kind = file_kind(path)
        if kind == "txt":
            documents = _iter_txt(path, stats, errors, hash_files)
        elif kind == "jsonl":
            documents = _iter_jsonl(path, stats, errors, hash_files, text_field)
        else:
            documents = _iter_parquet(path, stats, hash_files, text_column)
        for document in documents:
            stats.documents += 1
            yield document
        stats.files += 1


def iter_segments(
    paths: Iterable[str | Path],
    *,
    text_field: str = "text",
    text_column: str = "text",
    errors: ErrorPolicy = "strict",
    stats: CorpusStats | None = None,
    hash_files: bool = False,
) -> Iterator[str]:
    """Every segment of every document, in order (what a vocabulary is trained on)."""
    for document in iter_documents(
        paths,
        text_field=text_field,
        text_column=text_column,
        errors=errors,
        stats=stats,
        hash_files=hash_files,
    ):
        yield from document
