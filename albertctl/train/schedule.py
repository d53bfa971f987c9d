"""Learning-rate schedule of the reference: linear warm-up, then polynomial decay to zero.

``linear_warmup_poly_decay(s)`` is the rate for the update made at raw step ``s`` (0-based,
the number of updates already applied), as ALBERT's ``optimization.py``::

    lr(s) = lr0 * s / W                         if s < W
    lr(s) = lr0 * (1 - min(s, T) / T) ** power  otherwise

so the very first update (s = 0) uses lr 0 when there is a warm-up, as in the reference.
:class:`WarmupPolyDecay` applies it to an optimizer and checkpoints its position.
"""

from __future__ import annotations

from typing import Any

import torch

from albertctl.errors import AlbertctlError


def linear_warmup_poly_decay(
    step: int, *, base_lr: float, warmup_steps: int, total_steps: int, power: float = 1.0
) -> float:
    """Learning rate for the update at raw step ``step`` (see the module docstring)."""
    if step < 0:
        raise AlbertctlError(f"schedule step must be >= 0, got {step}")
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * step / warmup_steps
    if total_steps <= 0:
        return base_lr
    return base_lr * (1.0 - min(step, total_steps) / total_steps) ** power


class WarmupPolyDecay:
    """Sets every param group's ``lr`` from :func:`linear_warmup_poly_decay` (LambdaLR-style).

    Call :meth:`step` after each optimizer step. The peak rate of each group is kept in the
    group as ``initial_lr``; ``state_dict()`` holds the position so a resumed run continues it.
    """

    def __init__(
        self, optimizer: torch.optim.Optimizer, *, warmup_steps: int, total_steps: int, power: float = 1.0
    ) -> None:
        if warmup_steps < 0:
            raise AlbertctlError(f"warmup_steps must be >= 0, got {warmup_steps}")
        if total_steps < 1:
            raise AlbertctlError(f"total_steps must be >= 1, got {total_steps}")
        if warmup_steps > total_steps:
            raise AlbertctlError(
                f"warmup_steps ({warmup_steps}) must not exceed total_steps ({total_steps})",
                hint="lower --warmup-steps or raise --max-steps",
            )
        if power <= 0:
            raise AlbertctlError(f"schedule power must be > 0, got {power}")
        self.optimizer = optimizer
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.power = power
        self.last_step = 0
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self._apply()

    def lr_at(self, step: int, base_lr: float) -> float:
        """The rate at raw step ``step`` for a group whose peak rate is ``base_lr``."""
        return linear_warmup_poly_decay(
            step,
            base_lr=base_lr,
            warmup_steps=self.warmup_steps,
            total_steps=self.total_steps,
            power=self.power,
        )

    def _apply(self) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_at(self.last_step, group["initial_lr"])

    def step(self) -> None:
        """Advance one update and set the rates for the next one."""
        self.last_step += 1
        self._apply()

    def end_at(self, total_steps: int) -> None:
        """Move the end of the decay (``pretrain --time-budget``); the warm-up is unchanged."""
        if not max(self.warmup_steps, 1) <= total_steps:
            raise AlbertctlError(f"total_steps must be >= max(warmup_steps, 1), got {total_steps}")
        self.total_steps = total_steps
        self._apply()

    def get_last_lr(self) -> list[float]:
        """The rates the next optimizer step will use, one per param group."""
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """Position and settings (enough to resume and to detect a changed schedule)."""
        return {
            "last_step": self.last_step,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
            "power": self.power,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a saved position (the settings given at construction win)."""
        self.last_step = int(state["last_step"])
        self._apply()


def build_scheduler(
    optimizer: torch.optim.Optimizer, *, warmup_steps: int, total_steps: int, power: float = 1.0
) -> WarmupPolyDecay:
    """The reference schedule over ``total_steps`` updates with ``warmup_steps`` of warm-up."""
    return WarmupPolyDecay(optimizer, warmup_steps=warmup_steps, total_steps=total_steps, power=power)
