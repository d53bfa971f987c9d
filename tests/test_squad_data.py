"""SQuAD reading, windows, post-processing and span prediction: hand-made examples in the official
JSON layouts, a stand-in tokenizer with character offsets, the real tokenizers where they report
offsets, and the real SQuAD v1.1 dev file where present."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from albertctl.errors import AlbertctlError
from albertctl.squad import build_features, postprocess, read_squad, reference_padded, span_logits
from albertctl.squad.data import Answer, SquadExample
from albertctl.squad.features import char_span_to_tokens, doc_windows, max_context_flags
from albertctl.vocab.base import Tokenizer

SQUAD_DEV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "squad" / "dev-v1.1.json"


class OffsetTokenizer(Tokenizer):
    """Stand-in for ``encode_with_offsets``: lower-cased words and single punctuation marks, words
    cut into ``piece_chars``-character pieces; ids are handed out as pieces are first seen."""

    def __init__(self, piece_chars: int = 100) -> None:
        self._pieces = ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]
        self._ids = {p: i for i, p in enumerate(self._pieces)}
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = range(5)
        self.piece_chars = piece_chars
        self.offset_calls = 0
        self.word_start_rule = lambda piece: True

    @property
    def vocab_size(self) -> int:  # type: ignore[override]
        return len(self._pieces)

    def _id(self, piece: str) -> int:
        if piece not in self._ids:
            self._ids[piece] = len(self._pieces)
            self._pieces.append(piece)
        return self._ids[piece]

    def encode_with_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        self.offset_calls += 1
        ids, offsets = [], []
        for match in re.finditer(r"\w+|[^\w\s]", text):
            for start in range(match.start(), match.end(), self.piece_chars):
                end = min(start + self.piece_chars, match.end())
                ids.append(self._id(text[start:end].lower()))
                offsets.append((start, end))
        return ids, offsets

    def encode(self, text: str) -> list[int]:
        ids, _ = self.encode_with_offsets(text)
        self.offset_calls -= 1
        return ids

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = True) -> str:
        return " ".join(self._pieces[i] for i in ids)

    def fingerprint(self) -> str:
        return "stand-in"

    def vocab_config(self) -> dict[str, Any]:
        return {"kind": "stand-in"}

    def save(self, out_dir: Path) -> None:
        raise NotImplementedError


def _squad_file(path: Path, articles: list[dict], version: str = "1.1") -> Path:
    path.write_text(json.dumps({"version": version, "data": articles}), encoding="utf-8")
    return path


def _qa(qid: str, question: str, context: str, answer: str | None, *, occurrence: int = 0) -> dict:
    """One ``qas`` entry whose answer_start is the ``occurrence``-th place of ``answer``."""
    if answer is None:
        return {"id": qid, "question": question, "answers": [], "is_impossible": True}
    starts = [m.start() for m in re.finditer(re.escape(answer), context)]
    return {
        "id": qid,
        "question": question,
        "answers": [{"text": answer, "answer_start": starts[occurrence]}],
    }


CONTEXT = "The Eiffel  Tower was built in 1889 by Gustave Eiffel's company for the World's Fair in Paris."


def _example(qid: str, question: str, context: str, answer: str | None, occurrence: int = 0) -> SquadExample:
    if answer is None:
        return SquadExample(qid, question, context, (), True, "t")
    start = [m.start() for m in re.finditer(re.escape(answer), context)][occurrence]
    return SquadExample(qid, question, context, (Answer(answer, start),), False, "t")


# --- reading ---------------------------------------------------------------------------------------


def test_read_squad_v1_and_v2_layouts(tmp_path: Path) -> None:
    other = "Paris is the capital of France."
    articles = [
        {
            "title": "Eiffel",
            "paragraphs": [
                {"context": CONTEXT, "qas": [_qa("q1", "When was it built?", CONTEXT, "1889")]},
                {"context": other, "qas": [_qa("q2", "Capital?", other, "Paris")]},
            ],
        }
    ]
    data = read_squad(_squad_file(tmp_path / "v1.json", articles), version="1.1")
    assert [e.qid for e in data.examples] == ["q1", "q2"]
    first = data.examples[0]
    assert (first.question, first.context, first.title, first.is_impossible) == (
        "When was it built?",
        CONTEXT,
        "Eiffel",
        False,
    )
    assert first.answers == (Answer("1889", CONTEXT.index("1889")),)
    assert data.version == "1.1" and data.file_version == "1.1" and data.bad_answers == 0

    articles[0]["paragraphs"][1]["qas"].append(_qa("q3", "Capital of Spain?", other, None))
    v2 = read_squad(_squad_file(tmp_path / "v2.json", articles, "v2.0"), version="2.0")
    assert [(e.qid, e.is_impossible, len(e.answers)) for e in v2.examples][-1] == ("q3", True, 0)
    assert v2.file_version == "v2.0"


def test_read_squad_errors_name_file_place_and_question(tmp_path: Path) -> None:
    bad_json = tmp_path / "broken.json"
    bad_json.write_text('{"version": "1.1",\n "data": [\n  {"title": "x",, }]}', encoding="utf-8")
    with pytest.raises(AlbertctlError, match=r"broken\.json:3:17: not valid JSON"):
        read_squad(bad_json, version="1.1")

    with pytest.raises(AlbertctlError, match=r"layout\.json: no 'data' key"):
        read_squad(
            _squad_file_raw(tmp_path / "layout.json", {"version": "1.1", "articles": []}), version="1.1"
        )

    qas = [{"id": "q7", "answers": []}]
    path = _squad_file(tmp_path / "noq.json", [{"title": "t", "paragraphs": [{"context": "c", "qas": qas}]}])
    with pytest.raises(
        AlbertctlError,
        match=r"noq\.json: data\[0\]\.paragraphs\[0\]\.qas\[0\] \(question q7\): no 'question'",
    ):
        read_squad(path, version="1.1")

    para = {
        "context": "ab",
        "qas": [{"id": "q8", "question": "?", "answers": [{"text": "a", "answer_start": "0"}]}],
    }
    path = _squad_file(tmp_path / "type.json", [{"title": "t", "paragraphs": [para]}])
    with pytest.raises(
        AlbertctlError, match=r"question q8\): answers\[0\]: 'answer_start' is str, expected an integer"
    ):
        read_squad(path, version="1.1")

    with pytest.raises(AlbertctlError, match=r"SQuAD version '3\.0'") as info:
        read_squad(path, version="3.0")
    assert "1.1" in (info.value.hint or "")


def _squad_file_raw(path: Path, obj: object) -> Path:
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


def test_bad_answer_is_an_error_or_counted_and_dropped(tmp_path: Path) -> None:
    qa = _qa("q-bad", "Who?", CONTEXT, "Gustave")
    qa["answers"].append({"text": "Gustave", "answer_start": 3})
    qa["answers"].append({"text": "Paris", "answer_start": -5})
    path = _squad_file(
        tmp_path / "bad.json", [{"title": "t", "paragraphs": [{"context": CONTEXT, "qas": [qa]}]}]
    )
    with pytest.raises(
        AlbertctlError,
        match=r"bad\.json: .*qas\[0\] \(question q-bad\): answers\[1\]: "
        r"answer 'Gustave' is not at answer_start 3",
    ) as info:
        read_squad(path, version="1.1")
    assert "--skip-bad-answers" in (info.value.hint or "")
    data = read_squad(path, version="1.1", skip_bad_answers=True)
    assert data.bad_answers == 2
    assert data.examples[0].answers == (Answer("Gustave", CONTEXT.index("Gustave")),)


def test_impossible_question_in_v11_and_duplicate_ids(tmp_path: Path) -> None:
    para = {
        "context": CONTEXT,
        "qas": [_qa("q1", "When?", CONTEXT, "1889"), _qa("q-null", "Who?", CONTEXT, None)],
    }
    path = _squad_file(tmp_path / "v2.json", [{"title": "t", "paragraphs": [para]}], "v2.0")
    with pytest.raises(
        AlbertctlError,
        match=r"v2\.json: .*qas\[1\] \(question q-null\): question q-null is marked is_impossible",
    ) as info:
        read_squad(path, version="1.1")
    assert "--version 2.0" in (info.value.hint or "")
    assert len(read_squad(path, version="2.0").examples) == 2

    dup = {"context": CONTEXT, "qas": [_qa("q1", "When?", CONTEXT, "1889")]}
    path = _squad_file(
        tmp_path / "dup.json", [{"title": "a", "paragraphs": [para]}, {"title": "b", "paragraphs": [dup]}]
    )
    with pytest.raises(
        AlbertctlError,
        match=r"dup\.json: data\[1\]\.paragraphs\[0\]\.qas\[0\] \(question q1\): "
        r"question id 'q1' appears twice \(first at data\[0\]\.paragraphs\[0\]\.qas\[0\]\)",
    ):
        read_squad(path, version="2.0")

    para["qas"][1]["answers"] = [{"text": "Eiffel", "answer_start": 4}]
    path = _squad_file(tmp_path / "both.json", [{"title": "t", "paragraphs": [para]}], "v2.0")
    with pytest.raises(AlbertctlError, match=r"question q-null is marked is_impossible but has 1 answer"):
        read_squad(path, version="2.0")


# --- windows ---------------------------------------------------------------------------------------


def test_doc_windows_follow_the_reference_strides() -> None:
    assert doc_windows(10, 4, 3) == [(0, 4), (3, 4), (6, 4)]
    assert doc_windows(10, 4, 5) == [(0, 4), (4, 4), (8, 2)]  # the stride never skips tokens
    assert doc_windows(11, 4, 3) == [(0, 4), (3, 4), (6, 4), (9, 2)]
    assert doc_windows(3, 4, 2) == [(0, 3)]
    assert doc_windows(0, 4, 2) == [(0, 0)]


def _reference_is_max_context(windows: list[tuple[int, int]], current: int, position: int) -> bool:
    """The reference's ``_check_is_max_context``, scalar, for comparison."""
    best_score, best = None, None
    for index, (start, length) in enumerate(windows):
        end = start + length - 1
        if position < start or position > end:
            continue
        score = min(position - start, end - position) + 0.01 * length
        if best_score is None or score > best_score:
            best_score, best = score, index
    return current == best


