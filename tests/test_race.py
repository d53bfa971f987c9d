"""RACE: reading both layouts (and refusing unsafe archives), the reference's option rows,
collation, metrics, inference order and the predictions file, and the real dev split."""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from albertctl.errors import AlbertctlError
from albertctl.race import (
    RaceExample,
    build_features,
    choice_logits,
    join_question_option,
    predictions_from_logits,
    race_metrics,
    read_race,
    write_predictions,
)
from albertctl.vocab import load_tokenizer
from albertctl.vocab.base import SPECIAL_IDS, EncodedPair, Tokenizer

RACE_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "race"  # as conftest.SHARED_DATA

# --- a tiny RACE tree --------------------------------------------------------------------------------


def _article(aid: str, questions: list[tuple[str, list[str], str]], text: str = "an article") -> dict:
    return {
        "answers": [a for _, _, a in questions],
        "options": [o for _, o, _ in questions],
        "questions": [q for q, _, _ in questions],
        "article": text,
        "id": aid,
    }


# (level, file name) -> article object; file names chosen so lexical order != creation order.
_TREE = {
    ("high", "10.txt"): _article("high10.txt", [("Why _ ?", ["a", "b", "c", "d"], "C")], "high ten"),
    ("high", "2.txt"): _article(
        "high2.txt",
        [("What is it?", ["w", "x", "y", "z"], "A"), ("Who _ ?", ["p", "q", "r", "s"], "D")],
        "high two",
    ),
    ("middle", "7.txt"): _article("middle7.txt", [("Where?", ["e", "f", "g", "h"], "B")], "middle seven"),
}


def _file_bytes(obj: object) -> bytes:
    return json.dumps(obj).encode("utf-8")  # one object on one line, no newline: as in the release


def write_tree(root: Path, split: str = "dev", files: dict | None = None) -> Path:
    """``root/RACE/<split>/<level>/<name>`` for every entry of ``files``; returns ``root``."""
    for (level, name), obj in (files or _TREE).items():
        folder = root / "RACE" / split / level
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(obj if isinstance(obj, bytes) else _file_bytes(obj))
    return root


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_archive(path: Path, split: str = "dev", files: dict | None = None, extra: Any = None) -> Path:
    """A ``.tar.gz`` of the tree, members in reverse order (the reader must sort); ``extra(tar)``
    may add more members."""
    with tarfile.open(path, "w:gz") as tar:
        for dirname in ("RACE", f"RACE/{split}", f"RACE/{split}/high", f"RACE/{split}/middle"):
            info = tarfile.TarInfo(dirname)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for (level, name), obj in reversed(list((files or _TREE).items())):
            raw = obj if isinstance(obj, bytes) else _file_bytes(obj)
            _add_bytes(tar, f"RACE/{split}/{level}/{name}", raw)
        if extra is not None:
            extra(tar)
    return path


# --- reading -----------------------------------------------------------------------------------------


def test_directory_and_archive_layouts_give_the_same_data(tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "tree")
    archive = write_archive(tmp_path / "RACE_dev.tar.gz")
    holder = tmp_path / "holder"
    holder.mkdir()
    write_archive(holder / "dev.tar.gz")
    results = [
        read_race(tree, "dev"),  # DIR/RACE/dev/...
        read_race(tree / "RACE", "dev"),  # DIR/dev/...
        read_race(archive, "dev"),  # the archive itself
        read_race(tmp_path, "dev"),  # DIR/RACE_dev.tar.gz
        read_race(holder, "dev"),  # DIR/dev.tar.gz
    ]
    first = results[0]
    for other in results[1:]:
        assert other.examples == first.examples and other.num_articles == first.num_articles == 3
    assert results[0].source == tree / "RACE" / "dev" and results[2].source == archive
    # middle first (the reference's loop), then sorted file names: high/10.txt before high/2.txt.
    assert [e.id for e in first.examples] == ["middle7.txt#0", "high10.txt#0", "high2.txt#0", "high2.txt#1"]
    assert first.examples[3] == RaceExample(
        id="high2.txt#1",
        level="high",
        article="high two",
        question="Who _ ?",
        options=("p", "q", "r", "s"),
        label=3,
    )
    assert first.examples[3].article_id == "high2.txt"
    assert [e.label for e in first.examples] == [1, 2, 0, 3]
    assert first.level_counts() == {"middle": 1, "high": 3}
    high_only = read_race(archive, "dev", levels=("high",))
    assert [e.level for e in high_only.examples] == ["high"] * 3 and high_only.num_articles == 2


