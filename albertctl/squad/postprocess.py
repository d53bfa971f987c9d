"""Span logits of every window -> one answer text per question (and SQuAD 2.0 null odds).

As the reference (BERT/ALBERT ``write_predictions``): in each window take the ``n_best`` highest
start and end logits, keep the pairs that lie in the context part, end at or after their start,
span at most ``max_answer_length`` tokens and start at a token that has max context in that
window; the question's answer is the best-scoring pair (start + end logit) over all its windows.
Under 2.0 a window's null score is ``start_logits[0] + end_logits[0]`` (``[CLS]``), the
question's is the lowest over its windows, ``null_odds = null score - best span score``, and the
prediction is ``""`` when the odds exceed ``null_threshold``.

Differences from the reference, and why:

* The answer text is the ORIGINAL context from the start token's first character to the end
  token's last (case, accents and inner whitespace as written), through the tokenizer's offsets;
  the reference de-tokenizes and re-aligns (``get_final_text``), which can lose characters.
* Logits are unpadded, so the ``n_best`` candidates are never spent on padding positions.
* A question with no valid span predicts ``""`` (the reference writes ``"empty"``) and, under
  2.0, gets ``null_odds = inf`` (always null at any threshold). A span whose text is empty (only
  zero-width tokens) is passed over for the next best, as the reference's ``best_non_null_entry``.

Pure functions; no file I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from albertctl.squad.data import SquadData, SquadExample, check_version
from albertctl.squad.features import SquadFeatures


def window_candidates(
    features: SquadFeatures,
    feature: int,
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    *,
    n_best: int,
    max_answer_length: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Valid (start, end) token pairs of one window among its ``n_best`` starts and ends, in the
    reference's order (start rank, then end rank) -> (scores, starts, ends), each (K,)."""
    s = np.asarray(start_logits, dtype=np.float64)
    e = np.asarray(end_logits, dtype=np.float64)
    top_s = np.argsort(-s, kind="stable")[:n_best]  # stable: equal logits keep position order
    top_e = np.argsort(-e, kind="stable")[:n_best]
    first = int(features.context_starts[feature])
    stop = first + int(features.window_lengths[feature])
    si, ei = top_s[:, None], top_e[None, :]  # (n, 1), (1, n)
    ok = (
        (si >= first)
        & (si < stop)
        & (ei >= first)
        & (ei < stop)
        & (ei >= si)
        & (ei - si + 1 <= max_answer_length)
        & features.max_context[feature][si]
    )  # (n, n)
    rows, cols = np.nonzero(ok)  # row-major: start-outer, end-inner, as the reference loops
    starts, ends = top_s[rows], top_e[cols]
    return s[starts] + e[ends], starts, ends


def span_text(features: SquadFeatures, feature: int, context: str, start: int, end: int) -> str:
    """The context characters from token ``start``'s first to token ``end``'s last (feature positions)."""
    offsets = features.context_offsets[features.context_index[feature]]
    shift = int(features.window_starts[feature]) - int(features.context_starts[feature])
    return context[int(offsets[start + shift, 0]) : int(offsets[end + shift, 1])]


def _features_by_example(features: SquadFeatures, num_examples: int) -> list[list[int]]:
    groups: list[list[int]] = [[] for _ in range(num_examples)]
    for f, e in enumerate(features.example_index.tolist()):
        groups[e].append(f)
    return groups


def best_span(
    features: SquadFeatures,
    feature_ids: list[int],
    context: str,
    start_logits: Sequence[np.ndarray],
    end_logits: Sequence[np.ndarray],
    *,
    n_best: int,
    max_answer_length: int,
) -> tuple[str, float] | None:
    """(text, score) of one question's best non-empty span over its windows, or None."""
    scores, owner, starts, ends = [], [], [], []
    for f in feature_ids:
        score, start, end = window_candidates(
            features, f, start_logits[f], end_logits[f], n_best=n_best, max_answer_length=max_answer_length
        )
        scores.append(score)
        owner.append(np.full(len(score), f, dtype=np.int64))
        starts.append(start)
        ends.append(end)
    if not feature_ids:
        return None
    all_scores = np.concatenate(scores)
    owners, first, last = np.concatenate(owner), np.concatenate(starts), np.concatenate(ends)
    for k in np.argsort(-all_scores, kind="stable"):  # first window / rank wins a tie, as the reference
        text = span_text(features, int(owners[k]), context, int(first[k]), int(last[k]))
        if text:
            return text, float(all_scores[k])
    return None


def postprocess(
    features: SquadFeatures,
    examples: SquadData | Sequence[SquadExample],
    start_logits: Sequence[np.ndarray],
    end_logits: Sequence[np.ndarray],
    *,
    n_best: int = 20,
    max_answer_length: int = 30,
    version: str,
    null_threshold: float = 0.0,
) -> tuple[dict[str, str], dict[str, float] | None]:
    """-> (``{question id: answer text}``, ``{question id: null odds}`` under 2.0 else None).

    ``start_logits[i]`` / ``end_logits[i]`` are feature i's (L_i,) logits (unpadded).
    """
    check_version(version)
    examples = examples.examples if isinstance(examples, SquadData) else list(examples)
    if len(start_logits) != len(features) or len(end_logits) != len(features):
        raise ValueError(
            f"{len(features)} features but {len(start_logits)} start / {len(end_logits)} end logit rows"
        )
    for f, (s, e) in enumerate(zip(start_logits, end_logits, strict=True)):
        if len(s) != len(features.input_ids[f]) or len(e) != len(features.input_ids[f]):
            raise ValueError(
                f"feature {f} has {len(features.input_ids[f])} tokens but {len(s)}/{len(e)} logits"
            )
    if len(features) and int(features.example_index.max()) >= len(examples):
        raise ValueError(f"features refer to example {int(features.example_index.max())} of {len(examples)}")
    predictions: dict[str, str] = {}
    null_odds: dict[str, float] | None = {} if version == "2.0" else None
    for example, feature_ids in zip(examples, _features_by_example(features, len(examples)), strict=True):
        best = best_span(
            features,
            feature_ids,
            example.context,
            start_logits,
            end_logits,
            n_best=n_best,
            max_answer_length=max_answer_length,
        )
        if null_odds is None:
            predictions[example.qid] = best[0] if best is not None else ""
            continue
        null = min(
            (float(start_logits[f][0]) + float(end_logits[f][0]) for f in feature_ids), default=math.inf
        )
        odds = math.inf if best is None else null - best[1]
        null_odds[example.qid] = odds
        predictions[example.qid] = "" if best is None or odds > null_threshold else best[0]
    return predictions, null_odds
