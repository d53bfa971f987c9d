"""LAMB and the reference AdamW against updates computed by hand (docs/reference.md §6), and the schedule."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from albertctl.errors import AlbertctlError
from albertctl.train.optim import AdamW, Lamb, build_optimizer, is_excluded, param_groups
from albertctl.train.schedule import build_scheduler, linear_warmup_poly_decay


class _Tiny(nn.Module):
    """Names like the model's: a decayed weight, a LayerNorm and a bias (excluded)."""

    def __init__(self) -> None:
        super().__init__()
        self.dense = nn.Linear(3, 2)
        self.LayerNorm = nn.LayerNorm(2)
        self.word_embeddings = nn.Embedding(4, 2)


def _hand_step(
    w: list[float], g: list[float], *, lr: float, wd: float, trust: bool, steps: int = 1
) -> list[float]:
    """Plain-Python reference update on a flat tensor, repeated with the same gradient."""
    m = [0.0] * len(w)
    v = [0.0] * len(w)
    w = list(w)
    for _ in range(steps):
        m = [0.9 * mi + 0.1 * gi for mi, gi in zip(m, g, strict=True)]
        v = [0.999 * vi + 0.001 * gi * gi for vi, gi in zip(v, g, strict=True)]
        u = [mi / (math.sqrt(vi) + 1e-6) + wd * wi for mi, vi, wi in zip(m, v, w, strict=True)]
        r = 1.0
        if trust:
            w_norm = math.sqrt(sum(x * x for x in w))
            u_norm = math.sqrt(sum(x * x for x in u))
            r = w_norm / u_norm if w_norm > 0 and u_norm > 0 else 1.0
        w = [wi - lr * r * ui for wi, ui in zip(w, u, strict=True)]
    return w


def test_exclusion_names() -> None:
    assert is_excluded("albert.embeddings.LayerNorm.weight")
    assert is_excluded("encoder.layer_norm.weight")
    assert is_excluded("predictions.bias")
    assert is_excluded("pooler.dense.bias")
    assert not is_excluded("albert.embeddings.word_embeddings.weight")
    assert not is_excluded("sop_classifier.classifier.weight")


@pytest.mark.parametrize("name", ["lamb", "adamw"])
def test_step_matches_hand_computation(name: str) -> None:
    torch.manual_seed(0)
    model = _Tiny().double()
    with torch.no_grad():
        model.LayerNorm.weight.uniform_(0.5, 1.5)
        model.dense.bias.uniform_(-1, 1)
    before = {n: p.detach().flatten().tolist() for n, p in model.named_parameters()}
    grads = {n: torch.randn_like(p) for n, p in model.named_parameters()}
    opt = build_optimizer(model, name, lr=0.1, weight_decay=0.01)
    for _ in range(3):
        for n, p in model.named_parameters():
            p.grad = grads[n].clone()
        opt.step()
    for n, p in model.named_parameters():
        excluded = is_excluded(n)
        expected = _hand_step(
            before[n],
            grads[n].flatten().tolist(),
            lr=0.1,
            wd=0.0 if excluded else 0.01,
            trust=(name == "lamb" and not excluded),
            steps=3,
        )
        assert p.detach().flatten().tolist() == pytest.approx(expected, rel=1e-10, abs=1e-12), n


def test_lamb_trust_ratio_is_one_for_zero_weights() -> None:
    # A zero-initialised tensor (||w|| = 0) moves by plain lr*u, not by zero.
    param = nn.Parameter(torch.zeros(4, dtype=torch.float64))
    param.grad = torch.tensor([1.0, -2.0, 0.5, 0.0], dtype=torch.float64)
    Lamb([param], lr=0.1, weight_decay=0.01).step()
    expected = _hand_step([0.0] * 4, [1.0, -2.0, 0.5, 0.0], lr=0.1, wd=0.01, trust=True)
    assert param.detach().tolist() == pytest.approx(expected, rel=1e-12)
    assert param.abs().sum() > 0


