"""The one training step of every stage: pretraining and fine-tuning both run :class:`Trainer`.

A step is a list of micro-batches (this process's share of the global batch, ``grad_accum`` of
them). For each, the :class:`Objective` returns the micro-batch's loss, already divided by the
*global* denominators (masked positions, sequences) so that the sum over micro-batches and
processes is the global batch's loss, and the sums its metrics are made of. Then, once per
step and the same everywhere:

1. backward per micro-batch, with DDP's gradient all-reduce only on the last (``no_sync``);
2. the metric sums all-reduced over processes (one float64 tensor, :class:`Stats`);
3. global-norm clipping (``clip_norm``; 0 only measures), :func:`~albertctl.train.loop.clip_gradients`;
4. the non-finite guard (:class:`~albertctl.train.loop.NonFiniteGuard`): a NaN/inf loss or
   gradient skips the update, and too many in a row stop the run with one clear error;
5. optimizer and schedule step, gradients zeroed.

:meth:`Trainer.state_dict` holds what an exact resume needs besides the weights (optimizer,
schedule, guard); the caller adds its loader position and RNG states. The losses themselves
live with the model (:func:`albertctl.model.albert.pretraining_sums`,
:func:`~albertctl.model.albert.sequence_classification_loss`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from albertctl.train.distributed import DistContext, all_reduce_sum, no_sync
from albertctl.train.loop import NonFiniteGuard, clip_gradients
from albertctl.train.runtime import autocast

Batch = Mapping[str, torch.Tensor]
Forward = Callable[..., Any]
"""The model as an objective calls it (under the run's autocast)."""


class Stats:
    """Named float64 sums (over micro-batches, processes and steps), reduced as one tensor."""

    def __init__(
        self, names: Sequence[str], values: torch.Tensor | None = None, *, device: torch.device | None = None
    ) -> None:
        self.names = tuple(names)
        if values is None:
            values = torch.zeros(len(self.names), dtype=torch.float64, device=device)
        self.values = values

    def add(self, sums: Mapping[str, torch.Tensor | float]) -> None:
        """Add one micro-batch's sums (every name, nothing else); they stay on their device."""
        device = self.values.device
        row = torch.stack([torch.as_tensor(sums[n], dtype=torch.float64, device=device) for n in self.names])
        self.values = self.values + row.detach()

    def __add__(self, other: Stats) -> Stats:
        return Stats(self.names, self.values + other.values)

    def __getitem__(self, name: str) -> float:
        return float(self.values[self.names.index(name)])

    def ratio(self, numerator: str, denominator: str, eps: float = 0.0) -> float:
        """``self[numerator] / self[denominator]`` (0 when the denominator is 0)."""
        below = self[denominator] + eps
        return self[numerator] / below if below else 0.0

    def reduced(self, ctx: DistContext) -> Stats:
        """The sums over every process (a copy, on the CPU)."""
        values = self.values.clone()
        all_reduce_sum(values, ctx)
        return Stats(self.names, values.cpu())

    def state_dict(self) -> dict[str, Any]:
        """Plain containers only (checkpoints are read with ``weights_only=True``)."""
        return {"names": list(self.names), "values": self.values.clone()}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Stats:
        return cls(state["names"], state["values"].to(torch.float64))


class Objective(Protocol):
    """What a stage trains for: the loss of one micro-batch and the sums its metrics need."""

    names: tuple[str, ...]
    """The sums :meth:`__call__` returns, in :class:`Stats` order."""

    def __call__(
        self, forward: Forward, batch: Batch, denominators: Mapping[str, float], world_size: int
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(loss scaled so the sum over micro-batches and processes is the global loss, sums)."""
        ...

    def loss(self, stats: Stats) -> float:
        """The step's loss from its summed stats (what is logged and what the guard checks)."""
        ...


@dataclass(frozen=True)
class StepResult:
    """What one optimizer step did."""

    stats: Stats
    """The step's sums over every micro-batch and process."""
    loss: float
    """The global batch's loss (:meth:`Objective.loss` of ``stats``)."""
    grad_norm: float
    """Global gradient norm before clipping."""
    lr: float
    """The learning rate the step used."""
    applied: bool
    """False when the guard skipped the update (non-finite loss or gradient)."""


class _Autocast:
    """The model under the run's autocast (bf16 or none): what objectives call."""

    def __init__(self, model: nn.Module, device: torch.device, precision: str) -> None:
        self.inner, self.device, self.precision = model, device, precision

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with autocast(self.device, self.precision):
            return self.inner(*args, **kwargs)


class Trainer:
    """One optimizer step, the same rules for every stage (see the module docstring).

    ``model`` is the plain module (saved, evaluated); ``train_model`` what the step runs (the DDP
    wrapper and/or ``torch.compile`` of it; default ``model``).
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        objective: Objective,
        *,
        ctx: DistContext,
        device: torch.device,
        precision: str,
        clip_norm: float,
        max_nonfinite: int,
        train_model: nn.Module | None = None,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.objective = objective
        self.ctx = ctx
        self.device = device
        self.precision = precision
        self.clip_norm = clip_norm
        self.guard = NonFiniteGuard(max_nonfinite)
        self.train_model = train_model if train_model is not None else model

    def stats(self) -> Stats:
        """Empty sums of this objective (on the training device)."""
        return Stats(self.objective.names, device=self.device)

    def train_step(
        self, micro_batches: Sequence[Batch], *, step: int, denominators: Mapping[str, float]
    ) -> StepResult:
        """Forward/backward every micro-batch, then one guarded, clipped update."""
        self.model.train()
        forward = _Autocast(self.train_model, self.device, self.precision)
        stats = self.stats()
        last = len(micro_batches) - 1
        for m, micro in enumerate(micro_batches):
            micro = {k: v.to(self.device, non_blocking=True) for k, v in micro.items()}
            with no_sync(self.train_model, enabled=self.ctx.is_distributed and m < last):
                loss, sums = self.objective(forward, micro, denominators, self.ctx.world_size)
                loss.backward()
            stats.add(sums)
        stats = stats.reduced(self.ctx)
        step_loss = self.objective.loss(stats)
        grad_norm = clip_gradients(self.model.parameters(), self.clip_norm or None)
        lr = self.scheduler.get_last_lr()[0]
        applied = self.guard.check(step, step_loss, grad_norm)
        if applied:
            self.optimizer.step()
            self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return StepResult(stats=stats, loss=step_loss, grad_norm=grad_norm, lr=lr, applied=applied)

    def evaluate(self, batches: Iterable[Batch]) -> Stats:
        """:func:`evaluate` of the plain model with this trainer's objective; train mode restored."""
        try:
            return evaluate(
                self.model,
                self.objective,
                batches,
                ctx=self.ctx,
                device=self.device,
                precision=self.precision,
            )
        finally:
            self.model.train()

    def state_dict(self) -> dict[str, Any]:
        """Optimizer, schedule and guard: with the weights, loader and RNG, an exact resume."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "guard": self.guard.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.guard.load_state_dict(state.get("guard", {}))


@torch.no_grad()
def evaluate(
    model: nn.Module,
    objective: Objective,
    batches: Iterable[Batch],
    *,
    ctx: DistContext,
    device: torch.device,
    precision: str,
) -> Stats:
    """The objective's sums over ``batches`` (this process's share), summed over processes, in
    eval mode (no dropout): what held-out evaluation reports, during training or after it."""
    model.eval()
    forward = _Autocast(model, device, precision)
    stats = Stats(objective.names, device=device)
    for batch in batches:
        batch = {k: v.to(device) for k, v in batch.items()}
        # Sums only: the denominators (1) and world size (1) leave them as they are.
        _, sums = objective(forward, batch, _UNIT, 1)
        stats.add(sums)
    return stats.reduced(ctx)


class _Unit(dict):
    """Every denominator 1 (evaluation sums only)."""

    def __missing__(self, key: str) -> float:
        return 1.0


_UNIT = _Unit()


# -- the objectives ----------------------------------------------------------------------------


class PretrainingObjective:
    """MLM + SOP (TF ALBERT's loss): Σ w·CE over the global batch's masked positions / their
    number, plus Σ CE over its sequences / their number. Denominators: ``masked``, ``sequences``."""

    names = ("mlm_loss_sum", "mlm_correct", "mlm_count", "sop_loss_sum", "sop_correct", "sop_count", "tokens")

    def __call__(
        self, forward: Forward, batch: Batch, denominators: Mapping[str, float], world_size: int
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        from albertctl.model.albert import MLM_WEIGHT_EPS, pretraining_sums

        out = forward(
            batch["input_ids"], batch["token_type_ids"], batch["input_mask"], batch["masked_lm_positions"]
        )
        sums = pretraining_sums(
            out, batch["masked_lm_ids"], batch["masked_lm_weights"], batch["sentence_order_label"]
        )
        # DDP averages gradients over processes, so each one's share is scaled up by world_size.
        loss = (
            sums.mlm_loss_sum / (denominators["masked"] + MLM_WEIGHT_EPS)
            + sums.sop_loss_sum / denominators["sequences"]
        ) * world_size
        return loss, {
            "mlm_loss_sum": sums.mlm_loss_sum,
            "mlm_correct": sums.mlm_correct,
            "mlm_count": sums.mlm_count,
            "sop_loss_sum": sums.sop_loss_sum,
            "sop_correct": sums.sop_correct,
            "sop_count": sums.sop_count,
            "tokens": batch["input_mask"].sum(),
        }

    def loss(self, stats: Stats) -> float:
        return self.mlm_loss(stats) + self.sop_loss(stats)

    @staticmethod
    def mlm_loss(stats: Stats) -> float:
        return stats.ratio("mlm_loss_sum", "mlm_count", eps=1e-5)

    @staticmethod
    def sop_loss(stats: Stats) -> float:
        return stats.ratio("sop_loss_sum", "sop_count")


class ClassificationObjective:
    """Sequence classification (cross entropy) or regression (squared error, STS-B): the mean
    over the global batch's sequences. Denominator: ``sequences``."""

    names = ("loss_sum", "count")

    def __call__(
        self, forward: Forward, batch: Batch, denominators: Mapping[str, float], world_size: int
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        from albertctl.model.albert import sequence_classification_loss

        logits = forward(batch["input_ids"], batch["token_type_ids"], batch["input_mask"])
        total = sequence_classification_loss(logits, batch["labels"], reduction="sum")
        loss = total / denominators["sequences"] * world_size
        count = torch.tensor(float(batch["labels"].shape[0]), device=total.device)
        return loss, {"loss_sum": total.detach(), "count": count}

    def loss(self, stats: Stats) -> float:
        return stats.ratio("loss_sum", "count")


class SpanObjective:
    """Span extraction (SQuAD): (CE(start) + CE(end)) / 2 per window, as transformers'
    ``AlbertForQuestionAnswering``; the mean over the global batch's windows. Padded positions
    take no softmax mass (:func:`~albertctl.model.albert.span_loss`). Denominator: ``sequences``."""

    names = ("loss_sum", "count")

    def __call__(
        self, forward: Forward, batch: Batch, denominators: Mapping[str, float], world_size: int
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        from albertctl.model.albert import span_loss

        logits = forward(batch["input_ids"], batch["token_type_ids"], batch["input_mask"])
        total = span_loss(
            logits,
            batch["start_positions"],
            batch["end_positions"],
            input_mask=batch["input_mask"],
            reduction="sum",
        )
        loss = total / denominators["sequences"] * world_size
        count = torch.tensor(float(batch["input_ids"].shape[0]), device=total.device)
        return loss, {"loss_sum": total.detach(), "count": count}

    def loss(self, stats: Stats) -> float:
        return stats.ratio("loss_sum", "count")


class MultipleChoiceObjective:
    """Multiple choice (RACE): cross entropy over each question's options (absent options masked
    by ``choice_mask``), the mean over the global batch's questions. Denominator: ``sequences``."""

    names = ("loss_sum", "count")

    def __call__(
        self, forward: Forward, batch: Batch, denominators: Mapping[str, float], world_size: int
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        from albertctl.model.albert import multiple_choice_loss

        logits = forward(batch["input_ids"], batch["token_type_ids"], batch["input_mask"])  # (B, C)
        total = multiple_choice_loss(
            logits, batch["labels"], choice_mask=batch.get("choice_mask"), reduction="sum"
        )
        loss = total / denominators["sequences"] * world_size
        count = torch.tensor(float(batch["labels"].shape[0]), device=total.device)
        return loss, {"loss_sum": total.detach(), "count": count}

    def loss(self, stats: Stats) -> float:
        return stats.ratio("loss_sum", "count")
