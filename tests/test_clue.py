"""CLUE classification: the seven tasks in the registry, their JSON-lines readers (tiny fixtures in
each task's real layout), CLUEWSC2020's span markers, the leaderboard files and zip, ``finetune /
eval / predict clue`` end to end on a debug model, and reading the real TNEWS/AFQMC/CLUEWSC2020."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from albertctl.clue.submit import SUBMISSION_FILES, format_submission, write_submit_zip
from albertctl.errors import AlbertctlError
from albertctl.glue.readers import mark_wsc_spans, read_split
from albertctl.glue.tasks import CLUE_TASKS, TASKS, TRAINABLE, parse_tasks

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "zh" / "clue"

_CHARS = "花呗借还款能提额度怎么开通为什么用不了今天天气很我想要手机的他们它这那里"
_TNEWS = tuple(str(i) for i in range(100, 117) if i not in (105, 111))


def _sentence(rng: np.random.Generator, low: int = 4, high: int = 12) -> str:
    return "".join(rng.choice(list(_CHARS), size=int(rng.integers(low, high))))


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def _afqmc_rows(n: int, rng: np.random.Generator) -> list[dict]:
    """A learnable AFQMC-like pair task: label "1" iff sentence 1 starts with 好, "0" with 坏."""
    rows = []
    for i in range(n):
        label = i % 2
        rows.append(
            {
                "sentence1": ("好" if label else "坏") + _sentence(rng),
                "sentence2": _sentence(rng),
                "label": str(label),
            }
        )
    return rows


def _wsc_row(rng: np.random.Generator, i: int, *, key: str = "idx", label: bool = True) -> dict:
    noun, pronoun = "手机", "它"
    before, middle, after = _sentence(rng, 2, 5), _sentence(rng, 2, 5), _sentence(rng, 1, 4)
    text = before + noun + middle + pronoun + after
    row = {
        "target": {
            "span2_index": len(before) + len(noun) + len(middle),
            "span1_index": len(before),
            "span1_text": noun,
            "span2_text": pronoun,
        },
        key: i,
        "text": text,
    }
    if label:
        row["label"] = "true" if i % 2 else "false"
    return row


def write_clue_dir(root: Path) -> Path:
    """DIR/<task>/ for all seven tasks, in the layouts CLUE's *_public.zip unpack to."""
    rng = np.random.default_rng(0)
    _write_jsonl(root / "afqmc" / "train.json", _afqmc_rows(128, rng))
    _write_jsonl(root / "afqmc" / "dev.json", _afqmc_rows(16, rng))
    afqmc_test = [{"id": i, "sentence1": r["sentence1"], "sentence2": r["sentence2"]} for i, r in
                  enumerate(_afqmc_rows(6, rng))]  # fmt: skip
    _write_jsonl(root / "afqmc" / "test.json", afqmc_test)

    def tnews(i: int) -> dict:
        label = _TNEWS[i % len(_TNEWS)]
        return {"label": label, "label_desc": f"news_{label}", "sentence": _sentence(rng), "keywords": ""}

    for split, n in (("train", 15), ("dev", 5)):
        _write_jsonl(root / "tnews" / f"{split}.json", [tnews(i) for i in range(n)])
    for stem, n in (("test", 4), ("test1.0", 3)):
        rows = [{"id": i, "sentence": _sentence(rng), "keywords": "天气,手机"} for i in range(n)]
        _write_jsonl(root / "tnews" / f"{stem}.json", rows)
    _write_jsonl(root / "tnews" / "labels.json", [{"label": x, "label_desc": f"news_{x}"} for x in _TNEWS])

    def iflytek(i: int) -> dict:
        return {"label": str(i * 17 % 119), "label_des": "打车", "sentence": _sentence(rng, 20, 40)}

    for split, n in (("train", 8), ("dev", 4)):
        _write_jsonl(root / "iflytek" / f"{split}.json", [iflytek(i) for i in range(n)])
    _write_jsonl(root / "iflytek" / "test.json", [{"id": i, "sentence": _sentence(rng)} for i in range(3)])
    _write_jsonl(
        root / "iflytek" / "labels.json", [{"label": str(i), "label_des": "打车"} for i in range(119)]
    )

    nli = ("entailment", "neutral", "contradiction", "-")

    def ocnli(i: int) -> dict:
        return {
            "level": "easy",
            "sentence1": _sentence(rng),
            "sentence2": _sentence(rng),
            "label": nli[i % 4],
            "genre": "gov",
            "prem_id": f"gov_{i}",
            "id": i,
        }

    _write_jsonl(root / "ocnli" / "train.50k.json", [ocnli(i) for i in range(8)])
    _write_jsonl(root / "ocnli" / "dev.json", [ocnli(i) for i in range(3)])
    pairs = [{"id": i, "sentence1": _sentence(rng), "sentence2": _sentence(rng)} for i in range(3)]
    _write_jsonl(root / "ocnli" / "test.json", pairs)
    for split, n in (("train", 8), ("dev", 4)):
        rows = [
            {"sentence1": _sentence(rng), "sentence2": _sentence(rng), "label": nli[i % 4]} for i in range(n)
        ]
        _write_jsonl(root / "cmnli" / f"{split}.json", rows)
    _write_jsonl(root / "cmnli" / "test.json", pairs)

    def csl(i: int, labelled: bool = True) -> dict:
        row = {"id": i, "abst": _sentence(rng, 20, 40), "keyword": ["手机", "天气", "花呗"]}
        return {**row, "label": str(i % 2)} if labelled else row

    for split, n in (("train", 6), ("dev", 4)):
        _write_jsonl(root / "csl" / f"{split}.json", [csl(i) for i in range(n)])
    _write_jsonl(root / "csl" / "test.json", [csl(i, labelled=False) for i in range(3)])

    for split, n in (("train", 6), ("dev", 4)):
        _write_jsonl(root / "cluewsc2020" / f"{split}.json", [_wsc_row(rng, i) for i in range(n)])
    for stem, n in (("test", 3), ("test1.0", 2)):
        rows = [_wsc_row(rng, i, key="id", label=False) for i in range(n)]
        _write_jsonl(root / "cluewsc2020" / f"{stem}.json", rows)
    return root


