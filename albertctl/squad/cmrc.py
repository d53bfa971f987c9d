"""CMRC 2018 (Chinese span extraction): its official metric, and placing its answers for training.

CMRC 2018 ships SQuAD-style JSON (``data -> paragraphs -> context, qas -> id, question,
answers[text, answer_start]``, character offsets, every question answerable: SQuAD 1.1
semantics), so reading, windows and post-processing are SQuAD's (:mod:`albertctl.squad`). What
differs is here.

**The metric** (``cmrc2018_evaluate.py``, ymcui/cmrc2018, "v5 - special" for the SQuAD-style
files), written from its definitions:

* Both texts are lower-cased and stripped of surrounding whitespace. The punctuation list
  (:data:`PUNCTUATION`: ``- : _ * ^ / \\ ~ ` + =`` and Chinese ``，。：？！“”；’《》·、「」（）－～『』``)
  is removed character by character; the script's ``……`` entry is two characters long, so it
  never matches one character and ``…`` is kept, as there.
* EM: 1 when the two punctuation-free strings are equal (inner whitespace counts).
* F1 over segments (:func:`mixed_segmentation`): every CJK character (U+4E00..U+9FA5) is one
  segment; the text between them is cut into English words and numbers by :func:`split_words`.
  A removed punctuation mark does not end a run (``ω-force`` is one segment ``ωforce``), as in
  the script, which skips it before looking at it. The overlap is the longest common CONTIGUOUS
  run of segments (the script's ``find_lcs``), not a bag of tokens as SQuAD's F1:
  ``p = lcs / len(pred)``, ``r = lcs / len(gold)``, ``F1 = 2pr / (p + r)``, 0 when nothing is
  shared.
* A question scores its best EM and its best F1 over its gold answers (taken as written: the
  metric never reads ``answer_start``); a question without a prediction scores 0 and is counted
  in ``skip``; ``f1`` and ``em`` are ``100 * sum / total`` over EVERY dev question,
  ``average = (em + f1) / 2``. :func:`official_output` prints them as the script does (``%.3f``).

Where we differ, and why:

* The script cuts the non-Chinese runs with ``nltk.word_tokenize``; :func:`split_words` is our
  own rule set for the Penn-Treebank splits that matter in CMRC answers (numbers such as ``1,000``
  and ``3.5`` and names such as ``getchu.com`` stay whole; brackets, quotes and most other
  punctuation are their own segments; the last period of a run is split off; clitics ``'s``,
  ``n't``, ...), without nltk (a dependency plus a data download) and without Punkt's sentence
  splitting inside a run. On the 12,720 distinct non-Chinese runs of the three CMRC files it
  cuts all but 3 as ``nltk.word_tokenize(run, preserve_line=True)``; tests/test_cmrc.py checks
  the dev answers against nltk when it is installed.
* A prediction for an id the dev file does not have is an error (the script ignores it, which
  hides scoring against the wrong file); a question with no gold answer is an error (the script
  fails on ``max([])``).

**Training answers**: some ``answer_start`` values are off by a few characters (21 of 10,142
train answers, 5 of 1,002 trial answers; 200 of 9,657 dev answers, 193 of them with
``answer_start`` -1 and a text that is not in the context). :func:`place_answers` moves a
misplaced answer to the occurrence of its text nearest the given offset (the CMRC baseline,
``run_cmrc2018_drcd_baseline.py``, takes the first occurrence of the first answer, which for a
repeated text can be the wrong one); a text that is nowhere in the context is an error, or is
dropped with ``skip_bad_answers``. Dev and predict files are read with every answer as written:
the metric needs them all.

Pure functions except :func:`read_cmrc` and :func:`evaluate_cmrc_files`, which read files.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from albertctl.errors import AlbertctlError
from albertctl.squad.data import Answer, SquadData, SquadExample, load_squad_json, parse_squad

PUNCTUATION = frozenset("-:_*^/\\~`+=，。：？！“”；’《》·、「」（）－～『』")
"""The official list's single characters (its two-character ``……`` entry can never match)."""

