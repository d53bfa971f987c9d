"""Read SQuAD v1.1 / v2.0 files (the official JSON layout) into flat, validated examples.

The layout is ``{"version", "data": [{"title", "paragraphs": [{"context", "qas": [{"id",
"question", "answers": [{"text", "answer_start"}], "is_impossible"?, "plausible_answers"?}]}]}]}``.
Every question becomes one :class:`SquadExample` in file order. Checked here, each as one error
naming the file and the place (``data[i].paragraphs[j].qas[k]``, question id): malformed JSON
(``file:line:column``), a missing or mistyped key, an answer whose ``answer_start`` does not point
at its text in the context, duplicate question ids, and ``is_impossible`` questions in a v1.1 run.
``plausible_answers`` (v2.0's spans for impossible questions) are not kept: neither training nor
the official metric uses them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from albertctl.errors import AlbertctlError
from albertctl.fsutil import read_utf8

VERSIONS = ("1.1", "2.0")


def check_version(version: str) -> str:
    """``"1.1"`` or ``"2.0"``, else one clear error."""
    if version not in VERSIONS:
        raise AlbertctlError(
            f"SQuAD version {version!r} is not one of {', '.join(VERSIONS)}",
            hint="use --version 1.1 or --version 2.0",
        )
    return version


@dataclass(frozen=True)
class Answer:
    """One gold answer: its text and the character offset of that text in the context."""

    text: str
    start: int

    @property
    def end(self) -> int:
        """One past the answer's last character in the context."""
        return self.start + len(self.text)


@dataclass(frozen=True)
class SquadExample:
    """One question on one paragraph; ``answers`` is empty for a v2.0 impossible question (and for
    a file without answers, e.g. one to predict on)."""

    qid: str
    question: str
    context: str
    answers: tuple[Answer, ...]
    is_impossible: bool
    title: str


@dataclass(frozen=True)
class SquadData:
    """The examples of one file and where they came from."""

    examples: list[SquadExample]
    source: Path
    version: str
    """The version this file was read as (``"1.1"`` or ``"2.0"``), not the file's own label."""
    file_version: str | None = None
    """The file's ``version`` field as written (``"1.1"``, ``"v2.0"``, ...), None when absent."""
    bad_answers: int = 0
    """Answers dropped by ``skip_bad_answers`` (their answer_start did not point at their text)."""


def read_squad(path: Path, *, version: str, skip_bad_answers: bool = False) -> SquadData:
    """Read one SQuAD file; ``skip_bad_answers`` drops (and counts) misplaced answers instead of stopping."""
    path = Path(path)
    check_version(version)
    if not path.is_file():
        raise AlbertctlError(f"SQuAD file {path} does not exist", hint="check the path")
    obj = load_squad_json(path)
    return parse_squad(obj, source=str(path), version=version, skip_bad_answers=skip_bad_answers)


def load_squad_json(path: Path) -> Any:
    """The parsed JSON of ``path``; malformed JSON is one error naming ``file:line:column``."""
    try:
        return json.loads(read_utf8(path, encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise AlbertctlError(
            f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})",
            hint="the file is damaged or not a SQuAD JSON file; re-download it",
        ) from None


def _need(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """``obj[key]`` when ``obj`` is an object holding a ``kind`` there, else one layout error."""
    if not isinstance(obj, dict):
        raise AlbertctlError(
            f"{where}: expected a JSON object, found {type(obj).__name__}",
            hint="the file is not in the SQuAD layout (data -> paragraphs -> qas -> answers)",
        )
    if key not in obj:
        raise AlbertctlError(
            f"{where}: no {key!r} key", hint="the file is not in the SQuAD layout (data -> paragraphs -> qas)"
        )
    value = obj[key]
    # bool is an int subclass: answer_start true/false is a mistake, not an offset.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise AlbertctlError(
            f"{where}: {key!r} is {type(value).__name__}, expected {_json_type(names)}",
            hint="the file is not in the SQuAD layout",
        )
    return value


def _json_type(python_name: str) -> str:
    return {
        "list": "a list",
        "str": "a string",
        "int": "an integer",
        "dict": "an object",
        "bool": "true/false",
    }.get(python_name, python_name)


