"""The official SQuAD metrics: hand-computed v1.1/v2.0 cases, file reading and writing with its
errors, and an independent re-computation (regex-free, written from the official definitions) on
the real SQuAD v1.1 dev file and on a random v2.0 fixture."""

from __future__ import annotations

import json
import string
from pathlib import Path

import numpy as np
import pytest

from albertctl.errors import AlbertctlError
from albertctl.squad import evaluate, evaluate_files, normalize_answer, write_null_odds, write_predictions
from albertctl.squad.metrics import f1_v1, f1_v2, squad_v1_scores, squad_v2_scores

SQUAD_DEV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "squad" / "dev-v1.1.json"


# --- an independent implementation of the official definitions ---------------------------------------


def _words_without_articles(text: str) -> str:
    """Replace every whole word a/an/the (word = run of \\w characters: alnum or _) by a space."""
    out: list[str] = []
    word: list[str] = []
    for ch in text + "\0":
        if ch.isalnum() or ch == "_":
            word.append(ch)
            continue
        token = "".join(word)
        out.append(" " if token in ("a", "an", "the") else token)
        word = []
        out.append(ch)
    return "".join(out[:-1])


def _normalize(text: str) -> list[str]:
    text = text.lower().translate(str.maketrans("", "", string.punctuation))
    return _words_without_articles(text).split()


def _f1(gold: list[str], pred: list[str], *, v2: bool) -> float:
    if v2 and (not gold or not pred):
        return 1.0 if gold == pred else 0.0
    counts: dict[str, int] = {}
    for token in gold:
        counts[token] = counts.get(token, 0) + 1
    same = 0
    for token in pred:
        if counts.get(token, 0) > 0:
            counts[token] -= 1
            same += 1
    return 0.0 if same == 0 else 2.0 * same / (len(gold) + len(pred))


def _independent(gold: dict[str, list[str]], preds: dict[str, str], *, v2: bool) -> tuple[float, float]:
    em = f1 = 0.0
    for qid, answers in gold.items():
        if qid not in preds:
            continue
        golds = [a for a in answers if _normalize(a)] or [""] if v2 else answers
        p = _normalize(preds[qid])
        em += max(float(_normalize(a) == p) for a in golds)
        f1 += max(_f1(_normalize(a), p, v2=v2) for a in golds)
    return 100.0 * em / len(gold), 100.0 * f1 / len(gold)


# --- hand-computed cases -----------------------------------------------------------------------------


def test_normalization_punctuation_articles_and_whitespace() -> None:
    assert normalize_answer("The  Cat, a dog!") == "cat dog"
    assert normalize_answer("Theatre an-apple") == "theatre anapple"  # articles only as whole words
    assert normalize_answer("  A\tthe\nAN ") == ""
    assert normalize_answer("the–war") == "–war"  # "–" is not ASCII punctuation but ends the word
    assert normalize_answer("Thé Café") == "thé café"


def test_v11_exact_f1_and_multiple_golds() -> None:
    assert f1_v1("Denver Broncos", "the Broncos") == pytest.approx(2 / 3)
    assert f1_v1("a b c", "b c d") == pytest.approx(0.8)  # "a" is an article: gold is "b c"
    assert f1_v1("b c d e", "b c d") == pytest.approx(6 / 7)
    assert f1_v1("the", "") == 0.0  # v1.1: an empty side scores 0, even against an empty gold
    gold = {
        "q1": ["Denver Broncos", "The Denver Broncos"],
        "q2": ["Denver Broncos"],
        "q3": ["x"],
        "q4": ["x b c", "b c d e"],
    }
    preds = {"q1": "denver broncos!", "q2": "the Broncos", "q4": "b c d"}  # q3 missing: scores 0
    scores = squad_v1_scores(gold, preds)
    assert scores["exact_match"] == pytest.approx(100 * 1 / 4)
    assert scores["f1"] == pytest.approx(100 * (1 + 2 / 3 + 0 + 6 / 7) / 4)
    assert scores["total"] == 4 and scores["missing"] == 1


def _v2_gold() -> dict[str, list[str]]:
    return {"a1": ["Paris"], "a2": ["Denver Broncos"], "n1": [], "n2": []}


