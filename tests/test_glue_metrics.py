"""The official GLUE metrics against independent computations written out by hand here
(textbook formulas in pure Python), and against scipy when it happens to be installed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from albertctl.glue.metrics import (
    accuracy,
    f1_binary,
    matthews_corrcoef,
    pearson,
    rank_average,
    spearman,
    task_metrics,
)
from albertctl.glue.tasks import TASKS


def _mcc_binary_by_hand(preds: list[int], labels: list[int]) -> float:
    tp = sum(p == 1 and y == 1 for p, y in zip(preds, labels, strict=True))
    tn = sum(p == 0 and y == 0 for p, y in zip(preds, labels, strict=True))
    fp = sum(p == 1 and y == 0 for p, y in zip(preds, labels, strict=True))
    fn = sum(p == 0 and y == 1 for p, y in zip(preds, labels, strict=True))
    denom = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return 0.0 if denom == 0 else (tp * tn - fp * fn) / denom


def _pearson_by_hand(x: list[float], y: list[float]) -> float:
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return 0.0 if sxx == 0 or syy == 0 else sxy / math.sqrt(sxx * syy)


def _ranks_by_hand(x: list[float]) -> list[float]:
    # Rank of v = (number of values below v) + (1 + number of values equal to v) / 2.
    return [sum(o < v for o in x) + (1 + sum(o == v for o in x)) / 2 for v in x]


_binary = st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1)), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(_binary)
def test_binary_metrics_match_hand_computation(pairs: list[tuple[int, int]]) -> None:
    preds, labels = [p for p, _ in pairs], [y for _, y in pairs]
    assert matthews_corrcoef(np.array(preds), np.array(labels)) == pytest.approx(
        _mcc_binary_by_hand(preds, labels), abs=1e-12
    )
    tp = sum(p == y == 1 for p, y in pairs)
    precision = tp / max(sum(preds), 1)
    recall = tp / max(sum(labels), 1)
    expected_f1 = 0.0 if tp == 0 else 2 * precision * recall / (precision + recall)
    assert f1_binary(np.array(preds), np.array(labels)) == pytest.approx(expected_f1, abs=1e-12)
    assert accuracy(np.array(preds), np.array(labels)) == pytest.approx(
        sum(p == y for p, y in pairs) / len(pairs)
    )


_floats = st.lists(
    st.tuples(st.integers(0, 10).map(lambda v: v / 2), st.floats(-3, 3, allow_nan=False)),
    min_size=2,
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(_floats)
def test_correlations_match_hand_computation(pairs: list[tuple[float, float]]) -> None:
    x, y = [a for a, _ in pairs], [b for _, b in pairs]
    assert pearson(np.array(x), np.array(y)) == pytest.approx(_pearson_by_hand(x, y), abs=1e-9)
    assert list(rank_average(np.array(x))) == _ranks_by_hand(x)  # x has many ties (steps of 0.5)
    assert spearman(np.array(x), np.array(y)) == pytest.approx(
        _pearson_by_hand(_ranks_by_hand(x), _ranks_by_hand(y)), abs=1e-9
    )


def test_known_values() -> None:
    # A worked example: tp=2 tn=1 fp=1 fn=1 -> MCC (2-1)/sqrt(3*3*2*2) = 1/6, F1 = 4/6.
    preds, labels = np.array([1, 1, 1, 0, 0]), np.array([1, 1, 0, 1, 0])
    assert matthews_corrcoef(preds, labels) == pytest.approx(1 / 6)
    assert f1_binary(preds, labels) == pytest.approx(2 / 3)
    assert matthews_corrcoef(np.array([1, 1]), np.array([0, 1])) == 0.0  # constant prediction
    assert spearman(np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0, 1000.0])) == pytest.approx(1.0)
    assert pearson(np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0])) == pytest.approx(-1.0)


def test_multiclass_mcc_by_covariance_definition() -> None:
    # R_K = cov(X, Y) / sqrt(cov(X, X) cov(Y, Y)) over one-hot rows (Gorodkin 2004), written out.
    rng = np.random.default_rng(0)
    labels, preds = rng.integers(0, 3, 50), rng.integers(0, 3, 50)
    x, y = np.eye(3)[preds], np.eye(3)[labels]
    xc, yc = x - x.mean(0), y - y.mean(0)
    expected = (xc * yc).sum() / math.sqrt((xc * xc).sum() * (yc * yc).sum())
    assert matthews_corrcoef(preds, labels) == pytest.approx(expected, abs=1e-12)


def test_task_metrics_names() -> None:
    p, y = np.array([0, 1, 1]), np.array([0, 1, 0])
    assert set(task_metrics(TASKS["cola"], p, y)) == {"mcc"}
    assert set(task_metrics(TASKS["mrpc"], p, y)) == {"f1", "accuracy"}
    assert set(task_metrics(TASKS["qqp"], p, y)) == {"f1", "accuracy"}
    assert set(task_metrics(TASKS["rte"], p, y)) == {"accuracy"}
    assert set(task_metrics(TASKS["stsb"], p.astype(float), y.astype(float))) == {"pearson", "spearman"}


def test_against_scipy_when_installed() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 6, 200).astype(float), rng.normal(size=200)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-10)
    assert pearson(x, y) == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-10)