@pytest.fixture(scope="module")
def clue_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clue_dir(tmp_path_factory.mktemp("clue"))


# --- the registry ------------------------------------------------------------------------------


def test_registry_lists_the_seven_and_keeps_glue_nine() -> None:
    assert CLUE_TASKS == ("tnews", "iflytek", "afqmc", "ocnli", "cmnli", "csl", "cluewsc2020")
    assert set(SUBMISSION_FILES) == set(CLUE_TASKS)
    assert TRAINABLE == ("cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli")
    assert [s.name for s in parse_tasks("all")] == list(TRAINABLE)
    assert [s.name for s in parse_tasks("all", benchmark="CLUE")] == list(CLUE_TASKS)
    assert [s.name for s in parse_tasks("tnews,wsc", benchmark="CLUE")] == ["tnews", "cluewsc2020"]
    assert parse_tasks("tnews")[0].name == "tnews"  # `finetune glue --task tnews` keeps working
    for name in CLUE_TASKS:
        spec = TASKS[name]
        assert spec.metrics == ("accuracy",) and spec.selection_metric == "accuracy"
        assert spec.preset is not None and spec.preset.warmup_steps * 10 <= spec.preset.max_steps
    tnews = TASKS["tnews"]
    assert tnews.num_labels == 15 and tnews.label_id("116") == 14 and "105" not in tnews.labels
    assert TASKS["iflytek"].num_labels == 119 and TASKS["iflytek"].label_id("118") == 118
    assert TASKS["cluewsc2020"].labels == ("true", "false")  # CLUE's baseline order
    with pytest.raises(AlbertctlError, match="not a CLUE task"):
        parse_tasks("tnews,cola", benchmark="CLUE")


