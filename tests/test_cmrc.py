"""CMRC 2018: the official metric on hand-computed cases and, independently re-computed, on the real
dev file; answers placed for training; ``finetune|predict|eval cmrc2018`` end to end on a tiny
Chinese WordPiece model through the CLI."""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from albertctl.errors import AlbertctlError
from albertctl.squad.cmrc import (
    char_f1,
    cmrc_scores,
    evaluate_cmrc,
    evaluate_cmrc_files,
    exact_match,
    longest_common_run,
    mixed_segmentation,
    official_output,
    place_answers,
    read_cmrc,
    remove_punctuation,
    split_words,
)
from albertctl.squad.data import parse_squad

CMRC = Path(__file__).resolve().parents[2] / "shared" / "data" / "zh" / "cmrc2018"


# -- the metric on hand-computed cases --------------------------------------------------------


def test_exact_match_removes_the_listed_punctuation_only() -> None:
    assert remove_punctuation(" 《战国无双3》 ") == "战国无双3"
    assert exact_match("光荣和ω-force", "光荣和ωforce") == 1.0
    assert exact_match("ABC", "abc") == 1.0  # lower-cased
    assert exact_match("a b", "ab") == 0.0  # inner whitespace counts
    assert exact_match("北京.", "北京") == 0.0  # ASCII '.' is not on the list
    assert exact_match("…北京", "北京") == 0.0  # the list's '……' never matches one character


def test_mixed_segmentation_keeps_english_words_and_numbers_whole() -> None:
    assert mixed_segmentation("1963年") == ["1963", "年"]
    assert mixed_segmentation("ω-force") == ["ωforce"]  # a removed mark does not end the word
    assert mixed_segmentation("(Billy Joel)、") == ["(", "billy", "joel", ")"]
    assert mixed_segmentation("约1,000元，3.5%") == ["约", "1,000", "元", "3.5", "%"]
    assert mixed_segmentation("Henry A. Walsh") == ["henry", "a.", "walsh"]
    assert mixed_segmentation("it's done.") == ["it", "'s", "done", "."]
    assert mixed_segmentation("a-b", remove_punc=False) == ["a", "-", "b"]
    assert split_words('say "hi"') == ["say", "``", "hi", "''"]


def test_f1_is_over_the_longest_common_contiguous_run() -> None:
    # 北京大学 vs 北大学京: a bag of characters would give F1 1.0; the common run is 大学.
    assert longest_common_run(list("北京大学"), list("北大学京")) == 2
    assert char_f1("北京大学", "北大学京") == pytest.approx(0.5)
    assert char_f1("1963年", "1963年5月") == pytest.approx(2 / 3)  # p 2/4, r 2/2
    assert char_f1("Lionel Richie", "Lionel") == pytest.approx(2 / 3)  # whole words, not letters
    assert char_f1("北京", "上海") == 0.0
    assert char_f1("北京", "，") == 0.0  # a prediction of punctuation only has no segments


