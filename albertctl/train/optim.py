"""LAMB and the reference AdamW, exactly as ALBERT's TF code (docs/reference.md §6).

Both optimizers share one update, per parameter tensor ``w`` with gradient ``g``::

    m = b1*m + (1-b1)*g            v = b2*v + (1-b2)*g^2     (no bias correction)
    u = m / (sqrt(v) + eps) + wd*w (wd only when the parameter is not excluded)
    r = ||w|| / ||u||              (LAMB only; r = 1 if either norm is 0 or the tensor is excluded)
    w = w - lr * r * u

A parameter is *excluded* (no weight decay, no trust ratio) when its qualified name matches
``LayerNorm``, ``layer_norm`` or ``bias``; embeddings and output weights are not excluded.
``build_optimizer`` splits a model's parameters into a decay group and an excluded group.
Nothing here reads or writes files; state goes through ``state_dict()`` like any torch optimizer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from albertctl.errors import AlbertctlError
from albertctl.settings import check_ranges, setting

# The reference's `exclude_from_weight_decay` list, matched anywhere in the name (re.search).
EXCLUDE_PATTERNS: tuple[str, ...] = ("LayerNorm", "layer_norm", "bias")
OPTIMIZERS: tuple[str, ...] = ("lamb", "adamw")


def is_excluded(name: str, patterns: Iterable[str] = EXCLUDE_PATTERNS) -> bool:
    """True when a parameter name is excluded from weight decay and the trust ratio."""
    return any(re.search(pattern, name) for pattern in patterns)


class _ReferenceAdam(torch.optim.Optimizer):
    """The shared Adam-style update; ``trust_ratio`` in a group turns it into LAMB."""

    def __init__(
        self,
        params: Any,
        *,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.01,
        trust_ratio: bool,
    ) -> None:
        if lr < 0.0:
            raise AlbertctlError(f"lr must be >= 0, got {lr}")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise AlbertctlError(f"betas must be in [0, 1), got {betas}")
        if eps <= 0.0:
            raise AlbertctlError(f"eps must be > 0, got {eps}")
        if weight_decay < 0.0:
            raise AlbertctlError(f"weight_decay must be >= 0, got {weight_decay}")
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "trust_ratio": trust_ratio,
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # noqa: D401 - torch's signature
        """Apply one update to every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            if any(p.grad.is_sparse for p in params):
                raise RuntimeError("sparse gradients are not supported")
            beta1, beta2 = group["betas"]
            exp_avgs, exp_avg_sqs = [], []
            for p in params:
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                exp_avgs.append(state["exp_avg"])
                exp_avg_sqs.append(state["exp_avg_sq"])
            grads = [p.grad for p in params]
            # Moments, without bias correction (the reference never corrects them).
            torch._foreach_lerp_(exp_avgs, grads, 1.0 - beta1)  # m = b1*m + (1-b1)*g
            torch._foreach_mul_(exp_avg_sqs, beta2)
            torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1.0 - beta2)
            denom = torch._foreach_sqrt(exp_avg_sqs)
            torch._foreach_add_(denom, group["eps"])
            updates = torch._foreach_div(exp_avgs, denom)
            if group["weight_decay"] != 0.0:
                torch._foreach_add_(updates, params, alpha=group["weight_decay"])
            if group["trust_ratio"]:
                w_norms = torch._foreach_norm(params)
                u_norms = torch._foreach_norm(updates)
                for update, w_norm, u_norm in zip(updates, w_norms, u_norms, strict=True):
                    # r = ||w||/||u||, and 1 when either norm is zero (a fresh zero bias, a dead row).
                    ratio = torch.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, torch.ones_like(w_norm))
                    update.mul_(ratio)
            torch._foreach_add_(params, updates, alpha=-group["lr"])
        return loss


class Lamb(_ReferenceAdam):
    """LAMB as ALBERT's ``lamb_optimizer.py``: per-tensor trust ratio, no bias correction.

    A param group with ``trust_ratio=False`` (and ``weight_decay=0``) holds the excluded tensors.
    """

    def __init__(
        self,
        params: Any,
        *,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, trust_ratio=True)


class AdamW(_ReferenceAdam):
    """The reference ``AdamWeightDecayOptimizer``: LAMB's update with r = 1 (no bias correction)."""

    def __init__(
        self,
        params: Any,
        *,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, trust_ratio=False)


@dataclass(frozen=True, kw_only=True)
class OptimizerConfig:
    """Which optimizer and its hyperparameters."""

    name: str = "lamb"
    """``lamb`` (pretraining, the reference) or ``adamw`` (fine-tuning, the reference)."""
    lr: float = setting(1e-3, above=0)
    """Peak learning rate (the schedule scales it)."""
    weight_decay: float = setting(0.01, min=0, below=1)
    """Decoupled weight decay for non-excluded tensors."""
    beta1: float = setting(0.9, min=0, below=1)
    """First-moment decay."""
    beta2: float = setting(0.999, min=0, below=1)
    """Second-moment decay."""
    eps: float = setting(1e-6, above=0)
    """Added to sqrt(v); the reference uses 1e-6."""

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise AlbertctlError(f"optimizer name must be one of {', '.join(OPTIMIZERS)}, got {self.name!r}")
        check_ranges(self)


def param_groups(
    model: nn.Module, *, weight_decay: float, patterns: Iterable[str] = EXCLUDE_PATTERNS
) -> list[dict[str, Any]]:
    """Split trainable parameters into a decayed group and an excluded group (tied weights once).

    The excluded group has ``weight_decay=0`` and ``trust_ratio=False``; each group also carries
    ``names`` so a checkpoint can say which tensor is which.
    """
    patterns = tuple(patterns)
    decay: list[nn.Parameter] = []
    decay_names: list[str] = []
    excluded: list[nn.Parameter] = []
    excluded_names: list[str] = []
    # named_parameters() already yields a tied (shared) tensor once, under its first name.
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if is_excluded(name, patterns):
            excluded.append(param)
            excluded_names.append(name)
        else:
            decay.append(param)
            decay_names.append(name)
    groups: list[dict[str, Any]] = []
    if decay:
        groups.append({"params": decay, "names": decay_names, "weight_decay": weight_decay})
    if excluded:
        groups.append(
            {"params": excluded, "names": excluded_names, "weight_decay": 0.0, "trust_ratio": False}
        )
    return groups


def build_optimizer(
    model: nn.Module,
    name: str = "lamb",
    *,
    lr: float,
    weight_decay: float = 0.01,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-6,
) -> torch.optim.Optimizer:
    """The reference optimizer for ``model``: ``lamb`` or ``adamw``, LayerNorm/bias excluded."""
    config = OptimizerConfig(
        name=name, lr=lr, weight_decay=weight_decay, beta1=betas[0], beta2=betas[1], eps=eps
    )
    return build_optimizer_from_config(model, config)


def build_optimizer_from_config(model: nn.Module, config: OptimizerConfig) -> torch.optim.Optimizer:
    """``build_optimizer`` taking an :class:`OptimizerConfig`."""
    groups = param_groups(model, weight_decay=config.weight_decay)
    if not groups:
        raise AlbertctlError("the model has no trainable parameters", hint="check requires_grad on the model")
    cls = Lamb if config.name == "lamb" else AdamW
    return cls(
        groups,
        lr=config.lr,
        betas=(config.beta1, config.beta2),
        eps=config.eps,
        weight_decay=config.weight_decay,
    )