def test_lamb_and_adamw_differ_only_by_trust_ratio() -> None:
    w0 = torch.tensor([3.0, 4.0], dtype=torch.float64)  # ||w|| = 5
    g = torch.tensor([0.1, 0.2], dtype=torch.float64)
    a, b = nn.Parameter(w0.clone()), nn.Parameter(w0.clone())
    a.grad, b.grad = g.clone(), g.clone()
    Lamb([a], lr=0.01, weight_decay=0.0).step()
    AdamW([b], lr=0.01, weight_decay=0.0).step()
    u = (0.1 * g) / ((0.001 * g * g).sqrt() + 1e-6)
    assert torch.allclose(w0 - a.detach(), 0.01 * 5.0 / u.norm() * u)
    assert torch.allclose(w0 - b.detach(), 0.01 * u)


def test_param_groups_split_and_count_tied_once() -> None:
    model = _Tiny()
    groups = param_groups(model, weight_decay=0.01)
    decay, excluded = groups
    assert decay["names"] == ["dense.weight", "word_embeddings.weight"]
    assert excluded["names"] == ["dense.bias", "LayerNorm.weight", "LayerNorm.bias"]
    assert excluded["weight_decay"] == 0.0 and excluded["trust_ratio"] is False


def test_optimizer_state_roundtrip_continues_identically() -> None:
    torch.manual_seed(1)
    model_a = _Tiny()
    model_b = _Tiny()
    model_b.load_state_dict(model_a.state_dict())
    opt_a = build_optimizer(model_a, "lamb", lr=0.05)
    opt_b = build_optimizer(model_b, "lamb", lr=0.05)
    gen = torch.Generator().manual_seed(3)
    grads = [[torch.randn(p.shape, generator=gen) for p in model_a.parameters()] for _ in range(4)]
    for step, gs in enumerate(grads):
        if step == 2:
            # deepcopy stands in for torch.save/torch.load (load_state_dict would alias the tensors).
            opt_b.load_state_dict(copy.deepcopy(opt_a.state_dict()))
        for model, opt in ((model_a, opt_a), (model_b, opt_b)):
            for p, g in zip(model.parameters(), gs, strict=True):
                p.grad = g.clone()
            opt.step()
        if step < 2:
            model_b.load_state_dict(model_a.state_dict())
    for pa, pb in zip(model_a.parameters(), model_b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_bad_optimizer_name() -> None:
    with pytest.raises(AlbertctlError, match="optimizer name"):
        build_optimizer(_Tiny(), "sgd", lr=0.1)


def test_schedule_values() -> None:
    kw = {"base_lr": 1.0, "warmup_steps": 4, "total_steps": 10}
    values = [linear_warmup_poly_decay(s, **kw) for s in range(12)]
    assert values[:4] == [0.0, 0.25, 0.5, 0.75]
    assert values[4] == pytest.approx(0.6)
    assert values[9] == pytest.approx(0.1)
    assert values[10] == 0.0 and values[11] == 0.0
    assert linear_warmup_poly_decay(
        5, base_lr=2.0, warmup_steps=0, total_steps=10, power=2.0
    ) == pytest.approx(0.5)


def test_scheduler_sets_lr_and_resumes() -> None:
    model = _Tiny()
    opt = build_optimizer(model, "adamw", lr=0.2)
    sched = build_scheduler(opt, warmup_steps=2, total_steps=6)
    seen = []
    for _ in range(4):
        seen.append(sched.get_last_lr()[0])
        sched.step()
    # Decay counts from raw step 0, so the rate drops to 0.2*(1-2/6) right after warm-up (as the reference).
    assert seen == pytest.approx([0.0, 0.1, 0.2 * 4 / 6, 0.1])
    state = sched.state_dict()
    opt2 = build_optimizer(model, "adamw", lr=0.2)
    sched2 = build_scheduler(opt2, warmup_steps=2, total_steps=6)
    sched2.load_state_dict(state)
    assert sched2.get_last_lr() == sched.get_last_lr() == pytest.approx([0.2 * 2 / 6] * 2)


def test_scheduler_rejects_bad_settings() -> None:
    opt = build_optimizer(_Tiny(), "adamw", lr=0.2)
    with pytest.raises(AlbertctlError, match="warmup_steps"):
        build_scheduler(opt, warmup_steps=10, total_steps=5)