def test_scores_average_over_every_question_and_print_as_the_script() -> None:
    gold = {"q1": ["北京大学", "北大"], "q2": ["1963年"], "q3": ["上海"]}
    predictions = {"q1": "北大", "q2": "1963年5月"}  # q3 unanswered: scored 0, counted in skip
    scores = cmrc_scores(gold, predictions)
    assert scores["em"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(100 * (1 + 2 / 3) / 3)
    assert scores["average"] == pytest.approx((scores["em"] + scores["f1"]) / 2)
    assert (scores["total"], scores["skip"]) == (3, 1)
    assert official_output(scores, "p.json") == {
        "AVERAGE": "44.444",
        "F1": "55.556",
        "EM": "33.333",
        "TOTAL": 3,
        "SKIP": 1,
        "FILE": "p.json",
    }


def test_evaluate_refuses_predictions_for_another_file() -> None:
    data = parse_squad(_cmrc_json([("北京", "北京是首都。")]), source="x.json", version="1.1")
    with pytest.raises(AlbertctlError, match="does not have, e.g. nope") as info:
        evaluate_cmrc(data, {"nope": "北京"})
    assert "CMRC 2018 file" in (info.value.hint or "")
    empty = parse_squad(
        {"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "q", "question": "?", "answers": []}]}]}]},
        source="x.json",
        version="1.1",
    )
    with pytest.raises(AlbertctlError, match="question q has no gold answer"):
        evaluate_cmrc(empty, {"q": ""})


@pytest.mark.skipif(not CMRC.joinpath("cmrc2018_dev.json").exists(), reason="CMRC 2018 data absent")
def test_split_words_agrees_with_nltk_on_the_dev_answers() -> None:
    nltk = pytest.importorskip("nltk")
    obj = json.loads(CMRC.joinpath("cmrc2018_dev.json").read_text(encoding="utf-8"))
    texts = [
        a["text"] for art in obj["data"] for p in art["paragraphs"] for q in p["qas"] for a in q["answers"]
    ]
    runs = {r for t in texts for r in re.split(r"[\u4e00-\u9fa5]", remove_punctuation(t)) if r.strip()}
    differ = [r for r in runs if split_words(r) != nltk.word_tokenize(r, preserve_line=True)]
    assert len(differ) <= 2, differ[:5]


# -- answers for training ----------------------------------------------------------------------


def test_place_answers_moves_misplaced_starts_to_the_nearest_occurrence() -> None:
    context = "北京在北方。北京是首都。"
    obj = _cmrc_json([("北京", context)])
    obj["data"][0]["paragraphs"][0]["qas"][0]["answers"] = [
        {"text": "北京", "answer_start": 5},  # off by one: the occurrence at 6 is nearer than 0
        {"text": "首都", "answer_start": 9},  # right
    ]
    data = parse_squad(obj, source="t.json", version="1.1", check_spans=False)
    placed, counts = place_answers(data)
    assert counts == {"moved": 1, "dropped": 0}
    assert [(a.text, a.start) for a in placed.examples[0].answers] == [("北京", 6), ("首都", 9)]

    obj["data"][0]["paragraphs"][0]["qas"][0]["answers"].append({"text": "上海", "answer_start": -1})
    data = parse_squad(obj, source="t.json", version="1.1", check_spans=False)
    with pytest.raises(AlbertctlError, match=r"answers\[2\] '上海' does not occur") as info:
        place_answers(data)
    assert "--skip-bad-answers" in (info.value.hint or "")
    placed, counts = place_answers(data, skip_bad_answers=True)
    assert counts == {"moved": 1, "dropped": 1} and placed.bad_answers == 1


@pytest.mark.skipif(not CMRC.joinpath("cmrc2018_train.json").exists(), reason="CMRC 2018 data absent")
def test_real_files_place_every_training_answer() -> None:
    train = read_cmrc(CMRC / "cmrc2018_train.json", training=False)
    placed, counts = place_answers(train)
    assert len(train.examples) == 10_142 and counts == {"moved": 21, "dropped": 0}
    assert all(e.context[a.start : a.end] == a.text for e in placed.examples for a in e.answers)
    dev = read_cmrc(CMRC / "cmrc2018_dev.json", training=False)  # every answer kept for the metric
    assert len(dev.examples) == 3_219 and sum(len(e.answers) for e in dev.examples) == 9_657


# -- the metric re-computed independently on the real dev file --------------------------------

_OFFICIAL_LIST = (
    "- : _ * ^ / \\ ~ ` + = ， 。 ： ？ ！ “ ” ； ’ 《 》 …… · 、 「 」 （ ） － ～ 『 』".split()
)


def _reference_segments(text: str) -> list[str]:
    """The script's segmentation, written again: CJK characters alone, the rest through nltk when
    installed (else our word splitter, the one part not re-derived here)."""
    try:
        from nltk import word_tokenize

        def words(run: str) -> list[str]:
            return word_tokenize(run, preserve_line=True)
    except ImportError:
        words = split_words
    kept = "".join(c for c in text.lower().strip() if c not in _OFFICIAL_LIST)
    pieces = re.split(r"([\u4e00-\u9fa5])", kept)  # odd indices: the CJK characters
    return [
        s for i, piece in enumerate(pieces) for s in ([piece] if i % 2 else words(piece) if piece else [])
    ]


def _reference_scores(obj: dict, predictions: dict[str, str]) -> tuple[float, float, int, int]:
    em = f1 = 0.0
    total = skip = 0
    for article in obj["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                total += 1
                if qa["id"] not in predictions:
                    skip += 1
                    continue
                pred = predictions[qa["id"]]
                golds = [a["text"] for a in qa["answers"]]
                norm = ["".join(c for c in g.lower().strip() if c not in _OFFICIAL_LIST) for g in golds]
                em += "".join(c for c in pred.lower().strip() if c not in _OFFICIAL_LIST) in norm
                best = 0.0
                p_seg = _reference_segments(pred)
                for gold in golds:
                    g_seg = _reference_segments(gold)
                    match = difflib.SequenceMatcher(None, g_seg, p_seg, autojunk=False)
                    common = match.find_longest_match(0, len(g_seg), 0, len(p_seg)).size
                    if common:
                        p, r = common / len(p_seg), common / len(g_seg)
                        best = max(best, 2 * p * r / (p + r))
                f1 += best
    return 100 * f1 / total, 100 * em / total, total, skip


@pytest.mark.skipif(not CMRC.joinpath("cmrc2018_dev.json").exists(), reason="CMRC 2018 data absent")
def test_dev_scores_match_an_independent_recomputation(tmp_path: Path) -> None:
    obj = json.loads(CMRC.joinpath("cmrc2018_dev.json").read_text(encoding="utf-8"))
    rng = np.random.default_rng(0)
    predictions: dict[str, str] = {}
    for article in obj["data"]:
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                gold = qa["answers"][-1]["text"]
                kind = int(rng.integers(5))
                if kind == 0:
                    continue  # unanswered
                at = max(context.find(gold), 0)
                if kind == 2:  # too long: a few context characters either side
                    gold = context[max(at - 2, 0) : at + len(gold) + 3]
                elif kind == 3:  # too short
                    gold = gold[: max(1, len(gold) // 2)]
                elif kind == 4:  # elsewhere in the paragraph
                    start = int(rng.integers(max(1, len(context) - 8)))
                    gold = context[start : start + 8]
                predictions[qa["id"]] = gold
    path = tmp_path / "predictions.json"
    path.write_text(json.dumps(predictions, ensure_ascii=False), encoding="utf-8")
    scores = evaluate_cmrc_files(CMRC / "cmrc2018_dev.json", path)
    f1, em, total, skip = _reference_scores(obj, predictions)
    assert (scores["total"], scores["skip"]) == (total, skip) == (3219, 3219 - len(predictions))
    assert scores["em"] == pytest.approx(em, abs=1e-9)
    assert scores["f1"] == pytest.approx(f1, abs=1e-9)
    assert 15 < scores["em"] < scores["f1"] < 80  # imperfect: about 1 in 5 exact


# -- end to end: a tiny Chinese WordPiece model through the CLI -------------------------------

_NAMES = ["甲乙", "丙丁", "戊己", "庚辛", "壬癸", "子丑"]
_FILLER = "今天天气很好我们一起去公园散步看见了很多花草树木"


def _cmrc_json(items: list[tuple[str, str]], *, prefix: str = "TRAIN") -> dict:
    """CMRC 2018's layout: version v1.0, articles with id and title, paragraphs with id."""
    paragraphs = []
    for n, (answer, context) in enumerate(items):
        qa = {
            "question": "模块的名字叫什么？",
            "id": f"{prefix}_{n}_QUERY_0",
            "answers": [{"text": answer, "answer_start": context.find(answer)} for _ in range(3)],
        }
        paragraphs.append({"id": f"{prefix}_{n}", "context": context, "qas": [qa]})
    return {"version": "v1.0", "data": [{"paragraphs": paragraphs, "id": f"{prefix}_0", "title": "模块"}]}


def _cmrc_file(path: Path, *, questions: int, seed: int, prefix: str) -> Path:
    rng = np.random.default_rng(seed)
    items = []
    for _ in range(questions):
        name = _NAMES[int(rng.integers(len(_NAMES)))]
        a, b = (int(x) for x in rng.integers(2, 14, size=2))
        items.append((name, f"{_FILLER[:a]}，这个模块的名字叫{name}。{_FILLER[-b:]}"))
    obj = _cmrc_json(items, prefix=prefix)
    obj["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] += 1  # as the real files
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def zh_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A debug ALBERT with a BERT-Chinese-style vocab.txt (every character, ## pieces, [UNK] ...)."""
    from albertctl.model import AlbertForPreTraining, get_config, save_model
    from albertctl.vocab import load_tokenizer

    root = tmp_path_factory.mktemp("cmrc_ckpt")
    chars = sorted(set("".join(_NAMES) + _FILLER + "，这个模块的名字叫。什么？"))
    lines = ["[PAD]", *(f"[unused{i}]" for i in range(5)), "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]
    (root / "vocab").mkdir()
    (root / "vocab" / "vocab.txt").write_text("\n".join(lines + [f"##{c}" for c in chars]) + "\n", "utf-8")
    tokenizer = load_tokenizer(root / "vocab")
    config = get_config("debug", vocab_size=tokenizer.vocab_size)
    model = AlbertForPreTraining(config, generator=torch.Generator().manual_seed(0))
    save_model(model, root / "model", tokenizer=tokenizer)
    return root / "model"


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from albertctl.cli import app, main
    from albertctl.cli import cmrc as cmrc_cli
    from albertctl.cli.finetune import finetune_app

    if "cmrc2018" not in {c.name for c in finetune_app.registered_commands}:
        cmrc_cli.register(app)  # until albertctl/cli/__init__.py lists the module
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out + captured.err


def test_finetune_predict_and_eval_cmrc2018_agree(
    zh_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from albertctl.vocab import load_tokenizer
    from albertctl.vocab.wordpiece import WordPieceTokenizer

    assert isinstance(load_tokenizer(zh_checkpoint), WordPieceTokenizer)
    train = _cmrc_file(tmp_path / "cmrc2018_train.json", questions=24, seed=1, prefix="TRAIN")
    dev = _cmrc_file(tmp_path / "cmrc2018_dev.json", questions=9, seed=2, prefix="DEV")
    out = tmp_path / "ft"
    flags = ["--lr", "3e-3", "--batch-size", "8", "--max-steps", "6", "--eval-every", "3", "--device", "cpu"]
    windows = ["--max-seq-length", "40", "--doc-stride", "8", "--max-query-length", "12"]
    code, text = _run(
        ["finetune", "cmrc2018", "--train-file", str(train), "--dev-file", str(dev),
         "--model", str(zh_checkpoint), "--out", str(out), *flags, *windows],
        capsys,
    )  # fmt: skip
    assert code == 0, text
    assert "1 misplaced answers moved to their text" in text and "CMRC 2018 dev" in text
    results = json.loads((out / "results.json").read_text())
    task = results["tasks"]["cmrc2018"]
    assert task["metrics"] == ["f1", "em", "average"] and task["selection_metric"] == "f1"
    assert task["hparams"]["max_steps"] == 6 and task["dev_examples"] == {"dev": 9}
    final = out / task["seeds"][0]["final"]["checkpoint"]
    meta = json.loads((final / "cmrc2018.json").read_text())
    assert (meta["task"], meta["max_seq_length"], meta["doc_stride"], meta["version"]) == (
        "cmrc2018", 40, 8, "1.1"
    )  # fmt: skip

    code, text = _run(
        ["predict", "cmrc2018", "--model", str(out), "--which", "final", "--input", str(dev),
         "--out", str(tmp_path / "pred"), "--device", "cpu"],
        capsys,
    )  # fmt: skip
    assert code == 0, text
    answers = json.loads((tmp_path / "pred" / "predictions.json").read_text(encoding="utf-8"))
    assert set(answers) == {f"DEV_{n}_QUERY_0" for n in range(9)}

    # eval re-scores the written file exactly as the run's final dev evaluation.
    code, text = _run(
        [
            "eval",
            "cmrc2018",
            "--dev-file",
            str(dev),
            "--predictions",
            str(tmp_path / "pred/predictions.json"),
        ],
        capsys,
    )
    assert code == 0, text
    line = json.loads(next(row for row in text.splitlines() if row.startswith("{")))
    rescored = evaluate_cmrc_files(dev, tmp_path / "pred" / "predictions.json")
    for name, value in task["seeds"][0]["final"]["metrics"].items():
        assert rescored[name] == pytest.approx(value, abs=1e-9), name
        assert line[name.upper()] == f"{value:.3f}"
    assert (line["TOTAL"], line["SKIP"]) == (9, 0)

    # a SQuAD command does not take the CMRC model, and a SQuAD version is refused.
    code, text = _run(
        ["predict", "squad", "--model", str(out), "--input", str(dev), "--out", str(tmp_path / "p2")], capsys
    )
    assert code == 1 and "has no fine-tuned squad model" in text
    from albertctl.squad.cmrc_config import CmrcFinetuneConfig

    with pytest.raises(AlbertctlError, match="version must be 1.1"):
        CmrcFinetuneConfig(version="2.0")
    assert CmrcFinetuneConfig().max_seq_length == 512