def test_max_context_flags_by_hand_and_against_the_reference() -> None:
    flags = max_context_flags([(0, 4), (2, 4)])
    assert [f.tolist() for f in flags] == [[True, True, True, False], [False, True, True, True]]
    flags = max_context_flags(doc_windows(10, 4, 3))  # ties go to the earlier window
    assert [f.tolist() for f in flags] == [[True] * 4, [False, True, True, True], [False, True, True, True]]
    rng = np.random.default_rng(0)
    for _ in range(50):
        windows = doc_windows(int(rng.integers(1, 60)), int(rng.integers(1, 12)), int(rng.integers(1, 12)))
        for w, flag in enumerate(max_context_flags(windows)):
            start, length = windows[w]
            assert flag.tolist() == [_reference_is_max_context(windows, w, start + j) for j in range(length)]


def test_char_span_to_tokens_overlap_and_zero_width() -> None:
    offsets = np.array([[0, 3], [4, 4], [4, 8], [8, 9], [10, 10], [10, 12]])
    assert char_span_to_tokens(offsets, 4, 8) == (2, 2)  # the zero-width token at 4 is not inside
    assert char_span_to_tokens(offsets, 1, 9) == (0, 3)  # partial overlap takes the whole token
    assert char_span_to_tokens(offsets, 3, 11) == (1, 5)  # zero-width at 4 and 10 strictly inside
    assert char_span_to_tokens(offsets, 9, 10) is None