_CJK = re.compile(r"[\u4e00-\u9fa5]")
# The Treebank-style splits of split_words, applied in order to one run of non-CJK text.
_SPLITS = (
    (re.compile(r'^"'), " `` "),  # an opening double quote becomes ``, a closing one ''
    (re.compile(r'(?<=[ (\[{<])"'), " `` "),  # after a plain space only, as Treebank
    (re.compile(r'"'), " '' "),
    (re.compile(r"(?i)(^|\s)'(?!re|ve|ll|m|t|s|d|n)(?=\w)"), r"\1' "),  # an opening single quote
    (re.compile(r"([;@#$%&?!\[\](){}<>«»‘–—―])"), r" \1 "),  # marks that never join a word
    (re.compile(r"\.\.\."), " ... "),
    (re.compile(r",(?!\d)"), " , "),  # a comma joins digits only (1,000)
    (re.compile(r"([^.\s])\.(?=(?:\s*(?:''|[\])}>']))*\s*$)"), r"\1 . "),  # the run's last period
    (re.compile(r"(?i)([^'\s])('s|'m|'d|'ll|'re|'ve|n't)(?=\s|$)"), r"\1 \2"),  # clitics
    (re.compile(r"(?<=\w)'(?=\s|$)"), " ' "),  # a closing single quote
)


def remove_punctuation(text: str) -> str:
    """EM's normal form: lower-cased, stripped, the :data:`PUNCTUATION` characters removed."""
    return "".join(ch for ch in text.lower().strip() if ch not in PUNCTUATION)


def split_words(run: str) -> list[str]:
    """A run of non-Chinese text -> its English words, numbers and marks (our stand-in for
    ``nltk.word_tokenize``; see the module docstring)."""
    for pattern, replacement in _SPLITS:
        run = pattern.sub(replacement, run)
    return run.split()


def mixed_segmentation(text: str, *, remove_punc: bool = True) -> list[str]:
    """F1's segments: one per CJK character, :func:`split_words` between them.

    ``remove_punc=False`` keeps each :data:`PUNCTUATION` character as a segment of its own (and
    ending the run before it), the script's other mode, which its F1 does not use."""
    segments: list[str] = []
    run: list[str] = []
    for ch in text.lower().strip():
        if ch in PUNCTUATION and remove_punc:
            continue  # skipped before anything else: the run goes on across it
        if _CJK.match(ch) or ch in PUNCTUATION:
            segments += split_words("".join(run))
            run = []
            segments.append(ch)
        else:
            run.append(ch)
    return segments + split_words("".join(run))


