"""The demo's embedded corpus (harvest + cleaning) and the CoLA-layout task derived from it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from albertctl import demo
from albertctl.cli import main
from albertctl.errors import AlbertctlError

DOCSTRING = """Compute the thing for an :class:`~pkg.Widget` of ``n`` items.

This paragraph explains *why* the thing is computed, across
two wrapped lines of ordinary prose text.

Parameters
----------
x : array_like
    The input array.

Examples
--------
>>> compute(3)
4

.. note:: A directive that is dropped.

Short one.
"""


def test_clean_text_keeps_prose_and_drops_code_and_markup() -> None:
    assert demo.clean_text(DOCSTRING, min_words=5) == [
        "Compute the thing for an Widget of n items.",
        "This paragraph explains why the thing is computed, across two wrapped lines of ordinary prose text.",
    ]


def test_docstrings_in_source_order_including_nested() -> None:
    source = b'''"""Module doc."""
class A:
    """Class doc."""
    def f(self):
        """Method doc."""
        x = "not a docstring"
if True:
    def g():
        """Conditional function doc."""
'''
    assert demo.docstrings_of_source(source) == [
        "Module doc.",
        "Class doc.",
        "Method doc.",
        "Conditional function doc.",
    ]
    assert demo.docstrings_of_source(b"def (:") == []


def test_swap_keeps_words_and_ends_and_changes_order() -> None:
    rng = np.random.default_rng(0)
    sentence = "The parser reads every line of the input file once."
    for _ in range(50):
        corrupted = demo.swap_two_words(sentence, rng)
        words, original = corrupted.split(), sentence.split()
        assert corrupted != sentence
        assert sorted(words) == sorted(original)
        assert words[0] == original[0] and words[-1] == original[-1]
        assert sum(a != b for a, b in zip(words, original, strict=True)) == 2


def test_shuffle_keeps_words_and_ends_and_changes_order() -> None:
    rng = np.random.default_rng(0)
    sentence = "The parser reads every line of the input file once."
    for _ in range(50):
        corrupted = demo.shuffle_inner_words(sentence, rng)
        words, original = corrupted.split(), sentence.split()
        assert corrupted != sentence
        assert sorted(words) == sorted(original)
        assert words[0] == original[0] and words[-1] == original[-1]


def test_replace_changes_a_quarter_of_inner_words_from_the_pool() -> None:
    rng = np.random.default_rng(0)
    sentence = "The parser reads every line of the input file once."  # 8 inner words -> 2 replaced
    pool = ["alpha", "beta", "the", "line"]
    for _ in range(50):
        corrupted = demo.replace_inner_words(sentence, rng, pool)
        words, original = corrupted.split(), sentence.split()
        assert len(words) == len(original) and words[0] == original[0] and words[-1] == original[-1]
        changed = [(a, b) for a, b in zip(words, original, strict=True) if a != b]
        assert len(changed) == 2 and all(a in pool and a.lower() != b.lower() for a, b in changed)


def test_replace_task_draws_from_the_split_s_own_words() -> None:
    sentences = [f"Every sentence {i} has several distinct words in it." for i in range(40)]
    examples = demo.make_acceptability_examples(
        sentences, limit=40, rng=np.random.default_rng(2), corruption="replace"
    )
    vocabulary = {w for s in sentences for w in s.split()}
    assert [label for label, _ in examples].count(0) == 20
    assert all(set(text.split()) <= vocabulary for _, text in examples)
    assert all(text not in sentences for label, text in examples if label == 0)


def test_unknown_corruption_is_refused() -> None:
    with pytest.raises(AlbertctlError, match="corruption must be one of shuffle, swap, replace"):
        demo.DemoDataConfig(corruption="reverse")


def test_examples_are_balanced_and_use_each_sentence_once() -> None:
    sentences = [f"Sentence number {i} has several distinct words in it." for i in range(101)]
    examples = demo.make_acceptability_examples(sentences, limit=1000, rng=np.random.default_rng(1))
    labels = [label for label, _ in examples]
    assert len(examples) == 100 and labels.count(1) == 50
    numbers = [
        text.split()[2] if label else next(w for w in text.split() if w.isdigit()) for label, text in examples
    ]
    assert len(set(numbers)) == 100  # never the original and the corruption of one sentence
    assert all(text in sentences for label, text in examples if label == 1)
    assert all(text not in sentences for label, text in examples if label == 0)


def test_split_name_ranges() -> None:
    names = [demo.split_name(b, 20) for b in range(100)]
    assert names.count("pretrain") == 80
    assert names.count("task-train") == 12 and names.count("task-dev") == 4 and names.count("task-test") == 4


def make_corpus(path: Path, num_docs: int = 400) -> Path:
    rng = np.random.default_rng(7)
    vocab = "alpha beta gamma delta river stone light house garden window market winter summer".split()
    with open(path, "w") as handle:
        for d in range(num_docs):
            for _ in range(3):
                words = rng.choice(vocab, size=int(rng.integers(8, 14))).tolist()
                handle.write(f"D{d} says " + " ".join(words) + ". It is the end of the line.\n")
            handle.write("\n")
    return path


def test_build_from_a_corpus_writes_the_cola_layout_without_leakage(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "c.txt")
    config = demo.DemoDataConfig(max_train_examples=100, max_dev_examples=30)
    report = demo.build_demo_data(tmp_path / "out", config, corpus=[corpus])
    out = tmp_path / "out"
    assert report.documents == 400 and report.train["documents"] + report.heldout["documents"] == 400
    train_text = (out / "train.txt").read_text()
    heldout_text = (out / "heldout.txt").read_text()
    assert train_text.endswith("\n\n") and "\n\n\n" not in train_text
    cola = out / "glue" / "CoLA"
    for name, rows in (("train", 100), ("dev", 30)):
        lines = (cola / f"{name}.tsv").read_text().splitlines()
        assert len(lines) == rows
        fields = [line.split("\t") for line in lines]
        assert all(
            len(f) == 4 and f[0] == "demo" and f[1] in "01" and f[2] == ("" if f[1] == "1" else "*")
            for f in fields
        )
        assert sum(f[1] == "1" for f in fields) == rows // 2
        originals = [f[3] for f in fields if f[1] == "1"]
        assert all(sentence not in train_text for sentence in originals)  # never in the pretraining text
        assert all(sentence in heldout_text for sentence in originals)
    test_lines = (cola / "test.tsv").read_text().splitlines()
    assert test_lines[0] == "index\tsentence" and test_lines[1].startswith("0\t")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["task"]["dev"] == {"rows": 30, "label_1": 15}
    # Deterministic: a second build is byte-identical.
    demo.build_demo_data(tmp_path / "again", config, corpus=[corpus])
    for rel in ("train.txt", "heldout.txt", "glue/CoLA/train.tsv", "glue/CoLA/dev.tsv", "glue/CoLA/test.tsv"):
        assert (out / rel).read_bytes() == (tmp_path / "again" / rel).read_bytes()


def test_dev_documents_are_disjoint_from_train_documents(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "c.txt")
    demo.build_demo_data(tmp_path / "out", demo.DemoDataConfig(max_train_examples=500), corpus=[corpus])
    cola = tmp_path / "out" / "glue" / "CoLA"

    def docs(name: str) -> set[str]:
        return {line.split("\t")[3].split()[0] for line in (cola / f"{name}.tsv").read_text().splitlines()}

    # "DN says ..." keeps its first word in place, so the document number survives the swap.
    assert docs("train").isdisjoint(docs("dev"))


def test_harvest_is_deterministic_prose() -> None:
    config = demo.DemoDataConfig(max_bytes=30_000)
    first = list(demo.harvest_documents(config))
    assert first == list(demo.harvest_documents(config))
    lines = [line for doc in first for line in doc]
    assert sum(len(line) + 1 for line in lines) >= 25_000
    assert all(len(doc) >= 2 for doc in first)
    assert len(set(lines)) == len(lines)
    assert all(demo.is_prose(line, min_words=5) and "\n" not in line and "\t" not in line for line in lines)
    assert len(demo.source_fingerprint()) == 64


def test_config_validation_names_the_field() -> None:
    with pytest.raises(AlbertctlError, match=r"heldout_percent must be in \[5, 50\], got 90"):
        demo.DemoDataConfig(heldout_percent=90)


def test_too_small_corpus_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(AlbertctlError, match="too few to hold some out|only"):
        demo.build_demo_data(
            tmp_path / "o", demo.DemoDataConfig(), corpus=[make_corpus(tmp_path / "c.txt", 3)]
        )
    (tmp_path / "c.jsonl").write_text("{}\n")
    with pytest.raises(AlbertctlError, match="is not .txt or .txt.gz"):
        demo.build_demo_data(tmp_path / "o", demo.DemoDataConfig(), corpus=[tmp_path / "c.jsonl"])
    assert not (tmp_path / "o").exists()


def test_demo_data_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = make_corpus(tmp_path / "c.txt")
    argv = ["demo-data", str(tmp_path / "out"), "--corpus", str(corpus), "--max-train-examples", "100"]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code in (0, None)
    assert "pretraining (train.txt)" in capsys.readouterr().out
    assert len((tmp_path / "out" / "glue" / "CoLA" / "train.tsv").read_text().splitlines()) == 100
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 1
    assert "already exists" in capsys.readouterr().err
