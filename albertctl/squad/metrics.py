"""The official SQuAD metrics (evaluate-v1.1.py, evaluate-v2.0.py), and reading/writing the files.

Answers are compared after the official normalization: lower case, drop ASCII punctuation
(``string.punctuation``), drop the words a/an/the, collapse whitespace. Exact match is equality
of the normalized texts; F1 is over their whitespace tokens (a multiset); a question scores its
best over its gold answers; results are percentages.

v1.1: ``exact_match``, ``f1`` over every question of the dev file. v2.0: a question is answerable
when it has gold answers; gold texts that normalize to nothing are dropped and an unanswerable
question's gold is ``[""]``; an empty prediction or gold gets F1 1 only when both are empty.
``exact``/``f1``/``total`` plus ``HasAns_*`` and ``NoAns_*``; with null odds, a question whose
odds exceed ``na_prob_thresh`` (official default 1.0) counts as answered ``""``, and
``best_exact``/``best_f1`` with their thresholds are found as the official script finds them
(questions in ascending odds order, each a candidate threshold).

Where we differ, and why: a dev question with no prediction scores 0 and is counted in
``missing`` (v1.1's rule; evaluate-v2.0.py instead leaves it out of ``total`` and then fails on
the HasAns/NoAns subsets); a prediction for an id the dev file does not have is an error (the
official scripts ignore it silently, which hides scoring against the wrong file).
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from albertctl.errors import AlbertctlError
from albertctl.fsutil import write_json
from albertctl.squad.data import SquadData, SquadExample, check_version, load_squad_json, parse_squad

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """The official normalization: lower, remove punctuation, remove articles, fix whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_score(gold: str, prediction: str) -> float:
    """1.0 when the normalized texts are equal (both versions)."""
    return float(normalize_answer(gold) == normalize_answer(prediction))


def f1_v1(gold: str, prediction: str) -> float:
    """evaluate-v1.1.py's token F1 (an empty side scores 0)."""
    return _token_f1(normalize_answer(gold).split(), normalize_answer(prediction).split())


def f1_v2(gold: str, prediction: str) -> float:
    """evaluate-v2.0.py's token F1: when either side is empty, 1.0 only if both are."""
    gold_tokens, pred_tokens = normalize_answer(gold).split(), normalize_answer(prediction).split()
    if not gold_tokens or not pred_tokens:
        return float(gold_tokens == pred_tokens)
    return _token_f1(gold_tokens, pred_tokens)