def _window_context(n: int) -> str:
    return " ".join(f"W{i}" for i in range(n))


def test_features_layout_windows_and_answer_positions() -> None:
    tok = OffsetTokenizer()
    context = _window_context(12)  # 12 tokens
    ex = _example("q", "where is w5 ?", context, "W5 W6")  # query: 4 tokens
    feats = build_features(
        [ex], tok, max_seq_length=4 + 3 + 5, doc_stride=3, max_query_length=4, training=False, version="1.1"
    )
    # 5 context tokens per window, stride 3: (0,5) (3,5) (6,5) (9,3)
    assert len(feats) == 4
    assert feats.window_starts.tolist() == [0, 3, 6, 9] and feats.window_lengths.tolist() == [5, 5, 5, 3]
    assert feats.lengths.tolist() == [12, 12, 12, 10]
    assert feats.example_index.tolist() == [0, 0, 0, 0] and feats.context_starts.tolist() == [6] * 4
    query = tok.encode("where is w5 ?")
    ctx = tok.encode(context)
    assert feats.input_ids[1] == [tok.cls_id, *query, tok.sep_id, *ctx[3:8], tok.sep_id]
    assert feats.token_type_ids[1] == [0] * 6 + [1] * 6
    spans = feats.token_spans(1)
    assert spans[:6].tolist() == [[-1, -1]] * 6 and spans[-1].tolist() == [-1, -1]
    assert [context[a:b] for a, b in spans[6:11]] == ["W3", "W4", "W5", "W6", "W7"]
    # Max context: window 1 owns W4, W5, W6 (W3 has more on its short side in window 0, W7 in window 2).
    assert feats.max_context[1].tolist() == [False] * 6 + [False, True, True, True, False, False]
    assert feats.start_positions is None and not feats.training

    long_query = _example("q2", " ".join(["ask"] * 9), context, "W5")
    cut = build_features(
        [long_query], tok, max_seq_length=12, doc_stride=3, max_query_length=4, training=False, version="1.1"
    )
    assert cut.input_ids[0][:6] == [tok.cls_id, *tok.encode("ask ask ask ask"), tok.sep_id]