def parse_squad(
    obj: Any, *, source: str, version: str, check_spans: bool = True, skip_bad_answers: bool = False
) -> SquadData:
    """Examples of a parsed SQuAD JSON value (pure: no I/O); ``source`` names the file in errors.

    ``check_spans=False`` keeps every answer as written without checking ``answer_start`` (the
    official metrics read only the answer texts).
    """
    check_version(version)
    data = _need(obj, "data", list, source)
    file_version = obj.get("version")
    examples: list[SquadExample] = []
    seen: dict[str, str] = {}
    bad = 0
    for i, article in enumerate(data):
        where_a = f"{source}: data[{i}]"
        paragraphs = _need(article, "paragraphs", list, where_a)
        title = article.get("title", "")
        title = title if isinstance(title, str) else str(title)
        for j, paragraph in enumerate(paragraphs):
            where_p = f"{where_a}.paragraphs[{j}]"
            context = _need(paragraph, "context", str, where_p)
            for k, qa in enumerate(_need(paragraph, "qas", list, where_p)):
                place = f"data[{i}].paragraphs[{j}].qas[{k}]"
                qid = _need(qa, "id", str, f"{source}: {place}")
                where_q = f"{source}: {place} (question {qid})"
                if qid in seen:
                    raise AlbertctlError(
                        f"{where_q}: question id {qid!r} appears twice (first at {seen[qid]})",
                        hint="question ids must be unique; remove or rename the duplicate",
                    )
                seen[qid] = place
                example, dropped = _parse_question(
                    qa, context, title, where_q, version, check_spans, skip_bad_answers
                )
                bad += dropped
                examples.append(example)
    return SquadData(
        examples=examples,
        source=Path(source),
        version=version,
        file_version=file_version if isinstance(file_version, str) else None,
        bad_answers=bad,
    )


def _parse_question(
    qa: dict[str, Any],
    context: str,
    title: str,
    where: str,
    version: str,
    check_spans: bool,
    skip_bad_answers: bool,
) -> tuple[SquadExample, int]:
    """One ``qas`` entry -> (example, answers dropped)."""
    qid = qa["id"]
    question = _need(qa, "question", str, where)
    impossible = qa.get("is_impossible", False)
    if not isinstance(impossible, bool):
        raise AlbertctlError(
            f"{where}: 'is_impossible' is {type(impossible).__name__}, expected true/false",
            hint="the file is not in the SQuAD layout",
        )
    if impossible and version == "1.1":
        raise AlbertctlError(
            f"{where}: question {qid} is marked is_impossible, which SQuAD v1.1 does not have",
            hint="this is a SQuAD 2.0 file: use --version 2.0",
        )
    raw_answers = qa.get("answers", [])
    if not isinstance(raw_answers, list):
        raise AlbertctlError(
            f"{where}: 'answers' is {type(raw_answers).__name__}, expected a list",
            hint="the file is not in the SQuAD layout",
        )
    if impossible and raw_answers:
        raise AlbertctlError(
            f"{where}: question {qid} is marked is_impossible but has {len(raw_answers)} answer(s)",
            hint="SQuAD 2.0 keeps an impossible question's spans under plausible_answers; move them there",
        )
    answers: list[Answer] = []
    dropped = 0
    for n, raw in enumerate(raw_answers):
        where_n = f"{where}: answers[{n}]"
        answer = Answer(text=_need(raw, "text", str, where_n), start=_need(raw, "answer_start", int, where_n))
        if check_spans and (answer.start < 0 or context[answer.start : answer.end] != answer.text):
            if skip_bad_answers:
                dropped += 1
                continue
            found = context[max(answer.start, 0) : max(answer.end, 0)]
            raise AlbertctlError(
                f"{where_n}: answer {answer.text!r} is not at answer_start {answer.start} of the context "
                f"(found {found!r})",
                hint="fix answer_start, or pass --skip-bad-answers to drop such answers",
            )
        answers.append(answer)
    example = SquadExample(
        qid=qid,
        question=question,
        context=context,
        answers=tuple(answers),
        is_impossible=impossible,
        title=title,
    )
    return example, dropped