# --- CLUEWSC2020's markers ---------------------------------------------------------------------


def _baseline_marks(text: str, q: int, query: str, p: int, pronoun: str) -> str:
    """The successive list inserts of CLUE's baseline WscProcessor, restated for the comparison."""
    chars = list(text)
    if p > q:
        chars.insert(q, "_")
        chars.insert(q + len(query) + 1, "_")
        chars.insert(p + 2, "[")
        chars.insert(p + len(pronoun) + 3, "]")
    else:
        chars.insert(p, "[")
        chars.insert(p + len(pronoun) + 1, "]")
        chars.insert(q + 2, "_")
        chars.insert(q + len(query) + 3, "_")
    return "".join(chars)


def test_wsc_markers_match_clues_baseline() -> None:
    text = "这时候放在床上枕头旁边的手机响了，现在它突然响了。"
    assert (
        mark_wsc_spans(text, (12, "手机"), (19, "它"), "x")
        == "这时候放在床上枕头旁边的_手机_响了，现在[它]突然响了。"
    )
    assert mark_wsc_spans("它说手机", (2, "手机"), (0, "它"), "x") == "[它]说_手机_"
    assert mark_wsc_spans("手机它", (0, "手机"), (2, "它"), "x") == "_手机_[它]"  # touching spans
    rng = np.random.default_rng(1)
    for _ in range(200):  # random non-overlapping spans in either order, touching ones included
        n = int(rng.integers(4, 20))
        text = "".join(rng.choice(list(_CHARS), size=n))
        a, b, c, d = sorted(rng.choice(n + 1, size=4, replace=False).tolist())
        if rng.random() < 0.3:
            c = b
        first, second = (a, text[a:b]), (c, text[c:d])
        q, p = (first, second) if rng.random() < 0.5 else (second, first)
        assert mark_wsc_spans(text, q, p, "x") == _baseline_marks(text, q[0], q[1], p[0], p[1])


def test_wsc_span_off_its_index_names_the_line(tmp_path: Path) -> None:
    row = _wsc_row(np.random.default_rng(0), 0)
    row["target"]["span2_index"] += 1
    _write_jsonl(tmp_path / "cluewsc2020" / "dev.json", [_wsc_row(np.random.default_rng(0), 1), row])
    with pytest.raises(AlbertctlError, match=r"dev\.json:2: span '它' is not at character"):
        read_split(TASKS["cluewsc2020"], tmp_path, "dev")


# --- readers on the tiny fixtures ----------------------------------------------------------------


def test_readers_of_every_task(clue_dir: Path) -> None:
    tnews = read_split(TASKS["tnews"], clue_dir, "train").examples
    assert len(tnews) == 15 and [e.label for e in tnews] == list(range(15)) and tnews[0].text_b is None
    test = read_split(TASKS["tnews"], clue_dir, "test").examples
    assert [e.guid for e in test] == ["0", "1", "2", "3"] and all(e.label is None for e in test)
    assert len(read_split(TASKS["tnews"], clue_dir, "test1.0").examples) == 3

    iflytek = read_split(TASKS["iflytek"], clue_dir, "train").examples
    assert [e.label for e in iflytek] == [i * 17 % 119 for i in range(8)]

    afqmc = read_split(TASKS["afqmc"], clue_dir, "dev").examples
    assert len(afqmc) == 16 and all(e.text_b for e in afqmc) and {e.label for e in afqmc} == {0, 1}

    ocnli = read_split(TASKS["ocnli"], clue_dir, "train")  # train.50k.json; "-" rows skipped
    assert ocnli.source.name == "train.50k.json" and ocnli.skipped_rows == 2 and len(ocnli.examples) == 6
    assert [e.guid for e in ocnli.examples] == ["0", "1", "2", "4", "5", "6"]
    assert [TASKS["ocnli"].labels[e.label] for e in ocnli.examples[:3]] == [
        "entailment",
        "neutral",
        "contradiction",
    ]
    cmnli = read_split(TASKS["cmnli"], clue_dir, "dev")
    assert cmnli.skipped_rows == 1 and len(cmnli.examples) == 3

    csl = read_split(TASKS["csl"], clue_dir, "train").examples
    assert csl[0].text_a == "手机 天气 花呗" and len(csl[0].text_b) >= 20 and csl[1].label == 1

    wsc = read_split(TASKS["cluewsc2020"], clue_dir, "dev").examples
    assert all(e.text_a.count("_手机_") == 1 and e.text_a.count("[它]") == 1 for e in wsc)
    assert [e.label for e in wsc] == [1, 0, 1, 0]  # "false", "true", ... with "true" = 0
    wsc_test = read_split(TASKS["cluewsc2020"], clue_dir, "test").examples
    assert [e.guid for e in wsc_test] == ["0", "1", "2"] and "[它]" in wsc_test[0].text_a