def test_training_positions_v11_skips_windows_v20_points_at_cls() -> None:
    tok = OffsetTokenizer()
    context = _window_context(12)
    ex = _example("q", "w3 ?", context, "W3 W4")  # 2 query tokens, context starts at position 4
    kwargs: dict[str, Any] = {"max_seq_length": 2 + 3 + 5, "doc_stride": 3, "max_query_length": 2}
    v1 = build_features([ex], tok, training=True, version="1.1", **kwargs)
    # Windows (0,5) (3,5) (6,5) (9,3): only the first two hold W3 W4 whole.
    assert v1.window_starts.tolist() == [0, 3]
    assert v1.start_positions.tolist() == [4 + 3, 4 + 0] and v1.end_positions.tolist() == [4 + 4, 4 + 1]
    for f in range(len(v1)):
        spans = v1.token_spans(f)
        assert context[spans[v1.start_positions[f], 0] : spans[v1.end_positions[f], 1]] == "W3 W4"

    impossible = _example("n", "w3 ?", context, None)
    v2 = build_features([ex, impossible], tok, training=True, version="2.0", **kwargs)
    assert v2.example_index.tolist() == [0] * 4 + [1] * 4
    assert v2.start_positions.tolist() == [7, 4, 0, 0, 0, 0, 0, 0]
    assert v2.end_positions.tolist() == [8, 5, 0, 0, 0, 0, 0, 0]
    with pytest.raises(AlbertctlError, match="question n is marked is_impossible"):
        build_features([impossible], tok, training=True, version="1.1", **kwargs)