def test_v20_empty_rules_and_has_ans_no_ans() -> None:
    assert (
        f1_v2("", "") == 1.0 and f1_v2("the", "") == 1.0 and f1_v2("x", "") == 0.0 and f1_v2("", "x") == 0.0
    )
    preds = {"a1": "paris", "a2": "Broncos", "n1": "", "n2": "something"}
    scores = squad_v2_scores(_v2_gold(), preds)
    assert scores["exact"] == pytest.approx(50.0) and scores["f1"] == pytest.approx(100 * (1 + 2 / 3 + 1) / 4)
    assert scores["HasAns_exact"] == pytest.approx(50.0) and scores["HasAns_f1"] == pytest.approx(100 * 5 / 6)
    assert scores["NoAns_exact"] == pytest.approx(50.0) and scores["NoAns_f1"] == pytest.approx(50.0)
    assert (scores["total"], scores["HasAns_total"], scores["NoAns_total"], scores["missing"]) == (4, 2, 2, 0)
    assert "best_f1" not in scores
    # A gold answer that normalizes to nothing is dropped: the question's gold becomes [""].
    only_article = squad_v2_scores({"q": ["The"]}, {"q": ""})
    assert only_article["exact"] == 100.0 and only_article["HasAns_total"] == 1


def test_v20_null_odds_threshold_and_best_threshold_search() -> None:
    preds = {"a1": "paris", "a2": "Broncos", "n1": "", "n2": "something"}
    odds = {"a1": -3.0, "n1": 0.5, "a2": 0.7, "n2": 1.5}
    scores = squad_v2_scores(_v2_gold(), preds, odds)
    # na_prob_thresh 1.0: n2 (1.5) counts as answered "" -> right.
    assert scores["exact"] == pytest.approx(75.0) and scores["f1"] == pytest.approx(100 * (1 + 2 / 3 + 2) / 4)
    # Walk: start 2 (n1, n2 right as null); a1 +1 -> 3 at -3.0; n1 +0; a2 +0 (exact) / +2/3 (f1) at 0.7;
    # n2 -1 (its prediction is not empty).
    assert scores["best_exact"] == pytest.approx(75.0) and scores["best_exact_thresh"] == -3.0
    assert scores["best_f1"] == pytest.approx(100 * (3 + 2 / 3) / 4) and scores["best_f1_thresh"] == 0.7
    wrong = squad_v2_scores(_v2_gold(), {"a1": "x", "a2": "y", "n1": "z", "n2": "w"}, odds)
    assert (
        wrong["best_exact"] == pytest.approx(50.0) and wrong["best_exact_thresh"] == 0.0
    )  # all null is best
    scores = squad_v2_scores(_v2_gold(), preds, odds, na_prob_thresh=-10.0)  # everything answered ""
    assert scores["exact"] == pytest.approx(50.0) and scores["HasAns_exact"] == 0.0


def test_v20_threshold_search_against_a_brute_force() -> None:
    """With distinct odds, the official walk finds the best of all real thresholds."""
    rng = np.random.default_rng(3)
    gold, preds, odds = {}, {}, {}
    for i in range(300):
        qid = f"q{i}"
        answerable = rng.random() < 0.5
        gold[qid] = [["red fox", "the red fox"], ["blue whale"]][i % 2] if answerable else []
        preds[qid] = str(rng.choice(["red fox", "fox", "blue", "blue whale", "", "cat"]))
        odds[qid] = float(rng.normal())
    scores = squad_v2_scores(gold, preds, odds)
    cuts = [-np.inf] + sorted(odds.values())
    for key, v2_metric in (
        ("exact", lambda g, p: float(_normalize(g) == _normalize(p))),
        ("f1", lambda g, p: _f1(_normalize(g), _normalize(p), v2=True)),
    ):

        def total(cut: float, metric=v2_metric) -> float:
            got = 0.0
            for qid, answers in gold.items():
                pred = "" if odds[qid] > cut else preds[qid]
                golds = [a for a in answers if _normalize(a)] or [""]
                got += max(metric(a, pred) for a in golds)
            return 100.0 * got / len(gold)

        values = [total(c) for c in cuts]
        best = int(np.argmax(values))  # first maximum: the lowest threshold reaching it
        assert scores[f"best_{key}"] == pytest.approx(values[best], abs=1e-9)
        assert scores[f"best_{key}_thresh"] == (0.0 if best == 0 else cuts[best])