def test_labels_json_must_match_the_registry(tmp_path: Path) -> None:
    _write_jsonl(tmp_path / "tnews" / "train.json", [{"label": "100", "sentence": "天气"}])
    labels = [{"label": x, "label_desc": "d"} for x in (*_TNEWS[:-1], "105")]
    _write_jsonl(tmp_path / "tnews" / "labels.json", labels)
    with pytest.raises(
        AlbertctlError, match=r"labels\.json lists other labels .*not in the task: 105.*absent: 116"
    ):
        read_split(TASKS["tnews"], tmp_path, "train")


def test_public_zip_folder_name_and_bad_rows(tmp_path: Path) -> None:
    _write_jsonl(
        tmp_path / "afqmc_public" / "dev.json", [{"sentence1": "好", "sentence2": "坏", "label": "1"}]
    )
    assert read_split(TASKS["afqmc"], tmp_path, "dev").examples[0].label == 1
    _write_jsonl(tmp_path / "csl" / "dev.json", [{"abst": "摘要", "keyword": {"a": 1}, "label": "0"}])
    with pytest.raises(AlbertctlError, match=r"dev\.json:1: 'keyword' is dict, not text"):
        read_split(TASKS["csl"], tmp_path, "dev")
    _write_jsonl(tmp_path / "cmnli" / "dev.json", [{"sentence1": "a", "sentence2": "b", "label": "maybe"}])
    with pytest.raises(AlbertctlError, match=r"dev\.json:1: label 'maybe' is not one of"):
        read_split(TASKS["cmnli"], tmp_path, "dev")


# --- the submission files ------------------------------------------------------------------------


def test_submission_format_and_zip(tmp_path: Path) -> None:
    text = format_submission(TASKS["tnews"], ["0", "1", "x7"], np.array([0, 14, 5]))
    assert text.splitlines() == [
        '{"id": 0, "label": "100"}',
        '{"id": 1, "label": "116"}',
        '{"id": "x7", "label": "106"}',
    ]
    assert text.endswith("}\n") and "\r" not in text
    for name, body in (("b_predict.json", "{}\n"), ("a_predict.json", "[]\n")):
        (tmp_path / name).write_text(body, encoding="utf-8")
    first = write_submit_zip(tmp_path, ["b_predict.json", "a_predict.json"]).read_bytes()
    with zipfile.ZipFile(tmp_path / "submit.zip") as archive:
        assert archive.namelist() == ["a_predict.json", "b_predict.json"]
        assert archive.read("b_predict.json") == b"{}\n"
    assert write_submit_zip(tmp_path, ["a_predict.json", "b_predict.json"]).read_bytes() == first
    assert not (tmp_path / "submit.zip.tmp").exists()


# --- finetune / eval / predict clue end to end ---------------------------------------------------