def test_training_skips_unusable_answers_and_sub_word_answers_map_to_pieces() -> None:
    tok = OffsetTokenizer(piece_chars=3)
    context = "Antidisestablishment was a word in 1890s debates."
    ex = _example("sub", "which word ?", context, "establish")  # inside the word
    feats = build_features([ex], tok, max_seq_length=64, max_query_length=8, training=True, version="1.1")
    spans = feats.token_spans(0)
    got = context[spans[feats.start_positions[0], 0] : spans[feats.end_positions[0], 1]]
    assert got == "sestablishme"  # the pieces "ses", "tab", "lis", "hme" hold it; nothing narrower exists

    no_answer = SquadExample("none", "q", context, (), False, "t")
    blank = SquadExample("blank", "q", context, (Answer(" ", context.index(" ")),), False, "t")
    too_long = _example("long", "q", _window_context(30), "W1 W2 W3 W4 W5 W6 W7 W8 W9")
    feats = build_features(
        [no_answer, blank, too_long, ex],
        tok,
        max_seq_length=12,
        max_query_length=2,
        doc_stride=2,
        training=True,
        version="1.1",
    )
    assert feats.skipped_examples == 3 and set(feats.example_index.tolist()) == {3}


def test_each_distinct_context_is_tokenized_once() -> None:
    tok = OffsetTokenizer()
    other = "Another paragraph entirely."
    examples = [_example(f"q{i}", "what ?", CONTEXT if i % 2 else other, None) for i in range(10)]
    build_features(examples, tok, training=False, version="2.0")
    assert tok.offset_calls == 2


def test_collate_pads_to_the_batch_and_reference_padded_to_max_seq_length() -> None:
    tok = OffsetTokenizer()
    examples = [
        _example("a", "when ?", CONTEXT, "1889"),
        _example("b", "who built it ?", "Gustave did.", "Gustave"),
    ]
    feats = build_features(examples, tok, max_seq_length=32, max_query_length=8, training=True, version="1.1")
    batch = feats.collate(np.array([1, 0]), pad_id=tok.pad_id)
    n0, n1 = feats.lengths.tolist()
    assert batch["input_ids"].shape == (2, n0) and batch["input_ids"].dtype == torch.int64
    assert batch["input_mask"][0].tolist() == [1] * n1 + [0] * (n0 - n1)
    assert batch["input_ids"][0, n1:].tolist() == [tok.pad_id] * (n0 - n1)
    assert batch["token_type_ids"][0].tolist() == feats.token_type_ids[1] + [0] * (n0 - n1)
    assert batch["start_positions"].tolist() == [feats.start_positions[1], feats.start_positions[0]]
    assert batch["end_positions"].dtype == torch.int64

    fixed = reference_padded(feats, pad_id=tok.pad_id)
    assert fixed["input_ids"].shape == (2, 32) and fixed["input_mask"].sum(axis=1).tolist() == [n0, n1]
    assert fixed["input_ids"][0, :n0].tolist() == feats.input_ids[0]
    eval_feats = build_features(
        examples, tok, max_seq_length=32, max_query_length=8, training=False, version="1.1"
    )
    assert set(eval_feats.collate(np.array([0]), pad_id=0)) == {"input_ids", "token_type_ids", "input_mask"}


def test_bad_feature_settings_are_errors() -> None:
    with pytest.raises(AlbertctlError, match="leaves no room for context"):
        build_features(
            [], OffsetTokenizer(), max_seq_length=20, max_query_length=17, training=False, version="1.1"
        )
    with pytest.raises(AlbertctlError, match="version '1.0'"):
        build_features([], OffsetTokenizer(), training=False, version="1.0")


# --- post-processing -------------------------------------------------------------------------------


def _logits(feats, f: int, start: int | None = None, end: int | None = None, cls: float = 0.0):
    """Flat logits with a peak at the given feature positions (and ``cls`` at [CLS])."""
    n = len(feats.input_ids[f])
    s, e = np.zeros(n, dtype=np.float32), np.zeros(n, dtype=np.float32)
    s[0] = e[0] = cls
    if start is not None:
        s[start] = 5.0
    if end is not None:
        e[end] = 4.0
    return s, e