def test_archive_members_of_other_splits_are_ignored(tmp_path: Path) -> None:
    archive = write_archive(
        tmp_path / "all.tar.gz",
        extra=lambda tar: _add_bytes(tar, "RACE/train/high/1.txt", _file_bytes(_TREE[("high", "2.txt")])),
    )
    assert len(read_race(archive, "dev")) == 4
    assert [e.id for e in read_race(archive, "train").examples] == ["high2.txt#0", "high2.txt#1"]


def _symlink(tar: tarfile.TarFile) -> None:
    info = tarfile.TarInfo("RACE/dev/high/link.txt")
    info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
    tar.addfile(info)


def _hardlink(tar: tarfile.TarFile) -> None:
    info = tarfile.TarInfo("RACE/dev/high/hard.txt")
    info.type, info.linkname = tarfile.LNKTYPE, "RACE/dev/high/2.txt"
    tar.addfile(info)


def _special(kind: bytes, name: str):
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type = kind
        tar.addfile(info)

    return add


@pytest.mark.parametrize(
    ("member", "add", "says"),
    [
        ("/tmp/evil.txt", lambda tar: _add_bytes(tar, "/tmp/evil.txt", b"{}"), "absolute name"),
        ("RACE/dev/../../evil.txt", lambda tar: _add_bytes(tar, "RACE/dev/../../evil.txt", b"{}"), "'..'"),
        ("RACE/dev/high/link.txt", _symlink, "symbolic link"),
        ("RACE/dev/high/hard.txt", _hardlink, "hard link"),
        ("RACE/dev/pipe", _special(tarfile.FIFOTYPE, "RACE/dev/pipe"), "is a fifo"),
        ("RACE/dev/tty", _special(tarfile.CHRTYPE, "RACE/dev/tty"), "device"),
        ("RACE/dev/disk", _special(tarfile.BLKTYPE, "RACE/dev/disk"), "device"),
    ],
    ids=["absolute", "dotdot", "symlink", "hardlink", "fifo", "chardev", "blockdev"],
)
def test_unsafe_archive_members_are_refused(tmp_path: Path, member: str, add: Any, says: str) -> None:
    archive = write_archive(tmp_path / "RACE_dev.tar.gz", extra=add)
    with pytest.raises(AlbertctlError) as info:
        read_race(archive, "dev")
    message = info.value.message
    assert str(archive) in message and repr(member) in message and says in message
    assert "refusing" in message and info.value.hint


def test_unsafe_member_outside_the_split_is_refused_too(tmp_path: Path) -> None:
    archive = write_archive(
        tmp_path / "RACE_dev.tar.gz", extra=lambda tar: _add_bytes(tar, "../RACE/train/x.txt", b"{}")
    )
    with pytest.raises(AlbertctlError, match=r"'\.\./RACE/train/x\.txt' has a '\.\.' component"):
        read_race(archive, "dev")


def test_a_damaged_archive_is_one_clear_error(tmp_path: Path) -> None:
    archive = write_archive(tmp_path / "RACE_dev.tar.gz")
    archive.write_bytes(archive.read_bytes()[:40])
    with pytest.raises(AlbertctlError, match="is not a readable tar archive"):
        read_race(archive, "dev")


