"""Shared fixtures: where the optional real data lives, and small deterministic settings.

Tests make their tiny assets in-process; the real data in ``../shared/data`` (next to the
repository) is optional and tests that use it skip cleanly where it is absent.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import tempfile
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# Two cores are shared by the xdist workers: one intra-op thread each keeps tests predictable.
torch.set_num_threads(1)
# The user cache (verified-shard memo) of the tests lives in a temporary folder, not in ~/.cache.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="albertctl-test-cache-")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` when present, else skip the test."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present in this checkout")
    return SHARED_DATA


# --- tiny corpus and vocabulary (owned by the vocab issue; other tests use these two names) ---

_DOC_MODULES = (
    "argparse", "ast", "asyncio", "base64", "bisect", "calendar", "codecs", "collections", "configparser",
    "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal", "difflib", "email", "enum", "fnmatch",
    "fractions", "ftplib", "functools", "gettext", "glob", "gzip", "heapq", "hmac", "html", "http.client",
    "imaplib", "inspect", "io", "ipaddress", "itertools", "json", "locale", "logging", "mailbox", "numbers",
    "operator", "optparse", "os", "pathlib", "pickle", "pprint", "queue", "random", "re", "sched", "shlex",
    "shutil", "smtplib", "socket", "statistics", "string", "subprocess", "tarfile", "tempfile", "textwrap",
    "threading", "tokenize", "traceback", "typing", "unittest", "urllib.parse", "uuid", "warnings", "wave",
    "weakref", "zipfile",
)  # fmt: skip
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])")


def _docstring_documents(max_bytes: int) -> list[list[str]]:
    """English documents (lists of sentences) from standard-library docstrings, deterministic."""
    documents: list[list[str]] = []
    size = 0
    seen: set[str] = set()
    for name in _DOC_MODULES:
        module = importlib.import_module(name)
        members = sorted(vars(module).items())
        objects = [module] + [obj for _, obj in members if inspect.isclass(obj) or inspect.isfunction(obj)]
        for obj in objects:
            doc = inspect.getdoc(obj)
            if not doc or doc in seen:
                continue
            seen.add(doc)
            # Prose paragraphs only: skip code examples and tables.
            paragraphs = [" ".join(p.split()) for p in doc.split("\n\n") if p.strip() and ">>>" not in p]
            sentences = [s for p in paragraphs for s in _SENTENCE_END.split(p) if len(s.split()) >= 3]
            if len(sentences) < 2:
                continue
            documents.append(sentences)
            size += sum(len(s) + 1 for s in sentences) + 1
            if size >= max_bytes:
                return documents
    return documents


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ~200 KB English ``.txt`` corpus in the reference layout (one segment per line, blank
    line between documents), made from standard-library docstrings."""
    path = tmp_path_factory.mktemp("tiny_corpus") / "corpus.txt"
    documents = _docstring_documents(max_bytes=200_000)
    path.write_text("\n\n".join("\n".join(doc) for doc in documents) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_vocab(tiny_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1000-piece ALBERT SentencePiece vocab dir built from ``tiny_corpus`` (load with
    ``albertctl.vocab.load_tokenizer``)."""
    from albertctl.vocab import BuildVocabConfig, build_vocab

    out = tmp_path_factory.mktemp("tiny_vocab") / "vocab"
    build_vocab([tiny_corpus], out, BuildVocabConfig(vocab_size=1000, seed=0))
    return out


# --- helpers for the bad-input tests -------------------------------------------------------------


def flip_one_bit(path: Path) -> None:
    """Flip one bit in the middle of a file (an Arrow shard stays readable: the change is in the data)."""
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))


def run_cli_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``albertctl ARGV``; assert it exits 1 with exactly one line on stderr, and return it."""
    from albertctl.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]
