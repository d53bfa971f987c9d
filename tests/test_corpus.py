"""Tests for albertctl.corpus: every input type, directories and globs, errors, streaming."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from albertctl.corpus import CorpusStats, iter_documents, iter_segments, resolve_inputs
from albertctl.errors import AlbertctlError

TXT = "First sentence.\nSecond one.\n\n\nOther doc line.\r\n   \n  padded line  \nlast"
EXPECTED = [["First sentence.", "Second one."], ["Other doc line."], ["padded line", "last"]]


def _write_jsonl(path: Path, records: list[dict], *, compress: bool = False) -> None:
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    path.write_bytes(gzip.compress(data) if compress else data)


def test_txt_blank_lines_separate_documents(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text(TXT, encoding="utf-8")
    stats = CorpusStats()
    assert list(iter_documents([path], stats=stats, hash_files=True)) == EXPECTED
    assert stats.documents == 3 and stats.lines == 5 and stats.files == 1
    assert stats.bytes_read == path.stat().st_size
    assert stats.characters == sum(len(s) for d in EXPECTED for s in d)
    assert stats.sha256[str(path)] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_txt_gz_reads_like_txt(tmp_path: Path) -> None:
    path = tmp_path / "a.txt.gz"
    path.write_bytes(gzip.compress(TXT.encode()))
    stats = CorpusStats()
    assert list(iter_documents([path], stats=stats, hash_files=True)) == EXPECTED
    assert stats.bytes_read == path.stat().st_size  # compressed bytes, to match the progress total
    assert stats.sha256[str(path)] == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("compress", [False, True])
def test_jsonl_one_document_per_record(tmp_path: Path, compress: bool) -> None:
    path = tmp_path / ("a.jsonl.gz" if compress else "a.jsonl")
    _write_jsonl(
        path,
        [{"body": "One.\nTwo.\n"}, {"body": "  \n"}, {"body": None}, {"body": "Three."}],
        compress=compress,
    )
    assert list(iter_documents([path], text_field="body")) == [["One.", "Two."], ["Three."]]


def test_jsonl_missing_field_names_file_line_and_flag(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    _write_jsonl(path, [{"text": "ok"}, {"content": "no text"}])
    with pytest.raises(AlbertctlError, match=r"a\.jsonl line 2 has no field 'text'") as info:
        list(iter_documents([path]))
    assert "--text-field" in str(info.value)


def test_jsonl_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "ok"}\n{not json\n', encoding="utf-8")
    with pytest.raises(AlbertctlError, match="line 2 is not valid JSON"):
        list(iter_documents([path]))


def test_parquet_text_column(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    table = pa.table({"id": [1, 2, 3], "content": ["A b.\nC d.", None, "E f."]})
    pq.write_table(table, path, row_group_size=2)
    stats = CorpusStats()
    assert list(iter_documents([path], text_column="content", stats=stats)) == [["A b.", "C d."], ["E f."]]
    assert stats.bytes_read == path.stat().st_size
    with pytest.raises(AlbertctlError, match=r"no column 'text' \(columns: id, content\)"):
        list(iter_documents([path]))


def test_directories_are_recursive_sorted_and_skip_other_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.txt").write_text("B.", encoding="utf-8")
    (tmp_path / "sub" / "a.txt").write_text("A.", encoding="utf-8")
    (tmp_path / "notes.md").write_text("ignored", encoding="utf-8")
    assert resolve_inputs([tmp_path]) == [tmp_path / "b.txt", tmp_path / "sub" / "a.txt"]
    assert list(iter_segments([tmp_path])) == ["B.", "A."]


def test_globs_and_duplicates(tmp_path: Path) -> None:
    for name in ("x1.txt", "x2.txt", "y.txt"):
        (tmp_path / name).write_text(name, encoding="utf-8")
    files = resolve_inputs([str(tmp_path / "x*.txt"), tmp_path / "x1.txt"])
    assert files == [tmp_path / "x1.txt", tmp_path / "x2.txt"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.txt", "does not exist"),
        ("nomatch*.txt", "no file matches"),
        ("data.csv", "unknown file type"),
    ],
)
def test_bad_inputs_are_clear_errors(tmp_path: Path, name: str, message: str) -> None:
    if name.endswith(".csv"):
        (tmp_path / name).write_text("a,b", encoding="utf-8")
    with pytest.raises(AlbertctlError, match=message):
        iter_documents([tmp_path / name])


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "readme.md").write_text("x", encoding="utf-8")
    with pytest.raises(AlbertctlError, match="holds no corpus files"):
        resolve_inputs([tmp_path])


def test_non_utf8_strict_names_file_and_byte_offset(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(b"good line\nbad \xff here\nmore\n")
    with pytest.raises(
        AlbertctlError, match=r"bad\.txt is not UTF-8 text: invalid byte 0xff at byte offset 14"
    ) as info:
        list(iter_documents([path]))
    assert "--errors skip" in str(info.value)


def test_non_utf8_skip_drops_and_counts(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt.gz"
    path.write_bytes(gzip.compress(b"good line\nbad \xff here\n\xfe\nmore\n"))
    stats = CorpusStats()
    assert list(iter_documents([path], errors="skip", stats=stats)) == [["good line", "more"]]
    assert stats.skipped_lines == 2


@pytest.mark.parametrize("block", [1, 5, 17, 1 << 20])
def test_lines_are_the_same_whatever_the_block_size(block: int, tmp_path: Path, monkeypatch) -> None:
    """Lines are read in blocks: lines across block ends, \\r\\n, a lone \\r inside a line, no
    final line break, and the offset of a bad byte in a later block, as a line-by-line read."""
    import albertctl.corpus as corpus

    monkeypatch.setattr(corpus, "_BLOCK_BYTES", block)
    path = tmp_path / "lines.txt"
    path.write_bytes(b"first line\r\nsecond\rstill second\n\n\nthird doc \xc3\xa9t\xc3\xa9\r\r\nlast")
    assert list(iter_documents([path])) == [
        ["first line", "second\rstill second"],
        ["third doc \u00e9t\u00e9", "last"],
    ]
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"x" * 30 + b"\n" + b"ok\n" + b"no \xff\n" + b"fine\n")
    with pytest.raises(AlbertctlError, match="invalid byte 0xff at byte offset 37"):
        list(iter_documents([bad]))
    stats = CorpusStats()
    assert list(iter_documents([bad], errors="skip", stats=stats)) == [["x" * 30, "ok", "fine"]]
    assert stats.skipped_lines == 1


def test_reading_is_streaming(tmp_path: Path) -> None:
    # 4 MiB of text: after the first document only the first read buffer (1 MiB) has been read.
    path = tmp_path / "big.txt"
    path.write_text(("word " * 20 + "\n\n") * 40_000, encoding="utf-8")
    stats = CorpusStats()
    documents = iter_documents([path], stats=stats)
    assert next(documents) == [("word " * 20).strip()]
    assert 0 < stats.bytes_read < path.stat().st_size // 2


@pytest.mark.parametrize("kind", ["not gzip", "truncated"])
def test_a_broken_gz_is_one_error_line(kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import gzip

    from conftest import run_cli_error

    path = tmp_path / "corpus.txt.gz"
    whole = gzip.compress(("a line of text for the vocabulary\n" * 2000).encode())
    path.write_bytes(b"plain text, not gzip\n" if kind == "not gzip" else whole[: len(whole) // 2])
    argv = ["build-vocab", str(path), "--out", str(tmp_path / "vocab"), "--vocab-size", "50"]
    assert "is not a complete gzip file" in run_cli_error(argv, capsys)
    assert not (tmp_path / "vocab").exists()
