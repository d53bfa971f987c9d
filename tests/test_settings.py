"""One declaration per setting: ranges declared on a field are the one rule every caller meets."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from albertctl.errors import AlbertctlError
from albertctl.settings import check_ranges, setting


@dataclass(frozen=True)
class _Knobs:
    lr: float = setting(1e-3, above=0)
    decay: float = setting(0.01, min=0, below=1)
    steps: int = setting(10, min=1)

    def __post_init__(self) -> None:
        check_ranges(self)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"lr": 0.0}, "lr must be > 0, got 0.0"),
        ({"lr": math.nan}, "lr must be > 0, got nan"),
        ({"lr": math.inf}, "lr must be > 0, got inf"),
        ({"decay": 1.0}, r"decay must be in \[0, 1\), got 1.0"),
        ({"decay": -0.1}, r"decay must be in \[0, 1\), got -0.1"),
        ({"steps": 0}, "steps must be >= 1, got 0"),
        ({"steps": 2.5}, "steps must be an integer, got 2.5"),
    ],
)
def test_a_value_outside_its_declared_range_is_one_clear_error(values: dict, message: str) -> None:
    with pytest.raises(AlbertctlError, match=message):
        _Knobs(**values)


def test_values_on_a_closed_bound_are_accepted_and_on_an_open_one_refused() -> None:
    assert _Knobs(decay=0.0, steps=1).decay == 0.0
    assert _Knobs(lr=1e-12).lr == 1e-12


def test_the_optimizer_and_both_stage_configs_share_the_declared_lr_rule() -> None:
    from albertctl.glue.config import FinetuneConfig
    from albertctl.train.optim import OptimizerConfig

    for make in (lambda: OptimizerConfig(lr=0.0), lambda: FinetuneConfig(lr=0.0)):
        with pytest.raises(AlbertctlError, match="lr must be > 0, got 0.0"):
            make()
    for make in (lambda: OptimizerConfig(weight_decay=1.0), lambda: FinetuneConfig(weight_decay=1.0)):
        with pytest.raises(AlbertctlError, match=r"weight_decay must be in \[0, 1\), got 1.0"):
            make()


def test_a_bound_is_closed_or_open_not_both() -> None:
    with pytest.raises(TypeError, match="closed .* or open"):
        setting(1.0, min=0, above=0)