# --- files -------------------------------------------------------------------------------------------


def _dev(path: Path, version: str | None, qas: list[dict]) -> Path:
    obj: dict = {"data": [{"title": "t", "paragraphs": [{"context": "Paris is in France. No.", "qas": qas}]}]}
    if version is not None:
        obj["version"] = version
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


_QAS_V2 = [
    {"id": "a1", "question": "?", "answers": [{"text": "Paris", "answer_start": 0}]},
    {"id": "a2", "question": "?", "answers": [{"text": "France", "answer_start": 12}]},
    {"id": "n1", "question": "?", "answers": [], "plausible_answers": [], "is_impossible": True},
]


def test_evaluate_files_round_trip_and_version_from_the_dev_file(tmp_path: Path) -> None:
    dev = _dev(tmp_path / "dev.json", "v2.0", _QAS_V2)
    write_predictions(tmp_path / "pred.json", {"a1": "Paris", "a2": "", "n1": ""})
    write_null_odds(tmp_path / "odds.json", {"a1": -2.0, "a2": 3.0, "n1": float("inf")})
    assert json.loads((tmp_path / "pred.json").read_text()) == {"a1": "Paris", "a2": "", "n1": ""}
    assert not (tmp_path / "pred.json.tmp").exists()
    scores = evaluate_files(dev, tmp_path / "pred.json", tmp_path / "odds.json")
    assert scores["exact"] == pytest.approx(200 / 3) and scores["NoAns_exact"] == 100.0
    assert scores["best_exact"] == pytest.approx(200 / 3) and scores["best_exact_thresh"] == -2.0
    v1_dev = _dev(tmp_path / "dev1.json", "1.1", _QAS_V2[:2])
    write_predictions(tmp_path / "p1.json", {"a1": "paris.", "a2": "in France"})
    scores = evaluate_files(v1_dev, tmp_path / "p1.json")
    assert scores == {
        "exact_match": 50.0,
        "f1": pytest.approx(100 * (1 + 2 / 3) / 2),
        "total": 2,
        "missing": 0,
    }
    assert "HasAns_exact" in evaluate_files(v1_dev, tmp_path / "p1.json", version="2.0")


def test_evaluate_files_missing_predictions_count_as_wrong(tmp_path: Path) -> None:
    dev = _dev(tmp_path / "dev.json", "v2.0", _QAS_V2)
    write_predictions(tmp_path / "pred.json", {"a1": "Paris"})
    scores = evaluate_files(dev, tmp_path / "pred.json")
    assert scores["missing"] == 2 and scores["total"] == 3 and scores["exact"] == pytest.approx(100 / 3)
    assert scores["NoAns_exact"] == 0.0  # a missing answer to an impossible question is wrong too


def test_evaluate_files_errors(tmp_path: Path) -> None:
    dev = _dev(tmp_path / "dev.json", "v2.0", _QAS_V2)
    pred = tmp_path / "pred.json"
    pred.write_text('{"a1": "Paris",\n "a2": }', encoding="utf-8")
    with pytest.raises(AlbertctlError, match=r"pred\.json:2:8: not valid JSON"):
        evaluate_files(dev, pred)
    pred.write_text('["Paris"]', encoding="utf-8")
    with pytest.raises(AlbertctlError, match=r"pred\.json: predictions must be one JSON object"):
        evaluate_files(dev, pred)
    pred.write_text('{"a1": ["Paris"]}', encoding="utf-8")
    with pytest.raises(AlbertctlError, match=r"pred\.json: question a1: the predictions value \['Paris'\]"):
        evaluate_files(dev, pred)
    write_predictions(pred, {"a1": "Paris", "zz-9": "x"})
    with pytest.raises(AlbertctlError, match=r"pred\.json vs .*dev\.json: 1 prediction\(s\) .* e\.g\. zz-9"):
        evaluate_files(dev, pred)
    with pytest.raises(AlbertctlError, match=r"nope\.json does not exist"):
        evaluate_files(dev, tmp_path / "nope.json")

    write_predictions(pred, {"a1": "Paris", "a2": "France", "n1": ""})
    odds = tmp_path / "odds.json"
    write_null_odds(odds, {"a1": 1.0, "a2": 0.0})
    with pytest.raises(AlbertctlError, match=r"no value for 1 predicted question\(s\), e\.g\. n1"):
        evaluate_files(dev, pred, odds)
    odds.write_text('{"a1": "high"}', encoding="utf-8")
    with pytest.raises(
        AlbertctlError, match=r"odds\.json: question a1: the null odds value 'high' is not a number"
    ):
        evaluate_files(dev, pred, odds)

    with pytest.raises(AlbertctlError, match=r"question n1 has no gold answer") as info:
        evaluate_files(dev, pred, version="1.1")
    assert "2.0" in (info.value.hint or "")
    v1 = _dev(tmp_path / "dev1.json", "1.1", _QAS_V2[:2])
    write_predictions(pred, {"a1": "Paris"})
    write_null_odds(odds, {"a1": 0.0})
    with pytest.raises(AlbertctlError, match="null odds are a SQuAD 2.0 notion"):
        evaluate_files(v1, pred, odds)
    unlabelled = _dev(tmp_path / "nover.json", None, _QAS_V2[:2])
    with pytest.raises(AlbertctlError, match=r"nover\.json: cannot tell the SQuAD version"):
        evaluate_files(unlabelled, pred)
    assert evaluate_files(unlabelled, pred, version="1.1")["exact_match"] == 50.0
    with pytest.raises(AlbertctlError, match=r"version '2'"):
        evaluate_files(unlabelled, pred, version="2")