def _token_f1(gold: list[str], pred: list[str]) -> float:
    same = sum((Counter(gold) & Counter(pred)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def squad_v1_scores(gold: Mapping[str, Sequence[str]], predictions: Mapping[str, str]) -> dict[str, float]:
    """v1.1 over ``gold`` (question id -> gold answer texts, in dev-file order):
    ``exact_match``, ``f1`` (x100), ``total``, ``missing`` (questions without a prediction, scored 0)."""
    exact = f1 = 0.0
    missing = 0
    for qid, answers in gold.items():
        if qid not in predictions:
            missing += 1
            continue
        pred = predictions[qid]
        exact += max(exact_score(a, pred) for a in answers)
        f1 += max(f1_v1(a, pred) for a in answers)
    total = len(gold)
    return {
        "exact_match": 100.0 * exact / total if total else 0.0,
        "f1": 100.0 * f1 / total if total else 0.0,
        "total": total,
        "missing": missing,
    }


def _v2_raw(gold: Mapping[str, Sequence[str]], predictions: Mapping[str, str]) -> tuple[dict, dict]:
    """Per question exact and F1 before any threshold (missing predictions are absent)."""
    exact: dict[str, float] = {}
    f1: dict[str, float] = {}
    for qid, answers in gold.items():
        if qid not in predictions:
            continue
        golds = [a for a in answers if normalize_answer(a)] or [""]
        exact[qid] = max(exact_score(a, predictions[qid]) for a in golds)
        f1[qid] = max(f1_v2(a, predictions[qid]) for a in golds)
    return exact, f1


def _apply_threshold(
    scores: dict[str, float], null_odds: Mapping[str, float], has_ans: Mapping[str, bool], thresh: float
) -> dict[str, float]:
    """A question whose null odds exceed ``thresh`` counts as answered "" (right iff unanswerable)."""
    return {q: float(not has_ans[q]) if null_odds[q] > thresh else s for q, s in scores.items()}


def best_threshold(
    predictions: Mapping[str, str],
    scores: Mapping[str, float],
    null_odds: Mapping[str, float],
    has_ans: Mapping[str, bool],
    total: int,
) -> tuple[float, float]:
    """(best score x100, its threshold) as evaluate-v2.0.py's ``find_best_thresh``: start with every
    question answered "" (the unanswerable ones right), then walk the questions in ascending null
    odds, each switching to its prediction; keep the best running score and the odds where it was
    first reached. ``total`` counts every dev question (a missing one never scores)."""
    current = best = float(sum(1 for q in scores if not has_ans[q]))
    thresh = 0.0
    for qid in sorted(null_odds, key=lambda q: null_odds[q]):  # stable: file order breaks ties
        if qid not in scores:
            continue
        if has_ans[qid]:
            current += scores[qid]
        else:
            current -= 1.0 if predictions[qid] else 0.0
        if current > best:
            best, thresh = current, null_odds[qid]
    return 100.0 * best / total if total else 0.0, thresh


def squad_v2_scores(
    gold: Mapping[str, Sequence[str]],
    predictions: Mapping[str, str],
    null_odds: Mapping[str, float] | None = None,
    *,
    na_prob_thresh: float = 1.0,
) -> dict[str, float]:
    """v2.0 over ``gold`` (question id -> raw gold texts, empty for unanswerable), see the module
    docstring; ``null_odds`` must cover every predicted question."""
    has_ans = {qid: bool(answers) for qid, answers in gold.items()}
    exact_raw, f1_raw = _v2_raw(gold, predictions)
    if null_odds is not None:
        lacking = [q for q in exact_raw if q not in null_odds]
        if lacking:
            raise AlbertctlError(
                f"the null odds have no value for {len(lacking)} predicted question(s), e.g. {lacking[0]}",
                hint="pass the null odds file written with these predictions",
            )
    odds = null_odds if null_odds is not None else {q: 0.0 for q in exact_raw}
    exact = _apply_threshold(exact_raw, odds, has_ans, na_prob_thresh)
    f1 = _apply_threshold(f1_raw, odds, has_ans, na_prob_thresh)
    total = len(gold)
    out: dict[str, float] = {**_mean(exact, f1, list(gold), ""), "missing": total - len(exact_raw)}
    for prefix, wanted in (("HasAns_", True), ("NoAns_", False)):
        subset = [q for q in gold if has_ans[q] == wanted]
        if subset:
            out.update(_mean(exact, f1, subset, prefix))
    if null_odds is not None:
        out["best_exact"], out["best_exact_thresh"] = best_threshold(
            predictions, exact_raw, odds, has_ans, total
        )
        out["best_f1"], out["best_f1_thresh"] = best_threshold(predictions, f1_raw, odds, has_ans, total)
    return out


def _mean(
    exact: Mapping[str, float], f1: Mapping[str, float], qids: list[str], prefix: str
) -> dict[str, float]:
    """``{prefix}exact``, ``{prefix}f1`` (x100) and ``{prefix}total`` over ``qids`` (missing = 0)."""
    n = len(qids)
    return {
        f"{prefix}exact": 100.0 * sum(exact.get(q, 0.0) for q in qids) / n if n else 0.0,
        f"{prefix}f1": 100.0 * sum(f1.get(q, 0.0) for q in qids) / n if n else 0.0,
        f"{prefix}total": n,
    }


def gold_answers(examples: SquadData | Sequence[SquadExample]) -> dict[str, list[str]]:
    """Question id -> gold answer texts, in file order."""
    examples = examples.examples if isinstance(examples, SquadData) else examples
    return {e.qid: [a.text for a in e.answers] for e in examples}


def evaluate(
    examples: SquadData | Sequence[SquadExample],
    predictions: Mapping[str, str],
    null_odds: Mapping[str, float] | None = None,
    *,
    version: str,
    na_prob_thresh: float = 1.0,
) -> dict[str, float]:
    """The official metrics of ``version`` for ``predictions`` on ``examples`` (see the module docstring)."""
    check_version(version)
    gold = gold_answers(examples)
    unknown = [q for q in predictions if q not in gold]
    if unknown:
        raise AlbertctlError(
            f"{len(unknown)} prediction(s) are for questions the dev set does not have, e.g. {unknown[0]}",
            hint="score the predictions against the dev file (and version) they were made for",
        )
    if version == "2.0":
        return squad_v2_scores(gold, predictions, null_odds, na_prob_thresh=na_prob_thresh)
    if null_odds is not None:
        raise AlbertctlError("null odds are a SQuAD 2.0 notion", hint="drop the null odds file, or use 2.0")
    unanswerable = next((q for q, answers in gold.items() if not answers), None)
    if unanswerable is not None:
        raise AlbertctlError(
            f"question {unanswerable} has no gold answer, which SQuAD v1.1 scoring cannot score",
            hint="this is SQuAD 2.0 data: use --version 2.0",
        )
    return squad_v1_scores(gold, predictions)


def _file_version(obj: Any, source: Path) -> str:
    """``"1.1"`` or ``"2.0"`` from a dev file's ``version`` field (``"v2.0"`` is the 2.0 file's)."""
    raw = obj.get("version") if isinstance(obj, dict) else None
    label = raw.lstrip("v") if isinstance(raw, str) else None
    if label not in ("1.1", "2.0"):
        raise AlbertctlError(
            f"{source}: cannot tell the SQuAD version from its 'version' field ({raw!r})",
            hint="pass the version (--version 1.1 or --version 2.0)",
        )
    return label


def read_answer_map(path: Path, *, kind: str, numbers: bool) -> dict[str, Any]:
    """A ``{question id: text}`` (predictions) or ``{question id: number}`` (null odds) JSON file."""
    path = Path(path)
    if not path.is_file():
        raise AlbertctlError(f"{kind} file {path} does not exist", hint="check the path")
    obj = load_squad_json(path)
    if not isinstance(obj, dict):
        raise AlbertctlError(
            f"{path}: {kind} must be one JSON object {{question id: value}}, found {type(obj).__name__}",
            hint='write them as the official format: {"<question id>": ...}',
        )
    for qid, value in obj.items():
        ok = (
            (isinstance(value, (int, float)) and not isinstance(value, bool))
            if numbers
            else isinstance(value, str)
        )
        if not ok:
            wanted = "a number" if numbers else "an answer string"
            raise AlbertctlError(
                f"{path}: question {qid}: the {kind} value {value!r} is not {wanted}",
                hint='write them as the official format: {"<question id>": ...}',
            )
    return {q: float(v) for q, v in obj.items()} if numbers else obj


def evaluate_files(
    dev_file: Path,
    predictions_file: Path,
    null_odds_file: Path | None = None,
    *,
    version: str | None = None,
    na_prob_thresh: float = 1.0,
) -> dict[str, float]:
    """Score any predictions file (ours or another tool's) against a dev file; the version
    comes from the dev file unless given."""
    dev_file = Path(dev_file)
    if not dev_file.is_file():
        raise AlbertctlError(f"SQuAD dev file {dev_file} does not exist", hint="check the path")
    obj = load_squad_json(dev_file)
    version = check_version(version) if version is not None else _file_version(obj, dev_file)
    # v1.1 questions that are impossible are an error there; answer offsets are not the metric's concern.
    data = parse_squad(obj, source=str(dev_file), version="2.0", check_spans=False)
    predictions = read_answer_map(predictions_file, kind="predictions", numbers=False)
    null_odds = (
        read_answer_map(null_odds_file, kind="null odds", numbers=True)
        if null_odds_file is not None
        else None
    )
    try:
        return evaluate(data, predictions, null_odds, version=version, na_prob_thresh=na_prob_thresh)
    except AlbertctlError as exc:
        raise AlbertctlError(f"{predictions_file} vs {dev_file}: {exc.message}", hint=exc.hint) from None


def write_predictions(path: Path, predictions: Mapping[str, str]) -> None:
    """``{question id: answer text}`` as the official scripts read it (written atomically)."""
    write_json(Path(path), dict(predictions))


def write_null_odds(path: Path, null_odds: Mapping[str, float]) -> None:
    """``{question id: null odds}`` (evaluate-v2.0.py's ``--na-prob-file``), written atomically;
    an infinite value (no valid span) is written as JSON ``Infinity``, which Python's json reads."""
    write_json(Path(path), {q: float(v) if math.isfinite(v) else v for q, v in null_odds.items()})
