"""GLUE task registry and readers: the real CoLA/SST-2/MRPC copies in both layouts, and tiny
fixtures written in the real layouts of the other tasks (every quirk docs/reference.md §7 lists)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from albertctl.errors import AlbertctlError
from albertctl.glue.readers import find_task_dir, read_split
from albertctl.glue.tasks import TASKS, TRAINABLE, get_task, parse_tasks

# Rows in the column layout of the real files (header first where the real file has one).
_SENTS = [
    ("the cat sat on the mat .", "a cat is sitting on a mat ."),
    ('he said " the witness " lied .', 'the " witness " lied , he said .'),
    ("it rained all day .", "the sun was out all day ."),
    ("dogs bark at night .", "at night , dogs bark ."),
]


def _rows(task: str, split: str) -> list[str]:
    """Lines of one tiny file of ``task`` in its real GLUE layout."""
    test = split.startswith("test") or split == "diagnostic"
    out = []
    for i, (a, b) in enumerate(_SENTS):
        if task == "cola":
            out.append(f"{i}\t{a}" if test else f"gj04\t{i % 2}\t{'*' if i % 2 == 0 else ''}\t{a}")
        elif task == "sst2":
            out.append(f"{i}\t{a}" if test else f"{a} \t{i % 2}")
        elif task == "mrpc":
            out.append(
                f"{i}\t{100 + i}\t{200 + i}\t{a}\t{b}" if test else f"{i % 2}\t{100 + i}\t{200 + i}\t{a}\t{b}"
            )
        elif task == "stsb":
            meta = f"{i}\tmain-news\tMSRvid\t2012test\t{i:04d}"
            out.append(f"{meta}\tnone\tnone\t{a}\t{b}" + ("" if test else f"\t{i * 1.25:.3f}"))
        elif task == "qqp":
            out.append(f"{i}\t{a}\t{b}" if test else f"{i}\t{10 + i}\t{20 + i}\t{a}\t{b}\t{i % 2}")
        elif task in ("mnli", "ax"):
            label = ("contradiction", "entailment", "neutral")[i % 3]
            parses = "\t".join(["( x )"] * 4)
            if task == "ax":
                out.append(f"{i}\t{a}\t{b}")
            elif test:
                out.append(f"{i}\t{i}\t{i}c\tfiction\t{parses}\t{a}\t{b}")
            elif split == "train":
                out.append(f"{i}\t{i}\t{i}c\tfiction\t{parses}\t{a}\t{b}\t{label}\t{label}")
            else:  # dev files carry five annotator labels before gold_label
                out.append(f"{i}\t{i}\t{i}c\tfiction\t{parses}\t{a}\t{b}\t" + "\t".join([label] * 6))
        else:  # qnli, rte, wnli
            label = ("entailment", "not_entailment")[i % 2] if task != "wnli" else str(i % 2)
            out.append(f"{i}\t{a}\t{b}" if test else f"{i}\t{a}\t{b}\t{label}")
    header = {
        ("cola", True): "index\tsentence",
        ("sst2", False): "sentence\tlabel",
        ("sst2", True): "index\tsentence",
        ("mrpc", False): "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String",
        ("mrpc", True): "index\t#1 ID\t#2 ID\t#1 String\t#2 String",
        ("qqp", False): "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate",
        ("qqp", True): "id\tquestion1\tquestion2",
        ("ax", True): "index\tsentence1\tsentence2",
    }.get((task, test), None if task == "cola" else "index\thead\ter\trow")
    if task == "qqp" and split == "train":
        out.insert(2, "999\t1\t2\ta question with no pair")  # a short row the reference skips
    return ([header] if header else []) + out


def write_glue_dir(root: Path, tasks: tuple[str, ...] = TRAINABLE) -> Path:
    """A GLUE_DIR holding tiny files for ``tasks`` in the classic layout (+ the AX diagnostic)."""
    for task in tasks:
        spec = TASKS[task]
        folder = root / spec.dir_name
        folder.mkdir(parents=True, exist_ok=True)
        splits = ("train", *spec.dev_splits, *(stem for stem, _ in spec.test_splits))
        for split in splits:
            (folder / f"{split}.tsv").write_text("\n".join(_rows(task, split)) + "\n", encoding="utf-8")
    if "mnli" in tasks:
        (root / "diagnostic").mkdir(exist_ok=True)
        text = "\n".join(_rows("ax", "diagnostic")) + "\n"
        (root / "diagnostic" / "diagnostic.tsv").write_text(text, encoding="utf-8")
    return root


def test_registry_covers_glue() -> None:
    assert TRAINABLE == ("cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli")
    assert get_task("SST-2").name == "sst2" and get_task("STS-B").is_regression
    assert TASKS["mnli"].labels == ("contradiction", "entailment", "neutral")
    assert TASKS["stsb"].num_labels == 1 and TASKS["mnli"].num_labels == 3
    assert [s.name for s in parse_tasks("all")] == list(TRAINABLE)
    with pytest.raises(AlbertctlError, match="known tasks: cola"):
        get_task("squad")
    with pytest.raises(AlbertctlError, match="ax"):
        parse_tasks("ax")


@pytest.mark.parametrize("task", TRAINABLE)
def test_tiny_fixture_every_task(tmp_path: Path, task: str) -> None:
    glue = write_glue_dir(tmp_path, (task,))
    spec = TASKS[task]
    train = read_split(spec, glue, "train")
    assert len(train.examples) == 4
    assert train.skipped_rows == (1 if task == "qqp" else 0)
    first = train.examples[0]
    assert first.text_a.strip() == _SENTS[0][0]
    assert first.text_b == (None if task in ("cola", "sst2") else _SENTS[0][1])
    if task == "stsb":
        assert [e.label for e in train.examples] == [0.0, 1.25, 2.5, 3.75]
    elif task == "mnli":
        assert [e.label for e in train.examples] == [0, 1, 2, 0]
    else:
        assert [e.label for e in train.examples] == [0, 1, 0, 1]
    for split in spec.dev_splits:
        assert [e.label for e in read_split(spec, glue, split).examples] == [e.label for e in train.examples]
    for stem, _ in spec.test_splits:
        test = read_split(spec, glue, stem)
        assert [e.guid for e in test.examples] == ["0", "1", "2", "3"] and test.examples[1].label is None
        assert test.examples[1].text_a == _SENTS[1][0]


def test_ax_is_found_beside_mnli(tmp_path: Path) -> None:
    glue = write_glue_dir(tmp_path, ("mnli",))
    ax = read_split(TASKS["ax"], glue, "diagnostic")
    assert len(ax.examples) == 4 and ax.examples[2].text_b == _SENTS[2][1]


def test_quotes_are_not_csv_quoting(tmp_path: Path) -> None:
    glue = write_glue_dir(tmp_path, ("mrpc",))
    second = read_split(TASKS["mrpc"], glue, "train").examples[1]
    assert second.text_a == 'he said " the witness " lied .'


def test_wrong_column_count_names_file_and_line(tmp_path: Path) -> None:
    glue = write_glue_dir(tmp_path, ("rte",))
    path = glue / "RTE" / "train.tsv"
    lines = path.read_text().splitlines()
    lines[3] = lines[3] + "\textra"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        AlbertctlError, match=r"RTE/train\.tsv:4: expected 4 tab-separated columns .* found 5"
    ):
        read_split(TASKS["rte"], glue, "train")


def test_label_outside_set_names_file_and_line(tmp_path: Path) -> None:
    glue = write_glue_dir(tmp_path, ("cola",))
    path = glue / "CoLA" / "dev.tsv"
    path.write_text(path.read_text().replace("gj04\t1", "gj04\t7", 1))
    with pytest.raises(AlbertctlError, match=r"CoLA/dev\.tsv:2: label '7' is not one of 0, 1"):
        read_split(TASKS["cola"], glue, "dev")


def test_bytes_that_are_not_utf8_name_file_and_line(tmp_path: Path) -> None:
    glue = write_glue_dir(tmp_path, ("cola",))
    path = glue / "CoLA" / "train.tsv"
    lines = path.read_bytes().split(b"\n")
    lines[2] += b" caf\xe9"  # cp1252, not UTF-8
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(AlbertctlError, match=r"CoLA/train\.tsv is not UTF-8 text \(line 3, byte \d+"):
        read_split(TASKS["cola"], glue, "train")


def test_missing_task_and_missing_file(tmp_path: Path) -> None:
    glue = write_glue_dir(tmp_path, ("sst2",))
    with pytest.raises(AlbertctlError, match="no CoLA data under"):
        read_split(TASKS["cola"], glue, "train")
    (glue / "SST-2" / "dev.tsv").unlink()
    with pytest.raises(AlbertctlError, match=r"missing SST-2 file .*dev\.tsv"):
        read_split(TASKS["sst2"], glue, "dev")


def test_task_folder_itself_as_data_dir(tmp_path: Path) -> None:
    glue = write_glue_dir(tmp_path, ("wnli",))
    assert find_task_dir(TASKS["wnli"], glue / "WNLI") == ("tsv", glue / "WNLI")


def test_hf_parquet_layout_maps_mnli_label_names(tmp_path: Path) -> None:
    # The hub orders MNLI labels entailment, neutral, contradiction; the TSV order differs.
    folder = tmp_path / "mnli"
    folder.mkdir()
    table = pa.table(
        {
            "premise": ["p0", "p1", "p2", "p3"],
            "hypothesis": ["h0", "h1", "h2", "h3"],
            "label": [0, 1, 2, -1],
            "idx": [0, 1, 2, 3],
        }
    )
    pq.write_table(table, folder / "validation_matched-00000-of-00001.parquet")
    examples = read_split(TASKS["mnli"], tmp_path, "dev_matched").examples
    names = [None if e.label is None else TASKS["mnli"].labels[e.label] for e in examples]
    assert names == ["entailment", "neutral", "contradiction", None]
    assert examples[1].text_a == "p1" and examples[1].text_b == "h1"


def test_hf_save_to_disk_layout_uses_dataset_info(tmp_path: Path) -> None:
    split_dir = tmp_path / "rte" / "train"
    split_dir.mkdir(parents=True)
    table = pa.table({"sentence1": ["a", "b"], "sentence2": ["c", "d"], "label": [1, 0], "idx": [5, 6]})
    with pa.OSFile(str(split_dir / "data-00000-of-00001.arrow"), "wb") as sink:
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    info = {"features": {"label": {"names": ["entailment", "not_entailment"], "_type": "ClassLabel"}}}
    (split_dir / "dataset_info.json").write_text(json.dumps(info))
    examples = read_split(TASKS["rte"], tmp_path, "train").examples
    assert [(e.guid, e.label) for e in examples] == [("5", 1), ("6", 0)]


_REAL_COUNTS = {
    "cola": {"train": 8551, "dev": 1043, "test": 1063},
    "sst2": {"train": 67349, "dev": 872, "test": 1821},
    "mrpc": {"train": 3668, "dev": 408, "test": 1725},
}


@pytest.mark.parametrize("task", ["cola", "sst2", "mrpc"])
def test_real_tsv_files(shared_data: Path, task: str) -> None:
    spec = TASKS[task]
    for split, count in _REAL_COUNTS[task].items():
        if task == "sst2" and split == "train":
            continue  # 3.8 MB: covered by the counts in ../shared/data/README.md; keep the test fast
        data = read_split(spec, shared_data / "glue", split)
        assert len(data.examples) == count
        if split != "test":
            assert {e.label for e in data.examples} == {0, 1}
        else:
            assert all(e.label is None for e in data.examples)
    if task == "mrpc":  # BOM stripped, unbalanced quotes kept
        dev = read_split(spec, shared_data / "glue", "dev").examples
        assert dev[0].text_b.startswith('" The foodservice') and dev[0].label == 1


@pytest.mark.parametrize("task", ["cola", "sst2", "mrpc"])
def test_real_hf_copies_match_tsv(shared_data: Path, task: str) -> None:
    spec = TASKS[task]
    tsv = read_split(spec, shared_data / "glue", "dev").examples
    hf = read_split(spec, shared_data / "glue_hf_arrow", "dev").examples
    assert [(e.text_a, e.text_b, e.label) for e in hf] == [(e.text_a, e.text_b, e.label) for e in tsv]
    assert find_task_dir(spec, shared_data / "glue_hf_arrow")[0] == "hf"


# --- CLUE (JSON lines) ---


def _write_clue(root: Path) -> Path:
    (root / "tnews").mkdir(parents=True)
    rows = [
        {"label": "108", "label_desc": "news_edu", "sentence": "上课时学生手机响个不停", "keywords": ""},
        {"label": "116", "label_desc": "news_game", "sentence": '游戏 "引号" 测试', "keywords": "游戏"},
    ]
    for split in ("train", "dev"):
        text = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n"
        (root / "tnews" / f"{split}.json").write_text(text, encoding="utf-8")
    (root / "afqmc").mkdir()
    pair = {"sentence1": "花呗如何还款", "sentence2": "花呗怎么还钱", "label": "1"}
    (root / "afqmc" / "dev.json").write_text(json.dumps(pair, ensure_ascii=False) + "\n", encoding="utf-8")
    return root


def test_clue_json_lines(tmp_path: Path) -> None:
    clue = _write_clue(tmp_path)
    train = read_split(TASKS["tnews"], clue, "train")
    assert [(e.text_a, e.text_b, e.label) for e in train.examples] == [
        ("上课时学生手机响个不停", None, TASKS["tnews"].labels.index("108")),
        ('游戏 "引号" 测试', None, 14),
    ]
    assert find_task_dir(TASKS["tnews"], clue) == ("json", clue / "tnews")
    (pair,) = read_split(TASKS["afqmc"], clue, "dev").examples
    assert (pair.text_a, pair.text_b, pair.label) == ("花呗如何还款", "花呗怎么还钱", 1)
    assert TASKS["tnews"].num_labels == 15 and "tnews" not in TRAINABLE
    with pytest.raises(AlbertctlError, match=r"missing afqmc file .*train.json \(present: dev.json\)"):
        read_split(TASKS["afqmc"], clue, "train")
    lines = (clue / "tnews" / "dev.json").read_text(encoding="utf-8").splitlines()
    for bad, message in (
        ("{not json", r"dev.json:2: not a JSON object"),
        ('{"label": "108"}', r"dev.json:2: no 'sentence' for tnews"),
        ('{"label": "105", "sentence": "x"}', r"dev.json:2: label '105' is not one of 100, 101"),
    ):
        (clue / "tnews" / "dev.json").write_text(lines[0] + "\n" + bad + "\n", encoding="utf-8")
        with pytest.raises(AlbertctlError, match=message):
            read_split(TASKS["tnews"], clue, "dev")


def test_real_clue_files(shared_data: Path) -> None:
    clue = shared_data / "zh" / "clue"
    lines = (clue / "tnews" / "labels.json").read_text(encoding="utf-8").splitlines()
    labels = [json.loads(line) for line in lines if line.strip()]
    assert tuple(row["label"] for row in labels) == TASKS["tnews"].labels
    dev = read_split(TASKS["tnews"], clue, "dev").examples
    assert len(dev) == 10_000 and {e.label for e in dev} == set(range(15))
    afqmc = read_split(TASKS["afqmc"], clue, "dev").examples
    assert len(afqmc) == 4316 and sum(e.label == 1 for e in afqmc) == 1338
