"""``albertctl build-vocab`` end to end: flags reach the config, errors are one line + exit 1."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from albertctl.cli import main
from albertctl.cli.build_vocab import parse_user_symbols
from albertctl.vocab import load_tokenizer


def _run(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_flags_reach_the_output(tiny_corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "vocab"
    args = ["build-vocab", str(tiny_corpus), "--out", str(out), "--vocab-size", "300", "--no-lower"]
    args += ["--user-symbols", "( )", "--user-symbols", "@@", "--seed", "3", "--input-sentence-size", "800"]
    args += ["--character-coverage", "0.9995", "--threads", "2", "--no-map-quotes"]
    assert _run(args) == 0
    tok = load_tokenizer(out)
    assert tok.vocab_size == 300 and [tok.id_to_piece(i) for i in (5, 6, 7)] == ["(", ")", "@@"]
    assert tok.normalization.lower is False and tok.normalization.map_quotes is False
    config = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["config"]
    assert (
        config["seed"] == 3
        and config["input_sentence_size"] == 800
        and config["character_coverage"] == 0.9995
    )
    assert config["threads"] == 2 and config["model_type"] == "unigram"


def test_jsonl_and_parquet_inputs(tmp_path: Path, tiny_corpus: Path) -> None:
    lines = [line for line in tiny_corpus.read_text(encoding="utf-8").splitlines() if line]
    half = len(lines) // 2
    jsonl = tmp_path / "a.jsonl.gz"
    jsonl.write_bytes(
        gzip.compress("".join(json.dumps({"body": line}) + "\n" for line in lines[:half]).encode())
    )
    pq.write_table(pa.table({"content": lines[half:]}), tmp_path / "b.parquet")
    out = tmp_path / "vocab"
    args = ["build-vocab", str(jsonl), str(tmp_path / "b.parquet"), "--out", str(out), "--vocab-size", "300"]
    assert _run([*args, "--text-field", "body", "--text-column", "content"]) == 0
    counts = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["counts"]
    assert counts["files"] == 2 and counts["lines"] == len(lines)


def _bad_input(tmp_path: Path, case: str) -> list[str]:
    if case == "empty":
        (tmp_path / "empty.txt").write_text("\n\n", encoding="utf-8")
        return [str(tmp_path / "empty.txt")]
    if case == "non-utf8":
        (tmp_path / "bad.txt").write_bytes(b"fine\n\xff\xfe broken\n")
        return [str(tmp_path / "bad.txt")]
    if case == "one-long-line":  # a 20 KB document on one line: over spm's max_sentence_length
        (tmp_path / "long.txt").write_text(" ".join(f"word{i % 500}" for i in range(2500)) + "\n")
        return [str(tmp_path / "long.txt")]
    if case == "unknown-type":
        (tmp_path / "data.csv").write_text("a,b\n", encoding="utf-8")
        return [str(tmp_path / "data.csv")]
    return [str(tmp_path / "missing.txt")]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("empty", "the corpus is empty"),
        ("non-utf8", "bad.txt is not UTF-8 text: invalid byte 0xff at byte offset 5"),
        ("unknown-type", "unknown file type"),
        ("one-long-line", "every line is longer than --max-sentence-length (4192 bytes)"),
        ("missing", "missing.txt does not exist"),
    ],
)
def test_bad_input_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, message: str
) -> None:
    inputs = _bad_input(tmp_path, case)
    out = tmp_path / "vocab"
    assert _run(["build-vocab", *inputs, "--out", str(out), "--vocab-size", "100"]) == 1
    err = capsys.readouterr().err
    assert "error:" in err and message in " ".join(err.split())
    assert "Traceback" not in err and not out.exists()


def test_vocab_too_large_and_existing_output(
    tiny_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "vocab"
    assert _run(["build-vocab", str(tiny_corpus), "--out", str(out), "--vocab-size", "90000"]) == 1
    assert "the largest that works is --vocab-size" in " ".join(capsys.readouterr().err.split())
    assert not out.exists()
    assert _run(["build-vocab", str(tiny_corpus), "--out", str(out), "--vocab-size", "200"]) == 0
    capsys.readouterr()
    assert _run(["build-vocab", str(tiny_corpus), "--out", str(out), "--vocab-size", "250"]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert load_tokenizer(out).vocab_size == 200
    assert (
        _run(["build-vocab", str(tiny_corpus), "--out", str(out), "--vocab-size", "250", "--overwrite"]) == 0
    )
    assert load_tokenizer(out).vocab_size == 250


def test_errors_skip_counts_lines(
    tiny_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(tiny_corpus.read_bytes() + b"\xff broken\n")
    out = tmp_path / "vocab"
    assert _run(["build-vocab", str(bad), "--out", str(out), "--vocab-size", "200", "--errors", "skip"]) == 0
    assert "1 non-UTF-8 lines" in capsys.readouterr().err


def test_bad_flag_values(tiny_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "vocab")
    assert _run(["build-vocab", str(tiny_corpus), "--out", out, "--model-type", "char"]) == 1
    assert "model_type must be 'unigram' or 'bpe', got 'char'" in capsys.readouterr().err
    assert _run(["build-vocab", str(tiny_corpus), "--out", out, "--errors", "ignore"]) == 1
    assert "errors must be 'strict' or 'skip'" in capsys.readouterr().err


def test_parse_user_symbols() -> None:
    assert parse_user_symbols(None) is None
    assert parse_user_symbols([""]) == ()
    assert parse_user_symbols(['( ) " -', ",", "@@"]) == ("(", ")", '"', "-", ",", "@@")