_GOOD = _TREE[("middle", "7.txt")]


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b'{"answers": ["A"],\n "options": [["a"]] "questions": []}', r"7\.txt:2:21: not valid JSON"),
        (_file_bytes({k: v for k, v in _GOOD.items() if k != "answers"}), r"7\.txt: no 'answers' in"),
        (
            _file_bytes({**_GOOD, "answers": ["A", "B"]}),
            r"middle7\.txt: 1 questions, 1 option lists and 2 answers",
        ),
        (_file_bytes({**_GOOD, "options": [[]]}), r"article middle7\.txt question 0: no options"),
        (
            _file_bytes({**_GOOD, "answers": ["E"]}),
            r"middle7\.txt question 0: answer 'E' is not one of its 4 options \(A-D\)",
        ),
        (_file_bytes({**_GOOD, "answers": ["b"]}), r"middle7\.txt question 0: answer 'b'"),
        (_file_bytes({**_GOOD, "questions": "Where?"}), r"'questions', 'options', 'answers' lists"),
        (b'{"article": "\xff"}', r"7\.txt is not UTF-8 text \(line 1, byte 13"),
    ],
    ids=["json", "missing-key", "lengths", "no-options", "answer-range", "answer-lowercase", "type", "utf8"],
)
@pytest.mark.parametrize("layout", ["dir", "archive"])
def test_data_errors_name_where(tmp_path: Path, content: bytes, says: str, layout: str) -> None:
    files = {("middle", "7.txt"): content, ("high", "2.txt"): _TREE[("high", "2.txt")]}
    if layout == "dir":
        path = write_tree(tmp_path, files=files)
        where = str(tmp_path / "RACE" / "dev" / "middle" / "7.txt")
    else:
        path = write_archive(tmp_path / "RACE_dev.tar.gz", files=files)
        where = f"{path} member RACE/dev/middle/7.txt"
    with pytest.raises(AlbertctlError, match=says) as info:
        read_race(path, "dev")
    assert info.value.message.startswith(where) and info.value.hint


def test_the_second_question_is_named(tmp_path: Path) -> None:
    bad = _article("high2.txt", [("q?", ["a", "b"], "A"), ("q2?", ["a", "b"], "C")])
    with pytest.raises(
        AlbertctlError, match=r"article high2\.txt question 1: answer 'C' .* 2 options \(A-B\)"
    ):
        read_race(write_tree(tmp_path, files={("high", "2.txt"): bad}), "dev")


def test_duplicate_article_ids_are_refused(tmp_path: Path) -> None:
    files = {("high", "2.txt"): _TREE[("high", "2.txt")], ("high", "3.txt"): _TREE[("high", "2.txt")]}
    with pytest.raises(
        AlbertctlError, match=r"3\.txt: article id 'high2\.txt' was already read from .*2\.txt"
    ):
        read_race(write_tree(tmp_path, files=files), "dev")


def test_missing_split_and_empty_split_say_what_layout_is_expected(tmp_path: Path) -> None:
    write_tree(tmp_path)
    with pytest.raises(AlbertctlError, match="no RACE train split under") as info:
        read_race(tmp_path, "train")
    assert "RACE_train.tar.gz" in (info.value.hint or "")
    (tmp_path / "RACE" / "test" / "high").mkdir(parents=True)
    with pytest.raises(AlbertctlError, match=r"no RACE test articles \(middle, high\)") as info:
        read_race(tmp_path, "test")
    assert "DIR/test/{middle,high}/*.txt" in (info.value.hint or "")
    archive = write_archive(tmp_path / "RACE_dev.tar.gz")
    with pytest.raises(AlbertctlError, match="no RACE train articles"):
        read_race(archive, "train")
    with pytest.raises(AlbertctlError, match="does not exist"):
        read_race(tmp_path / "nowhere", "dev")
    with pytest.raises(AlbertctlError, match="levels must be distinct values"):
        read_race(tmp_path, "dev", levels=("easy",))


# --- features ----------------------------------------------------------------------------------------