def test_postprocess_maps_back_to_original_text_with_case_and_whitespace() -> None:
    tok = OffsetTokenizer()
    ex = _example("q", "what was built ?", CONTEXT, "Eiffel  Tower")
    feats = build_features([ex], tok, max_seq_length=64, max_query_length=8, training=False, version="1.1")
    first = int(feats.context_starts[0])
    # context tokens: The Eiffel Tower was ...  -> Eiffel is token 1, Tower token 2
    s, e = _logits(feats, 0, first + 1, first + 2)
    preds, odds = postprocess(feats, [ex], [s], [e], version="1.1")
    assert preds == {"q": "Eiffel  Tower"} and odds is None
    s, e = _logits(feats, 0, first + 8, first + 11)  # Gustave Eiffel ' s -> the text as written
    assert postprocess(feats, [ex], [s], [e], version="1.1")[0]["q"] == "Gustave Eiffel's"


def test_postprocess_rejects_invalid_spans_for_the_next_best() -> None:
    tok = OffsetTokenizer()
    ex = _example("q", "year ?", CONTEXT, "1889")
    feats = build_features([ex], tok, max_seq_length=64, max_query_length=8, training=False, version="1.1")
    first = int(feats.context_starts[0])  # context tokens: The Eiffel Tower was built in 1889 by Gustave ...

    def best(starts: dict[int, float], ends: dict[int, float], **kwargs: Any) -> str:
        s, e = _logits(feats, 0)
        for i, v in starts.items():
            s[i] = v
        for i, v in ends.items():
            e[i] = v
        return postprocess(feats, [ex], [s], [e], version="1.1", **kwargs)[0]["q"]

    assert best({1: 9.0, first + 6: 5.0}, {1: 9.0, first + 6: 4.0}) == "1889"  # never the query
    assert best({0: 9.0, first + 6: 5.0}, {0: 9.0, first + 6: 4.0}) == "1889"  # nor [CLS] under 1.1
    # "The ... 1889" is 7 tokens: too long for 6, so the next best "The Eiffel  Tower" wins.
    too_long = ({first: 9.0}, {first + 6: 9.0, first + 2: 1.0})
    assert best(*too_long, max_answer_length=6) == "The Eiffel  Tower"
    assert best(*too_long, max_answer_length=7) == "The Eiffel  Tower was built in 1889"
    # An end before its start never pairs: "by" .. "in" is skipped for "by Gustave".
    assert best({first + 7: 9.0}, {first + 5: 9.0, first + 8: 1.0}) == "by Gustave"


def test_postprocess_uses_max_context_windows_and_the_best_window() -> None:
    tok = OffsetTokenizer()
    context = _window_context(12)
    ex = _example("q", "w ?", context, "W4")
    feats = build_features(
        [ex], tok, max_seq_length=2 + 3 + 5, doc_stride=3, max_query_length=2, training=False, version="1.1"
    )
    first = 4
    logits = [_logits(feats, f) for f in range(len(feats))]
    # Window 0 (W0..W4) scores W3 (max context in window 0) and starts higher at W4 (max context
    # in window 1): that start does not count there. Window 1 scores W4 lower than window 0's W3.
    logits[0][0][first + 3], logits[0][1][first + 3] = 3.0, 3.0
    logits[0][0][first + 4] = 9.0
    logits[1][0][first + 1], logits[1][1][first + 1] = 2.0, 2.0
    preds, _ = postprocess(feats, [ex], [s for s, _ in logits], [e for _, e in logits], version="1.1")
    assert preds == {"q": "W3"}
    logits[1][0][first + 1], logits[1][1][first + 1] = 4.0, 4.0
    preds, _ = postprocess(feats, [ex], [s for s, _ in logits], [e for _, e in logits], version="1.1")
    assert preds == {"q": "W4"}


