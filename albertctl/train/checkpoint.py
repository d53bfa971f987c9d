"""Trainer checkpoints: ``RUN_DIR/checkpoints/step-000500/``, written atomically, last K kept.

A checkpoint folder is a complete model folder (``model.safetensors`` + ``config.json`` from
``albertctl.model.checkpoint.write_model_files``, plus the vocabulary files), so ``finetune glue`` and
``export hf`` read it directly, and it also holds what a run needs to continue exactly:

- ``trainer_state.pt``: optimizer, scheduler, RNG states (one per rank), loader position, and
  any ``extra``: tensors and plain containers only (torch.save), read back with
  ``weights_only=True``, so a planted pickle is refused and never runs;
- ``trainer.json``: step, time, the run's resolved config (human-readable), written last.

The folder is filled as ``checkpoints/.step-000500.tmp-XXXX`` and renamed into place, so a
``step-*`` folder is always complete; a run killed mid-save leaves only a temp folder, which the
next save removes. Which ``step-*`` folders count as complete and which is newest is one rule,
:func:`albertctl.model.checkpoint.complete_checkpoints`, which ``resolve_checkpoint`` (finetune,
export, the pipeline's fine-tuning stages) follows too.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from albertctl.errors import AlbertctlError
from albertctl.fsutil import read_json, write_json

# The folder names and the complete/newest rule live there; re-exported here.
from albertctl.model.checkpoint import (
    CHECKPOINTS,
    TRAINER_JSON,
    TRAINER_STATE,
    complete_checkpoints,
    newest_checkpoint,
    write_model_files,
)


def checkpoint_name(step: int) -> str:
    """``step-000500``: zero-padded so lexical order is numeric order."""
    return f"step-{step:06d}"


def list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run as ``(step, path)``, oldest first
    (:func:`albertctl.model.checkpoint.complete_checkpoints`)."""
    return complete_checkpoints(run_dir)


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint folder of a run, or ``None``
    (:func:`albertctl.model.checkpoint.newest_checkpoint`)."""
    return newest_checkpoint(run_dir)


@dataclass(frozen=True, kw_only=True)
class TrainerState:
    """What ``save_trainer_checkpoint`` stores beside the model, as loaded back."""

    step: int
    """Optimizer updates applied so far."""
    optimizer: dict[str, Any]
    """``optimizer.state_dict()``."""
    scheduler: dict[str, Any]
    """``scheduler.state_dict()``."""
    rng: list[dict[str, Any]]
    """One ``runtime.capture_rng`` dict per DDP rank."""
    loader: dict[str, Any]
    """The training loader's ``state_dict()``."""
    extra: dict[str, Any]
    """Anything else the caller saved (e.g. the non-finite-step counter)."""


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain module under DDP (``.module``) and ``torch.compile`` (``._orig_mod``) wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):
            model = model._orig_mod
        else:
            return model


def save_trainer_checkpoint(
    run_dir: Path,
    *,
    step: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    rng: list[dict[str, Any]],
    loader: dict[str, Any],
    vocab_dir: Path | None = None,
    config: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    keep_last: int | None = None,
) -> Path:
    """Write ``RUN_DIR/checkpoints/step-NNNNNN/`` atomically; keep the newest ``keep_last``.

    ``vocab_dir``'s files (``spiece.model``, ``vocab_config.json``) are copied in so the folder is
    self-contained. An existing folder for the same step is replaced.
    """
    root = Path(run_dir) / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".step-*.tmp-*"):  # left by a run killed while saving
        shutil.rmtree(stale, ignore_errors=True)
    name = checkpoint_name(step)
    tmp = root / f".{name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        write_model_files(unwrap_model(model), tmp)
        if vocab_dir is not None:
            for item in sorted(Path(vocab_dir).iterdir()):
                if item.is_file() and not (tmp / item.name).exists():
                    shutil.copy2(item, tmp / item.name)
        state = {
            "step": step,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": rng,
            "loader": loader,
            "extra": extra or {},
        }
        torch.save(state, tmp / TRAINER_STATE)
        write_json(tmp / TRAINER_JSON, {"step": step, "time": time.time(), "config": config or {}})
        final = root / name
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if keep_last is not None:
        prune_checkpoints(run_dir, keep_last=keep_last)
    return final


def prune_checkpoints(run_dir: Path, *, keep_last: int) -> list[Path]:
    """Delete all but the newest ``keep_last`` complete checkpoints; return what was removed."""
    if keep_last < 1:
        raise AlbertctlError(f"keep_last must be >= 1, got {keep_last}")
    found = list_checkpoints(run_dir)
    removed = [path for _, path in found[:-keep_last]]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def load_trainer_state(checkpoint: Path) -> TrainerState:
    """Read ``trainer_state.pt`` of a checkpoint folder (the model weights are read separately)."""
    checkpoint = Path(checkpoint)
    path = checkpoint / TRAINER_STATE
    if not path.is_file():
        raise AlbertctlError(
            f"{checkpoint} has no {TRAINER_STATE}: it is a model folder, not a trainer checkpoint",
            hint="use --init to start from its weights instead of --resume",
        )
    # Tensors and plain containers only: weights_only refuses any other object without running it.
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, or a truncated/foreign file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AlbertctlError(
            f"{path} is not a trainer state albertctl wrote: it holds objects other than tensors "
            f"and plain containers, or is damaged ({first[:160]}); nothing in it was run",
            hint="resume only from checkpoints albertctl wrote; use --init to start from the weights",
        ) from exc
    return TrainerState(
        step=int(state["step"]),
        optimizer=state["optimizer"],
        scheduler=state["scheduler"],
        rng=list(state["rng"]),
        loader=dict(state["loader"]),
        extra=dict(state.get("extra", {})),
    )


def read_trainer_json(checkpoint: Path) -> dict[str, Any]:
    """The human-readable ``trainer.json`` of a checkpoint."""
    return read_json(Path(checkpoint) / TRAINER_JSON)