class WordTokenizer(Tokenizer):
    """One id per whitespace-separated word, ids given on first sight; records what it encodes."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = dict(SPECIAL_IDS)
        self._pieces = list(SPECIAL_IDS)
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = range(5)
        self.vocab_size = 5
        self.batches: list[list[str]] = []
        self.word_start_rule = lambda piece: True

    def encode(self, text: str) -> list[int]:
        for word in text.split():
            if word not in self._ids:
                self._ids[word] = len(self._pieces)
                self._pieces.append(word)
        self.vocab_size = len(self._pieces)
        return [self._ids[w] for w in text.split()]

    def encode_batch(self, texts: Sequence[str], *, num_threads: int | None = None) -> list[list[int]]:
        self.batches.append(list(texts))
        return [self.encode(t) for t in texts]

    def words(self, ids: Sequence[int]) -> str:
        return " ".join(self._pieces[i] for i in ids)

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = True) -> str:
        return self.words([i for i in ids if not (skip_special_tokens and i < 5)])

    def fingerprint(self) -> str:
        return "words"

    def vocab_config(self) -> dict[str, Any]:
        return {"kind": "words"}

    def save(self, out_dir: Path) -> None:
        raise NotImplementedError


def _ex(i: int, article: str, question: str, options: Sequence[str], label: int = 0, level: str = "high"):
    return RaceExample(f"art{i}#0", level, article, question, tuple(options), label)


def test_join_question_option_fills_blanks_or_appends() -> None:
    assert join_question_option("He went to _ yesterday.", "school") == "He went to school yesterday."
    assert join_question_option("_ and _ met.", "Tom") == "Tom and Tom met."  # every blank, as the reference
    assert join_question_option("Why did he go?", "to eat") == "Why did he go? to eat"


def test_rows_are_cls_article_sep_question_option_sep() -> None:
    tok = WordTokenizer()
    article = "one two three four"
    examples = [
        _ex(0, article, "he saw _ today", ["a cat", "dogs"], label=1),
        _ex(0, article, "what is it", ["x", "y z"]),
        _ex(1, "other text", "q", ["o"], level="middle"),
    ]
    features = build_features(examples, tok, max_seq_length=32, max_qa_length=8)
    rows = features.option_rows(0)
    assert tok.words(rows[0].input_ids) == "[CLS] one two three four [SEP] he saw a cat today [SEP]"
    assert tok.words(rows[1].input_ids) == "[CLS] one two three four [SEP] he saw dogs today [SEP]"
    assert rows[0] == EncodedPair(rows[0].input_ids, [0] * 6 + [1] * 6)
    assert (
        tok.words(features.option_rows(1)[1].input_ids)
        == "[CLS] one two three four [SEP] what is it y z [SEP]"
    )
    assert features.lengths.tolist() == [12, 12, 7]  # the longest option row of each example
    assert features.row_lengths.tolist() == [12, 11, 11, 12, 7]
    assert features.labels.tolist() == [1, 0, 0] and features.levels == ("high", "high", "middle")
    assert features.ids == ("art0#0", "art0#0", "art1#0") and len(features) == 3
    assert features.num_choices.tolist() == [2, 2, 1] and features.max_choices == 2
    # Each distinct article is encoded once, in one batch; the question+option texts in another.
    assert tok.batches[0] == [article, "other text"]
    assert len(tok.batches) == 2 and len(tok.batches[1]) == 5


def test_question_option_keeps_its_end_then_the_article_fits() -> None:
    tok = WordTokenizer()
    article = " ".join(f"w{i}" for i in range(20))
    question = " ".join(f"q{i}" for i in range(6)) + " _"
    features = build_features([_ex(0, article, question, ["opt"])], tok, max_seq_length=16, max_qa_length=4)
    (row,) = features.option_rows(0)
    # question+option is q0..q5 opt (7 tokens): its last 4 stay; the article keeps 16 - 3 - 4 = 9.
    assert tok.words(row.input_ids) == "[CLS] w0 w1 w2 w3 w4 w5 w6 w7 w8 [SEP] q3 q4 q5 opt [SEP]"
    assert len(row.input_ids) == 16 and row.token_type_ids == [0] * 11 + [1] * 5
    # A short question+option leaves the rest of max_seq_length to the article.
    (short,) = build_features([_ex(0, article, "why", ["so"])], tok, max_seq_length=16).option_rows(0)
    assert (
        tok.words(short.input_ids) == "[CLS] " + " ".join(f"w{i}" for i in range(11)) + " [SEP] why so [SEP]"
    )
    # Nothing to cut: the whole article.
    (whole,) = build_features([_ex(0, "a b", "why", ["so"])], tok, max_seq_length=16).option_rows(0)
    assert tok.words(whole.input_ids) == "[CLS] a b [SEP] why so [SEP]"


def test_question_option_never_overflows_max_seq_length() -> None:
    tok = WordTokenizer()
    long_question = " ".join(f"q{i}" for i in range(12))
    # max_qa_length 128 > max_seq_length - 3: question+option keeps its last 7 tokens, no article.
    (row,) = build_features([_ex(0, "a b", long_question, ["o"])], tok, max_seq_length=10).option_rows(0)
    assert tok.words(row.input_ids) == "[CLS] [SEP] q6 q7 q8 q9 q10 q11 o [SEP]" and len(row.input_ids) == 10


def test_lengths_that_cannot_fit_are_refused() -> None:
    tok = WordTokenizer()
    with pytest.raises(AlbertctlError, match="max_seq_length must be >= 4"):
        build_features([_ex(0, "a", "q", ["o"])], tok, max_seq_length=3)
    with pytest.raises(AlbertctlError, match="max_qa_length must be >= 1"):
        build_features([_ex(0, "a", "q", ["o"])], tok, max_qa_length=0)
    with pytest.raises(AlbertctlError, match="label 2 is outside its 2 options"):
        build_features([_ex(0, "a", "q", ["o", "p"], label=2)], tok)


def _reference_row(tok: Tokenizer, ex: RaceExample, option: str, max_seq: int, max_qa: int) -> list[int]:
    """The reference's row for one option, written out independently (race_utils.py)."""
    context = tok.encode(ex.article)
    ending = tok.encode(join_question_option(ex.question, option))[-max_qa:]
    if len(context) + len(ending) > max_seq - 3:
        context = context[: max_seq - 3 - len(ending)]
    return [tok.cls_id, *context, tok.sep_id, *ending, tok.sep_id]