def test_postprocess_v2_null_odds_and_threshold() -> None:
    tok = OffsetTokenizer()
    context = _window_context(12)
    answerable = _example("a", "w ?", context, "W2")
    impossible = _example("n", "w ?", context, None)
    feats = build_features(
        [answerable, impossible],
        tok,
        max_seq_length=10,
        doc_stride=3,
        max_query_length=2,
        training=False,
        version="2.0",
    )
    windows = feats.example_index.tolist().count(0)
    starts, ends = [], []
    for f in range(len(feats)):
        first_window = f in (0, windows)
        s, e = _logits(feats, f, cls=1.0 if first_window else 3.0)  # null score 2 in window 0, 6 later
        if first_window:
            s[4 + 2], e[4 + 2] = 4.0, 3.5  # W2: span score 7.5
        starts.append(s)
        ends.append(e)
    preds, odds = postprocess(feats, [answerable, impossible], starts, ends, version="2.0")
    assert odds == {"a": pytest.approx(2.0 - 7.5), "n": pytest.approx(2.0 - 7.5)}  # min null over windows
    assert preds == {"a": "W2", "n": "W2"}
    preds, _ = postprocess(feats, [answerable, impossible], starts, ends, version="2.0", null_threshold=-6.0)
    assert preds == {"a": "", "n": ""}
    for f in range(windows, len(feats)):  # no valid span at all for "n": null, infinite odds
        starts[f][:] = 0.0
        starts[f][1] = 1.0
        ends[f][:] = 0.0
    preds, odds = postprocess(feats, [answerable, impossible], starts, ends, version="2.0", n_best=1)
    assert preds["n"] == "" and odds["n"] == float("inf")


def test_postprocess_checks_logit_shapes() -> None:
    tok = OffsetTokenizer()
    ex = _example("q", "year ?", CONTEXT, "1889")
    feats = build_features([ex], tok, max_seq_length=64, max_query_length=8, training=False, version="1.1")
    with pytest.raises(ValueError, match="feature 0 has"):
        postprocess(feats, [ex], [np.zeros(3)], [np.zeros(3)], version="1.1")


# --- span prediction -------------------------------------------------------------------------------