def test_evaluate_reads_examples_directly() -> None:
    from albertctl.squad.data import Answer, SquadExample

    examples = [SquadExample("q", "?", "The cat.", (Answer("The cat", 0),), False, "t")]
    assert evaluate(examples, {"q": "cat"}, version="1.1")["exact_match"] == 100.0


# --- the real SQuAD v1.1 dev file --------------------------------------------------------------------


def _imperfect_predictions(dev: dict) -> dict[str, str]:
    """A deterministic mix: gold answers, re-cased/punctuated golds, truncated golds, wrong spans,
    empty answers, and every 13th question left out."""
    preds: dict[str, str] = {}
    i = 0
    for article in dev["data"]:
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                gold = qa["answers"][i % len(qa["answers"])]["text"]
                kind = i % 6
                if i % 13 == 0:
                    pass
                elif kind == 0:
                    preds[qa["id"]] = gold
                elif kind == 1:
                    preds[qa["id"]] = "The " + gold.upper() + "!"
                elif kind == 2:
                    preds[qa["id"]] = gold[: max(1, len(gold) // 2)]
                elif kind == 3:
                    start = (i * 7919) % max(1, len(context) - 40)
                    preds[qa["id"]] = context[start : start + 5 + i % 35]
                elif kind == 4:
                    preds[qa["id"]] = ""
                else:
                    preds[qa["id"]] = " ".join(gold.split()[1:] + ["an", "extra"])
                i += 1
    return preds


@pytest.mark.skipif(not SQUAD_DEV.is_file(), reason="shared/data/squad/dev-v1.1.json is not present")
def test_real_dev_v11_against_an_independent_recomputation(tmp_path: Path) -> None:
    dev = json.loads(SQUAD_DEV.read_text(encoding="utf-8"))
    preds = _imperfect_predictions(dev)
    gold = {
        qa["id"]: [a["text"] for a in qa["answers"]]
        for article in dev["data"]
        for p in article["paragraphs"]
        for qa in p["qas"]
    }
    write_predictions(tmp_path / "pred.json", preds)
    scores = evaluate_files(SQUAD_DEV, tmp_path / "pred.json")
    exact, f1 = _independent(gold, preds, v2=False)
    assert scores["exact_match"] == pytest.approx(exact, abs=1e-9) and scores["f1"] == pytest.approx(
        f1, abs=1e-9
    )
    assert scores["total"] == 10570 and scores["missing"] == len(gold) - len(preds) > 0
    assert 20.0 < exact < 60.0 and exact < f1  # the mix really is imperfect

    v2 = evaluate_files(SQUAD_DEV, tmp_path / "pred.json", version="2.0")
    exact2, f12 = _independent(gold, preds, v2=True)
    assert v2["exact"] == pytest.approx(exact2, abs=1e-9) and v2["f1"] == pytest.approx(f12, abs=1e-9)
    assert v2["HasAns_total"] == 10570 and "NoAns_total" not in v2