@pytest.fixture(scope="module")
def zh_checkpoint(clue_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random debug-flavor ALBERT with a WordPiece vocab of every character in the fixtures."""
    from albertctl.model import AlbertForPreTraining, get_config, save_model
    from albertctl.vocab import load_tokenizer

    chars = sorted(
        {c for path in clue_dir.rglob("*.json") for c in path.read_text("utf-8") if not c.isspace()}
    )
    specials = ["[PAD]", "[unused0]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab_dir = tmp_path_factory.mktemp("zh_vocab")
    (vocab_dir / "vocab.txt").write_text("\n".join(specials + chars) + "\n", encoding="utf-8")
    tokenizer = load_tokenizer(vocab_dir)
    unk = tokenizer.encode_batch(["龘"])[0]
    assert (
        len(tokenizer.encode_batch(["_手机_[它]"])[0]) == 7
        and unk[0] not in tokenizer.encode_batch(["[它]"])[0]
    )
    config = get_config("debug", vocab_size=tokenizer.vocab_size)
    out = tmp_path_factory.mktemp("zh_ckpt") / "model"
    save_model(
        AlbertForPreTraining(config, generator=torch.Generator().manual_seed(0)), out, tokenizer=tokenizer
    )
    return out


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from albertctl.cli import app, main
    from albertctl.cli import clue as clue_cli
    from albertctl.cli.finetune import finetune_app

    if not any(c.name == "clue" for c in finetune_app.registered_commands):
        clue_cli.register(app)  # until albertctl.cli wires it
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err


def test_finetune_eval_predict_clue(
    clue_dir: Path, zh_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ft"
    flags = ["--lr", "3e-4", "--batch-size", "16", "--max-steps", "120", "--eval-every", "20"]
    flags += ["--max-seq-length", "32", "--seeds", "1,2", "--device", "cpu"]
    common = ["--data-dir", str(clue_dir), "--model", str(zh_checkpoint)]
    code, stdout, err = _run(
        ["finetune", "clue", "--task", "afqmc", *common, "--out", str(out), *flags], capsys
    )
    assert code == 0, stdout + err
    assert "CLUE dev accuracy" in stdout and "±" in stdout and "final" in stdout
    results = json.loads((out / "results.json").read_text())
    task = results["tasks"]["afqmc"]
    assert task["metrics"] == ["accuracy"] and [s["seed"] for s in task["seeds"]] == [1, 2]
    assert task["best"]["accuracy"]["mean"] >= 0.75  # 好 vs 坏 first: learnable in 120 steps
    assert all(s["best"]["metrics"]["accuracy"] >= s["final"]["metrics"]["accuracy"] for s in task["seeds"])

    code, stdout, _ = _run(
        ["eval", "clue", "--model", str(out), "--data-dir", str(clue_dir), "--device", "cpu"], capsys
    )
    best_seed = max(s["best"]["metrics"]["accuracy"] for s in task["seeds"])
    assert code == 0 and "afqmc dev" in stdout and f"{100 * best_seed:.2f}" in stdout

    sub = tmp_path / "submit"
    code, stdout, _ = _run(
        ["predict", "clue", *common[:2], "--model", str(out), "--out", str(sub), "--device", "cpu"], capsys
    )
    assert code == 0, stdout
    assert sorted(p.name for p in sub.iterdir()) == ["afqmc_predict.json", "submit.zip"]
    rows = [json.loads(line) for line in (sub / "afqmc_predict.json").read_text().splitlines()]
    assert [r["id"] for r in rows] == list(range(6)) and all(set(r) == {"id", "label"} for r in rows)
    assert {r["label"] for r in rows} <= {"0", "1"}
    assert "not written" in stdout and "tnews11_predict.json" in stdout
    with zipfile.ZipFile(sub / "submit.zip") as archive:
        assert archive.namelist() == ["afqmc_predict.json"]
        assert archive.read("afqmc_predict.json") == (sub / "afqmc_predict.json").read_bytes()

    code, _, err = _run(["predict", "clue", *common[:2], "--model", str(out), "--out", str(sub)], capsys)
    assert code == 1 and "--overwrite" in err
    code, _, err = _run(["finetune", "clue", "--task", "cola", *common, "--out", str(tmp_path / "x")], capsys)
    assert code == 1 and "not a CLUE task" in err


def test_predict_clue_writes_both_test_versions(
    clue_dir: Path, zh_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ft"
    flags = ["--max-steps", "2", "--batch-size", "4", "--max-seq-length", "32", "--device", "cpu"]
    common = ["--data-dir", str(clue_dir), "--model", str(zh_checkpoint)]
    code, stdout, err = _run(
        ["finetune", "clue", "--task", "cluewsc2020,tnews", *common, "--out", str(out), *flags], capsys
    )
    assert code == 0, stdout + err
    assert "average" in stdout
    sub = tmp_path / "submit"
    code, stdout, _ = _run(
        ["predict", "clue", *common[:2], "--model", str(out), "--out", str(sub), "--device", "cpu"], capsys
    )
    assert code == 0, stdout
    names = {
        "cluewsc11_predict.json",
        "cluewsc10_predict.json",
        "tnews11_predict.json",
        "tnews10_predict.json",
    }
    assert {p.name for p in sub.iterdir()} == names | {"submit.zip"}
    tnews = [json.loads(line) for line in (sub / "tnews11_predict.json").read_text().splitlines()]
    assert len(tnews) == 4 and all(r["label"] in _TNEWS for r in tnews)
    wsc = [json.loads(line) for line in (sub / "cluewsc10_predict.json").read_text().splitlines()]
    assert len(wsc) == 2 and all(r["label"] in ("true", "false") for r in wsc)
    with zipfile.ZipFile(sub / "submit.zip") as archive:
        assert sorted(archive.namelist()) == sorted(names)


# --- the real files ------------------------------------------------------------------------------


@pytest.mark.skipif(not (REAL / "tnews" / "dev.json").exists(), reason="shared CLUE data absent")
def test_real_tnews_and_afqmc() -> None:
    train = read_split(TASKS["tnews"], REAL, "train").examples  # labels.json checked on the way
    dev = read_split(TASKS["tnews"], REAL, "dev").examples
    assert (len(train), len(dev)) == (53_360, 10_000)
    assert dev[0].text_a.startswith("江疏影甜甜圈自拍") and TASKS["tnews"].labels[dev[0].label] == "102"
    assert set(np.unique([e.label for e in train])) == set(range(15))
    afqmc = read_split(TASKS["afqmc"], REAL, "dev").examples
    assert len(afqmc) == 4316 and sum(e.label == 1 for e in afqmc) == 1338
    if (REAL / "afqmc" / "train.json").exists():
        assert len(read_split(TASKS["afqmc"], REAL, "train").examples) == 34_334


@pytest.mark.skipif(not (REAL / "cluewsc2020" / "dev.json").exists(), reason="shared CLUE data absent")
def test_real_cluewsc2020() -> None:
    train = read_split(TASKS["cluewsc2020"], REAL, "train").examples
    dev = read_split(TASKS["cluewsc2020"], REAL, "dev").examples
    assert (len(train), len(dev)) == (1244, 304)
    assert sum(TASKS["cluewsc2020"].labels[e.label] == "true" for e in dev) == 111
    assert train[0].text_a == "裂开的_伤口_涂满尘土，里面有碎石子和木头刺，我小心翼翼把[它们]剔除出去。"
    raw = [json.loads(line) for line in (REAL / "cluewsc2020" / "dev.json").read_text("utf-8").splitlines()]
    for row, example in zip(raw, dev, strict=True):
        t = row["target"]
        expected = _baseline_marks(
            row["text"], t["span1_index"], t["span1_text"], t["span2_index"], t["span2_text"]
        )
        assert example.text_a == expected