def _assert_matches_reference(tok: Tokenizer, examples: list[RaceExample], max_seq: int, max_qa: int) -> None:
    features = build_features(examples, tok, max_seq_length=max_seq, max_qa_length=max_qa)
    for i, ex in enumerate(examples):
        got = [row.input_ids for row in features.option_rows(i)]
        assert got == [_reference_row(tok, ex, o, max_seq, max_qa) for o in ex.options], ex.id


def test_sentencepiece_rows_match_the_reference(tiny_vocab: Path) -> None:
    tok = load_tokenizer(tiny_vocab)
    long_article = " ".join(["The module provides functions for working with files and text."] * 20)
    examples = [
        _ex(0, long_article, "The author thinks that _ .", ["files are useful", "text is long", "x", "y"]),
        _ex(0, long_article, "Why " + "does the module provide functions " * 12 + "?", ["because", "no"]),
        _ex(1, "A short one.", "What is it?", ["a short article", "nothing"]),
    ]
    _assert_matches_reference(tok, examples, max_seq=64, max_qa=16)


# --- collate -----------------------------------------------------------------------------------------


def test_collate_pads_to_the_batch_and_masks_missing_options() -> None:
    tok = WordTokenizer()
    examples = [
        _ex(0, "a b c", "q", ["x", "y", "z"], label=2),
        _ex(1, "d", "r _", ["s t"], label=0),
    ]
    features = build_features(examples, tok, max_seq_length=20, max_qa_length=5)
    batch = features.collate(np.array([1, 0]), pad_id=9)
    assert set(batch) == {"input_ids", "token_type_ids", "input_mask", "labels", "choice_mask"}
    # Width 8: example 0's rows are [CLS] a b c [SEP] q x [SEP]; example 1 has one 7-token row.
    assert batch["input_ids"].shape == (2, 3, 8) and batch["input_ids"].dtype == torch.int64
    assert batch["token_type_ids"].shape == batch["input_mask"].shape == (2, 3, 8)
    assert batch["input_mask"].dtype == batch["token_type_ids"].dtype == torch.int64
    assert batch["labels"].tolist() == [0, 2] and batch["labels"].dtype == torch.int64
    assert batch["choice_mask"].tolist() == [[True, False, False], [True, True, True]]
    ids, types, mask = batch["input_ids"][0], batch["token_type_ids"][0], batch["input_mask"][0]
    assert tok.words(ids[0, :7].tolist()) == "[CLS] d [SEP] r s t [SEP]" and ids[0, 7] == 9
    assert mask[0].tolist() == [1] * 7 + [0] and types[0].tolist() == [0] * 3 + [1] * 4 + [0]
    assert ids[1:].eq(9).all() and mask[1:].eq(0).all() and types[1:].eq(0).all()  # all-padding options
    for c, row in enumerate(features.option_rows(0)):
        assert batch["input_ids"][1, c].tolist() == row.input_ids
        assert batch["token_type_ids"][1, c].tolist() == row.token_type_ids
        assert batch["input_mask"][1, c].tolist() == [1] * 8
    assert features.collate(np.array([1]), pad_id=0)["input_ids"].shape == (1, 1, 7)
    fixed = features.collate(np.array([0]), pad_id=0, pad_to_max=True)  # the reference's fixed length
    assert fixed["input_ids"].shape == (1, 3, 20) and fixed["input_mask"][0, :, 8:].eq(0).all()
    assert fixed["input_ids"][0, :, :8].tolist() == [r.input_ids for r in features.option_rows(0)]
    assert fixed["choice_mask"].all()