def longest_common_run(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest contiguous run of segments shared by ``a`` and ``b`` (O(len a * len b))."""
    best = 0
    previous = [0] * (len(b) + 1)  # previous[j + 1]: the common run ending at a[i - 1], b[j]
    for x in a:
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b):
            if x == y:
                current[j + 1] = previous[j] + 1
                best = max(best, current[j + 1])
        previous = current
    return best


def char_f1(gold: str, prediction: str) -> float:
    """The official F1 of one prediction against one gold answer (0..1)."""
    gold_segments = mixed_segmentation(gold)
    pred_segments = mixed_segmentation(prediction)
    common = longest_common_run(gold_segments, pred_segments)
    if common == 0:
        return 0.0
    precision, recall = common / len(pred_segments), common / len(gold_segments)
    return 2 * precision * recall / (precision + recall)


def exact_match(gold: str, prediction: str) -> float:
    """1.0 when the texts are equal after :func:`remove_punctuation`."""
    return float(remove_punctuation(gold) == remove_punctuation(prediction))


def score_question(golds: Sequence[str], prediction: str) -> tuple[float, float]:
    """(EM, F1) of one prediction: the best of each over the gold answers (0..1)."""
    if not golds:
        raise ValueError("a CMRC question needs at least one gold answer")
    return max(exact_match(g, prediction) for g in golds), max(char_f1(g, prediction) for g in golds)


def cmrc_scores(gold: Mapping[str, Sequence[str]], predictions: Mapping[str, str]) -> dict[str, float]:
    """The official figures over ``gold`` (question id -> gold texts): ``f1``, ``em``,
    ``average`` (x100, unrounded), ``total`` (every question) and ``skip`` (no prediction, scored 0)."""
    em = f1 = 0.0
    skip = 0
    for qid, golds in gold.items():
        if qid not in predictions:
            skip += 1
            continue
        q_em, q_f1 = score_question(golds, predictions[qid])
        em += q_em
        f1 += q_f1
    total = len(gold)
    f1_score = 100.0 * f1 / total if total else 0.0
    em_score = 100.0 * em / total if total else 0.0
    return {
        "f1": f1_score,
        "em": em_score,
        "average": (em_score + f1_score) / 2,
        "total": float(total),
        "skip": float(skip),
    }


def official_output(scores: Mapping[str, float], prediction_file: str | None = None) -> dict[str, Any]:
    """The line ``cmrc2018_evaluate.py`` prints: AVERAGE, F1, EM as ``%.3f`` strings, TOTAL, SKIP
    (and FILE)."""
    out: dict[str, Any] = {
        "AVERAGE": f"{scores['average']:.3f}",
        "F1": f"{scores['f1']:.3f}",
        "EM": f"{scores['em']:.3f}",
        "TOTAL": int(scores["total"]),
        "SKIP": int(scores["skip"]),
    }
    if prediction_file is not None:
        out["FILE"] = prediction_file
    return out


def evaluate_cmrc(
    examples: SquadData | Sequence[SquadExample], predictions: Mapping[str, str]
) -> dict[str, float]:
    """:func:`cmrc_scores` of ``predictions`` on ``examples``, after checking that the two match."""
    examples = examples.examples if isinstance(examples, SquadData) else examples
    gold = {e.qid: [a.text for a in e.answers] for e in examples}
    unknown = [q for q in predictions if q not in gold]
    if unknown:
        raise AlbertctlError(
            f"{len(unknown)} prediction(s) are for questions the dev set does not have, e.g. {unknown[0]}",
            hint="score the predictions against the CMRC 2018 file they were made for",
        )
    unanswered = next((q for q, answers in gold.items() if not answers), None)
    if unanswered is not None:
        raise AlbertctlError(
            f"question {unanswered} has no gold answer, which the CMRC 2018 metric cannot score",
            hint="score against a file with answers (cmrc2018_dev.json or cmrc2018_trial.json)",
        )
    return cmrc_scores(gold, predictions)


def evaluate_cmrc_files(dev_file: Path, predictions_file: Path) -> dict[str, float]:
    """Score any ``{question id: answer}`` file against a CMRC 2018 file, as the official script."""
    from albertctl.squad.metrics import read_answer_map

    data = read_cmrc(dev_file, training=False)
    predictions = read_answer_map(predictions_file, kind="predictions", numbers=False)
    try:
        return evaluate_cmrc(data, predictions)
    except AlbertctlError as exc:
        raise AlbertctlError(f"{predictions_file} vs {dev_file}: {exc.message}", hint=exc.hint) from None


def _nearest(context: str, text: str, start: int) -> int | None:
    """The offset of the occurrence of ``text`` in ``context`` nearest ``start`` (the earlier on a tie)."""
    best: int | None = None
    at = context.find(text)
    while at != -1:
        if best is None or abs(at - start) < abs(best - start):
            best = at
        at = context.find(text, at + 1)
    return best


def place_answers(data: SquadData, *, skip_bad_answers: bool = False) -> tuple[SquadData, dict[str, int]]:
    """Training answers at their text: a misplaced ``answer_start`` moves to the nearest occurrence
    of the text; a text not in the context is an error, or dropped with ``skip_bad_answers``.
    Returns the data and the counts ``{"moved", "dropped"}``; the data's ``bad_answers`` is the
    number dropped."""
    moved = dropped = 0
    examples: list[SquadExample] = []
    for example in data.examples:
        answers: list[Answer] = []
        for n, answer in enumerate(example.answers):
            if answer.start >= 0 and example.context[answer.start : answer.end] == answer.text:
                answers.append(answer)
                continue
            at = _nearest(example.context, answer.text, answer.start) if answer.text else None
            if at is not None:
                answers.append(Answer(text=answer.text, start=at))
                moved += 1
            elif skip_bad_answers:
                dropped += 1
            else:
                raise AlbertctlError(
                    f"{data.source}: question {example.qid}: answers[{n}] {answer.text!r} does not occur "
                    "in its context",
                    hint="fix the answer, or pass --skip-bad-answers to drop such answers",
                )
        examples.append(dataclasses.replace(example, answers=tuple(answers)))
    placed = dataclasses.replace(data, examples=examples, bad_answers=dropped)
    return placed, {"moved": moved, "dropped": dropped}


def read_cmrc(path: Path, *, training: bool, skip_bad_answers: bool = False) -> SquadData:
    """Read a CMRC 2018 file (SQuAD layout, read as 1.1). ``training``: answers placed by
    :func:`place_answers` (the counts are in ``data.bad_answers`` and the log of fine-tuning);
    otherwise every answer as written, for the metric."""
    path = Path(path)
    if not path.is_file():
        raise AlbertctlError(f"CMRC 2018 file {path} does not exist", hint="check the path")
    obj = load_squad_json(path)
    data = parse_squad(obj, source=str(path), version="1.1", check_spans=False)
    if training:
        data, _ = place_answers(data, skip_bad_answers=skip_bad_answers)
    return data
