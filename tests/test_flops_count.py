"""The analytic matmul-FLOP count of benchmarks/_peak.py against torch's own FLOP counter.

``torch.utils.flop_counter.FlopCounterMode`` counts only matmul-like ops (mm, addmm, bmm,
attention kernels), the same scope as ``albert_forward_flops``. It has no formula for the fused
CPU attention kernel, so the forward runs with the math SDPA backend, whose attention is two
``bmm`` calls it does count. Tiny configs, both embedding layouts, several blocks per group.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from albertctl.model.albert import AlbertForPreTraining
from albertctl.model.config import get_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _peak import albert_forward_flops, albert_train_flops  # noqa: E402

BATCH, LENGTH, SLOTS = 3, 24, 5


def _counted(model: AlbertForPreTraining, positions: torch.Tensor | None) -> tuple[int, int]:
    """(forward, backward) matmul FLOPs that FlopCounterMode sees for one batch."""
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(5, model.config.vocab_size, (BATCH, LENGTH), generator=gen)  # (B, L)
    mask = torch.ones(BATCH, LENGTH, dtype=torch.long)
    mask[0, LENGTH - 4 :] = 0  # padded keys are still computed
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as forward:
        out = model(ids, torch.zeros_like(ids), mask, positions)
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as backward:
        (out.mlm_logits.float().sum() + out.sop_logits.float().sum()).backward()
    return forward.get_total_flops(), backward.get_total_flops()


@pytest.mark.parametrize("layout", ["google", "brightmart"])
@pytest.mark.parametrize("masked", [True, False], ids=["masked-positions", "all-positions"])
def test_analytic_count_matches_the_flop_counter(layout: str, masked: bool) -> None:
    config = dataclasses.replace(
        get_config("debug"),
        embedding_layout=layout,
        num_hidden_layers=3,
        num_hidden_groups=2,
        inner_group_num=2,
    )
    model = AlbertForPreTraining(config, generator=torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(1)
    positions = torch.randint(0, LENGTH, (BATCH, SLOTS), generator=gen) if masked else None
    rows = BATCH * SLOTS if masked else BATCH * LENGTH  # what the MLM head runs on
    forward, backward = _counted(model, positions)

    expected = albert_forward_flops(config, BATCH, LENGTH, rows)
    assert abs(forward - expected) <= 0.02 * expected, (forward, expected)
    train = albert_train_flops(config, BATCH, LENGTH, rows)
    assert abs(forward + backward - train) <= 0.02 * train, (forward + backward, train)


def test_mlm_on_every_position_costs_more_than_on_the_masked_ones() -> None:
    config = get_config("tiny", vocab_size=30000)
    useful = albert_train_flops(config, 8, 128, 8 * 19)
    everywhere = albert_train_flops(config, 8, 128, 8 * 128)
    assert everywhere > 1.5 * useful  # the vocab projection dominates tiny: why both get one count