class _SpanModel(torch.nn.Module):
    """Start logits = id + 0.5 * type, end logits = -id, masked padding at -1000 (a row's values
    depend only on that row, so batching must not change them)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, input_ids, token_type_ids, input_mask):
        pad = (1 - input_mask) * -1000.0
        return self.scale * input_ids.float() + 0.5 * token_type_ids + pad, -input_ids.float() + pad


def test_span_logits_returns_unpadded_rows_in_feature_order() -> None:
    tok = OffsetTokenizer()
    examples = [_example(f"q{i}", "what ? " * (i + 1), _window_context(3 + 4 * i), None) for i in range(5)]
    feats = build_features(
        examples, tok, max_seq_length=24, doc_stride=4, max_query_length=6, training=False, version="2.0"
    )
    model = _SpanModel()
    out = span_logits(model, feats, batch_size=3, pad_id=tok.pad_id, device=torch.device("cpu"))
    assert len(out) == len(feats) and not model.training
    for f, (s, e) in enumerate(out):
        ids = np.array(feats.input_ids[f], dtype=np.float32)
        assert s.dtype == np.float32 and s.shape == ids.shape
        np.testing.assert_allclose(s, ids + 0.5 * np.array(feats.token_type_ids[f]))
        np.testing.assert_allclose(e, -ids)
    assert len({len(s) for s, _ in out}) > 1  # the batches really had padding to strip


# --- the real tokenizers (once they report offsets) ---------------------------------------------------


def _check_real_tokenizer(tok: Tokenizer) -> None:
    context = "In 1889, the Eiffel Tower -- built by Gustave Eiffel's firm -- opened in Paris."
    ex = _example("q", "When did it open?", context, "Gustave Eiffel's firm")
    feats = build_features([ex], tok, max_seq_length=64, max_query_length=16, training=True, version="1.1")
    assert feats.input_ids[0][: 1 + len(tok.encode("When did it open?")[:16]) + 1][-1] == tok.sep_id
    spans = feats.token_spans(0)
    s, e = feats.start_positions[0], feats.end_positions[0]
    assert context[spans[s, 0] : spans[e, 1]] == "Gustave Eiffel's firm"
    start, end = _logits(feats, 0, int(s), int(e))
    assert postprocess(feats, [ex], [start], [end], version="1.1")[0] == {"q": "Gustave Eiffel's firm"}


def test_sentencepiece_offsets(tiny_vocab: Path) -> None:
    from albertctl.vocab import load_tokenizer

    tok = load_tokenizer(tiny_vocab)
    if not hasattr(tok, "encode_with_offsets"):
        pytest.skip("SentencePieceTokenizer.encode_with_offsets does not exist yet")
    _check_real_tokenizer(tok)


def test_wordpiece_offsets(tmp_path: Path) -> None:
    from albertctl.vocab.wordpiece import WordPieceTokenizer

    if not hasattr(WordPieceTokenizer, "encode_with_offsets"):
        pytest.skip("WordPieceTokenizer.encode_with_offsets does not exist yet")
    words = "in the eiffel tower built by gustave s firm opened paris when did it open".split()
    chars = sorted(set("".join(words)) | set("0123456789,-.'?"))
    lines = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *(f"##{c}" for c in chars), *words]
    (tmp_path / "vocab.txt").write_text("\n".join(dict.fromkeys(lines)) + "\n", encoding="utf-8")
    _check_real_tokenizer(WordPieceTokenizer(tmp_path / "vocab.txt"))


# --- the real SQuAD v1.1 dev file ------------------------------------------------------------------


@pytest.mark.skipif(not SQUAD_DEV.is_file(), reason="shared/data/squad/dev-v1.1.json is not present")
def test_real_dev_v11_reads_and_every_training_target_holds_its_answer() -> None:
    data = read_squad(SQUAD_DEV, version="1.1")
    assert len(data.examples) == 10570 and data.bad_answers == 0
    assert sum(len(e.answers) for e in data.examples) == 34726
    assert len({e.context for e in data.examples}) == 2067
    tok = OffsetTokenizer()
    feats = build_features(data, tok, max_seq_length=192, doc_stride=64, max_query_length=32, training=True)
    assert tok.offset_calls == 2067 and feats.skipped_examples == 0
    assert set(feats.example_index.tolist()) == set(range(len(data.examples)))
    assert len(feats) > len(data.examples)  # long paragraphs gave several windows
    for f in range(0, len(feats), 7):
        example = data.examples[feats.example_index[f]]
        spans = feats.token_spans(f)
        got = example.context[spans[feats.start_positions[f], 0] : spans[feats.end_positions[f], 1]]
        assert example.answers[0].text in got and len(got) <= len(example.answers[0].text) + 2 * 100
        assert feats.lengths[f] <= 192


@pytest.mark.skipif(not SQUAD_DEV.is_file(), reason="shared/data/squad/dev-v1.1.json is not present")
def test_real_dev_v11_round_trip_with_the_sentencepiece_tokenizer(tiny_vocab: Path) -> None:
    """Gold positions as logits -> postprocess gives back text that holds every gold answer."""
    from albertctl.squad import evaluate
    from albertctl.vocab import load_tokenizer

    examples = read_squad(SQUAD_DEV, version="1.1").examples[:3000]
    feats = build_features(examples, load_tokenizer(tiny_vocab), training=True, version="2.0")
    starts, ends = zip(
        *(
            _logits(feats, f, int(feats.start_positions[f]), int(feats.end_positions[f]))
            for f in range(len(feats))
        ),
        strict=True,
    )
    # The tiny vocabulary cuts long answers into more than 30 pieces: lift the length limit.
    preds, _ = postprocess(feats, examples, starts, ends, version="1.1", max_answer_length=512)
    assert all(e.answers[0].text in preds[e.qid] for e in examples)
    assert evaluate(examples, preds, version="1.1")["exact_match"] > 95.0