def test_collate_mask_and_types_of_a_short_row() -> None:
    tok = WordTokenizer()
    features = build_features([_ex(0, "a b", "q", ["x", "y y y"])], tok, max_seq_length=20)
    batch = features.collate(np.array([0]), pad_id=0)
    assert batch["input_ids"].shape == (1, 2, 9)
    assert batch["input_mask"][0].tolist() == [[1] * 7 + [0] * 2, [1] * 9]
    assert batch["token_type_ids"][0].tolist() == [[0] * 4 + [1] * 3 + [0] * 2, [0] * 4 + [1] * 5]


# --- metrics -----------------------------------------------------------------------------------------


def test_race_metrics_by_hand() -> None:
    preds = np.array([0, 1, 2, 3, 0, 1])
    labels = np.array([0, 1, 0, 3, 1, 1])
    levels = ["middle", "middle", "high", "high", "high", "high"]
    assert race_metrics(preds, labels, levels) == {
        "accuracy": 4 / 6,
        "accuracy_middle": 1.0,
        "accuracy_high": 0.5,
        "num_examples": 6,
        "num_correct": 4,
        "num_middle": 2,
        "num_correct_middle": 2,
        "num_high": 4,
        "num_correct_high": 2,
    }
    only_high = race_metrics(np.array([1, 2]), np.array([2, 2]), ["high", "high"])
    assert only_high["accuracy"] == only_high["accuracy_high"] == 0.5
    assert only_high["num_middle"] == 0 and only_high["accuracy_middle"] == 0.0
    with pytest.raises(AlbertctlError, match="equal"):
        race_metrics(np.zeros((2, 4)), np.array([0, 1]), ["high", "high"])


# --- inference ---------------------------------------------------------------------------------------


class SumOfTokens(nn.Module):
    """A stand-in multiple-choice model: each option's logit is the sum of its unmasked ids."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int, ...]] = []

    def forward(
        self, input_ids: torch.Tensor, token_type_ids: torch.Tensor, input_mask: torch.Tensor
    ) -> torch.Tensor:
        self.calls.append(tuple(input_ids.shape))
        return (input_ids * input_mask).sum(dim=-1).float()  # (B, C, L) -> (B, C)


def test_choice_logits_come_back_in_example_order(tmp_path: Path) -> None:
    tok = WordTokenizer()
    words = [f"w{i}" for i in range(40)]
    examples = [
        _ex(
            i,
            " ".join(words[: 3 + 5 * (i % 4)]),
            f"q{i}",
            [f"o{i}", f"p{i} p", "z"][: 2 + i % 2],
            label=i % 2,
        )
        for i in range(7)
    ]
    features = build_features(examples, tok, max_seq_length=64)
    model = SumOfTokens().train()
    logits = choice_logits(model, features, batch_size=3, pad_id=0, device=torch.device("cpu"))
    assert not model.training and len(model.calls) == 3  # ceil(7 / 3) length-sorted batches
    assert logits.shape == (7, 3) and logits.dtype == np.float32
    for i in range(7):
        expected = [sum(row.input_ids) for row in features.option_rows(i)]
        assert logits[i, : len(expected)].tolist() == expected
        assert np.isneginf(logits[i, len(expected) :]).all()  # options it does not have
    preds = predictions_from_logits(logits)
    assert preds.tolist() == [int(np.argmax(logits[i])) for i in range(7)] and preds.max() < 3

    class Flat(nn.Module):
        def forward(self, ids: torch.Tensor, types: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return ids.reshape(-1, ids.shape[-1]).float()

    with pytest.raises(AlbertctlError, match="multiple-choice head"):
        choice_logits(Flat(), features, batch_size=2, pad_id=0, device=torch.device("cpu"))


def test_write_predictions_writes_letters_atomically(tmp_path: Path) -> None:
    out = tmp_path / "predictions.json"
    write_predictions(out, ["high1.txt#0", "high1.txt#1", "middle2.txt#0"], np.array([0, 3, 1]))
    assert out.read_text(encoding="utf-8").startswith("{")
    assert json.loads(out.read_text(encoding="utf-8")) == {
        "high1.txt#0": "A",
        "high1.txt#1": "D",
        "middle2.txt#0": "B",
    }
    assert [p.name for p in tmp_path.iterdir()] == ["predictions.json"]  # no .tmp left behind
    with pytest.raises(AlbertctlError, match="not distinct"):
        write_predictions(out, ["a#0", "a#0"], np.array([0, 1]))
    with pytest.raises(AlbertctlError, match="2 question ids but predictions of shape"):
        write_predictions(out, ["a#0", "a#1"], np.zeros((2, 4)))
    with pytest.raises(AlbertctlError, match="no answer letter"):
        write_predictions(out, ["a#0"], np.array([-1]))


# --- the real data -----------------------------------------------------------------------------------

needs_race = pytest.mark.skipif(not (RACE_DATA / "RACE_dev.tar.gz").is_file(), reason="no shared RACE data")


@needs_race
def test_real_dev_split_counts_and_speed() -> None:
    start = time.perf_counter()
    data = read_race(RACE_DATA, "dev")
    elapsed = time.perf_counter() - start
    assert data.num_articles == 1389 and len(data) == 4887
    assert data.level_counts() == {"middle": 1436, "high": 3451}
    assert all(len(e.options) == 4 and 0 <= e.label < 4 for e in data.examples)
    assert len({e.id for e in data.examples}) == 4887
    assert elapsed < 3.0, f"reading RACE dev took {elapsed:.1f} s"
    assert (
        read_race(RACE_DATA / "RACE_dev.tar.gz", "dev", levels=("middle",)).level_counts()["middle"] == 1436
    )


@needs_race
def test_real_dev_rows_match_the_reference(tiny_vocab: Path) -> None:
    tok = load_tokenizer(tiny_vocab)
    examples = read_race(RACE_DATA, "dev").examples[::40]  # ~120 questions of both levels
    assert {e.level for e in examples} == {"middle", "high"}
    assert any("_" in e.question for e in examples) and any("_" not in e.question for e in examples)
    _assert_matches_reference(tok, examples, max_seq=128, max_qa=32)
    features = build_features(examples, tok, max_seq_length=128, max_qa_length=32)
    batch = features.collate(np.arange(8), pad_id=tok.pad_id)
    assert batch["input_ids"].shape[:2] == (8, 4) and batch["choice_mask"].all()
