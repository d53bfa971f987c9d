"""The shared fine-tuning loop: one run per seed, best and final kept, exact resume, torchrun.

A task kind prepares :class:`PreparedTask` values (data, head, objective, dev evaluator,
hyperparameters); :func:`run_finetune` does the rest and writes, atomically::

    OUT/config.json                      resolved settings, per task the hyperparameters used
    OUT/<task>/seed-<n>/best/            model folder + tokenizer + <kind>.json: best dev score
    OUT/<task>/seed-<n>/final/           the same after the last step
    OUT/<task>/seed-<n>/metrics.jsonl    train loss and every dev evaluation
    OUT/results.json                     per seed best/final metrics, mean ± std over seeds
    OUT/manifest.json                    written last

Training follows the reference fine-tuning recipe (docs/reference.md §7): AdamW as ALBERT's
(train/optim.py), linear warm-up then linear decay, gradient clipping at 1.0, dev evaluation
every N steps with the best checkpoint kept ("best", what the reference reports) beside the last
one ("final"). Each step is one :class:`~albertctl.train.trainer.Trainer` step, the pretraining
rules (clipping, non-finite guard, DDP share of the batch).
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from albertctl.errors import AlbertctlError
from albertctl.fsutil import atomic_dir, check_output_dir, write_json
from albertctl.glue.config import SMALL_HIDDEN, FinetuneConfig
from albertctl.glue.tasks import Preset

if TYPE_CHECKING:
    import torch
    from torch import nn

    from albertctl.model import AlbertConfig
    from albertctl.train.distributed import DistContext
    from albertctl.train.trainer import Objective
    from albertctl.vocab import Tokenizer

Log = Callable[[str], None]
RESULTS = "results.json"


@dataclass(frozen=True, kw_only=True)
class TaskHParams:
    """The hyperparameters one task actually runs with."""

    preset: str
    lr: float
    batch_size: int
    max_steps: int
    warmup_steps: int
    dropout: float
    eval_every: int


def resolve_hparams(
    preset: Preset, name: str, config: FinetuneConfig, *, hidden_size: int, num_train: int
) -> TaskHParams:
    """Preset + overrides -> concrete hyperparameters (pure).

    ``reference``: lr, batch, dropout, steps and warm-up of paper Table 14. ``small``: the
    reference's batch and dropout, lr 1e-4 (small models want larger steps), 3 epochs, 10%
    warm-up. Flags override either. ``num_train``: training rows (features) per epoch.
    """
    kind = config.preset
    if kind == "auto":
        kind = "reference" if hidden_size >= SMALL_HIDDEN else "small"
    batch_size = config.batch_size or preset.batch_size
    steps_per_epoch = max(1, math.ceil(num_train / batch_size))
    if config.max_steps is not None:
        max_steps = config.max_steps
    elif config.epochs is not None:
        max_steps = max(1, round(config.epochs * steps_per_epoch))
    elif kind == "reference":
        max_steps = preset.max_steps
    else:
        max_steps = 3 * steps_per_epoch
    if config.warmup_steps is not None:
        warmup = config.warmup_steps
    elif kind == "reference" and config.max_steps is None and config.epochs is None:
        warmup = preset.warmup_steps
    else:
        warmup = round(0.1 * max_steps)
    if warmup > max_steps:
        raise AlbertctlError(
            f"warmup_steps ({warmup}) exceeds the {max_steps} training steps of {name}",
            hint="lower --warmup-steps or raise --max-steps",
        )
    lr = config.lr if config.lr is not None else (preset.lr if kind == "reference" else 1e-4)
    dropout = config.dropout if config.dropout is not None else preset.dropout
    eval_every = config.eval_every or max(1, max_steps // 10)
    return TaskHParams(
        preset=kind,
        lr=lr,
        batch_size=batch_size,
        max_steps=max_steps,
        warmup_steps=warmup,
        dropout=dropout,
        eval_every=min(eval_every, max_steps),
    )


class TrainData(Protocol):
    """Training rows of one task: unpadded, collated per batch."""

    def __len__(self) -> int: ...

    @property
    def lengths(self) -> np.ndarray:
        """(N,) tokens per row (length-grouped batching)."""
        ...

    def collate(self, rows: np.ndarray, *, pad_id: int) -> dict[str, torch.Tensor]:
        """One batch, padded to its longest row, in the keys the task's objective reads."""
        ...


@dataclass(frozen=True)
class EvalSettings:
    """How dev evaluation runs."""

    batch_size: int
    pad_id: int
    device: torch.device
    precision: str


Evaluator = Callable[["nn.Module", EvalSettings], dict[str, float]]
"""(model, settings) -> dev metrics; the model is left in eval mode."""


@dataclass(frozen=True)
class PreparedTask:
    """What a task kind hands the loop: everything but the model weights."""

    name: str
    """The task's name (``cola``, ``squad``, ``race``): its folder under OUT."""
    head: str
    """The model head to fine-tune (:data:`albertctl.model.checkpoint.HEADS`)."""
    num_labels: int | None
    """Classifier outputs (classification head), else None."""
    selection_metric: str
    """The dev metric that picks the best checkpoint."""
    train: TrainData
    evaluate: Evaluator
    objective: Objective
    hp: TaskHParams
    meta_file: str
    """Written beside each saved model (``glue.json``, ``squad.json``): what eval/predict need."""
    meta: dict[str, Any]
    data_fingerprint: str
    """sha256 of the encoded data: a resumed run must see the same rows."""
    dev_examples: dict[str, int]
    """Examples per dev split (reported in results.json)."""


@dataclass(frozen=True)
class Evaluation:
    """Dev metrics at one step."""

    step: int
    metrics: dict[str, float]


@dataclass
class SeedResult:
    """One seed's run: the best-on-dev evaluation and the final one."""

    seed: int
    best: Evaluation
    final: Evaluation
    history: list[Evaluation] = field(default_factory=list)
    train_seconds: float = 0.0
    train_examples_per_s: float = 0.0


def iter_train_steps(
    lengths: np.ndarray, batch_size: int, *, seed: int, max_steps: int
) -> Iterator[np.ndarray]:
    """Row-index batches for ``max_steps`` steps, epoch after epoch (epoch e shuffled by rng (seed, e))."""
    from albertctl.glue.batching import train_batches

    produced, epoch = 0, 0
    while True:
        for rows in train_batches(lengths, batch_size, np.random.default_rng((seed, epoch))):
            yield rows
            produced += 1
            if produced == max_steps:
                return
        epoch += 1


SEED_STATE = "state.pt"
"""The in-progress seed's resume point, written at every dev evaluation (tensors + plain data)."""
SEED_DONE = "seed.json"
"""A finished seed's result (its best and final folders are complete beside it)."""


def _save_seed_state(path: Path, state: dict[str, Any]) -> None:
    """Write a resume point atomically (a kill mid-write leaves the previous one)."""
    import torch

    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def _load_seed_state(path: Path) -> dict[str, Any]:
    """A resume point written by :func:`_save_seed_state`: tensors and plain containers only."""
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as exc:
        raise AlbertctlError(
            f"{path} is not a fine-tuning state albertctl wrote ({str(exc).splitlines()[0]}); nothing in "
            "it was run",
            hint="delete it: that seed then restarts from its first step",
        ) from None


def _evaluation_record(evaluation: Evaluation) -> dict[str, Any]:
    return {"step": evaluation.step, "metrics": dict(evaluation.metrics)}


def _evaluation_from(record: dict[str, Any]) -> Evaluation:
    return Evaluation(int(record["step"]), {k: float(v) for k, v in record["metrics"].items()})


def train_one_seed(
    model: nn.Module,
    task: PreparedTask,
    *,
    seed: int,
    pad_id: int,
    device: torch.device,
    precision: str = "fp32",
    config: FinetuneConfig = FinetuneConfig(),
    metrics_dir: Path | None = None,
    log: Log | None = None,
    ctx: DistContext | None = None,
    state_file: Path | None = None,
) -> tuple[SeedResult, dict[str, torch.Tensor]]:
    """Fine-tune ``model`` in place; returns the result and the best checkpoint's state dict (CPU).

    Each step is one :class:`~albertctl.train.trainer.Trainer` step (the pretraining rules:
    clipping, non-finite guard; under torchrun every process takes its share of the batch).
    Batch order comes from ``numpy.random.default_rng((seed, epoch))``; dropout draws from the
    torch RNG, seeded with ``seed`` inside a forked RNG scope so the caller's state is untouched.
    With ``state_file`` the run saves a resume point at every dev evaluation and, when the file
    exists, continues from it exactly (weights, best weights, optimizer, schedule, RNG, position).
    """
    import torch

    from albertctl.train.distributed import DistContext, all_gather_objects, wrap_model
    from albertctl.train.metrics import MetricsWriter
    from albertctl.train.optim import build_optimizer
    from albertctl.train.runtime import capture_rng, restore_rng
    from albertctl.train.schedule import build_scheduler
    from albertctl.train.trainer import Trainer

    hp = task.hp
    ctx = ctx or DistContext()
    if hp.batch_size < ctx.world_size:
        raise AlbertctlError(
            f"batch size {hp.batch_size} is smaller than the {ctx.world_size} processes",
            hint="raise --batch-size or start fewer processes",
        )
    model.to(device)
    optimizer = build_optimizer(model, "adamw", lr=hp.lr, weight_decay=config.weight_decay)
    scheduler = build_scheduler(optimizer, warmup_steps=hp.warmup_steps, total_steps=hp.max_steps)
    trainer = Trainer(
        model,
        optimizer,
        scheduler,
        task.objective,
        ctx=ctx,
        device=device,
        precision=precision,
        clip_norm=config.clip_norm,
        max_nonfinite=config.max_nonfinite,
        train_model=wrap_model(model, ctx, device),
    )
    settings = EvalSettings(config.eval_batch_size, pad_id, device, precision)
    resumed = _load_seed_state(state_file) if state_file is not None and state_file.is_file() else None
    done_steps = int(resumed["step"]) if resumed else 0
    writer = (
        MetricsWriter(metrics_dir, enabled=ctx.is_main, tensorboard=False, resume_step=done_steps or None)
        if metrics_dir is not None
        else None
    )
    history: list[Evaluation] = []
    best_state: dict[str, torch.Tensor] = {}
    losses: list[float] = []
    train_seconds, seen = 0.0, 0
    selection = task.selection_metric
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed if ctx.rank == 0 else seed * 1000 + ctx.rank)
        if resumed:
            model.load_state_dict(resumed["model"])
            trainer.load_state_dict(resumed["trainer"])
            restore_rng(resumed["rng"][ctx.rank], device)
            history = [_evaluation_from(r) for r in resumed["history"]]
            best_state = resumed["best"]
            train_seconds, seen = float(resumed["train_seconds"]), int(resumed["seen"])
        steps = iter_train_steps(task.train.lengths, hp.batch_size, seed=seed, max_steps=hp.max_steps)
        for step, rows in enumerate(steps, start=1):
            if step <= done_steps:
                continue  # the resumed position: the order is a function of (seed, step)
            started = time.perf_counter()
            batch = task.train.collate(rows[ctx.rank :: ctx.world_size], pad_id=pad_id)
            result = trainer.train_step([batch], step=step - 1, denominators={"sequences": len(rows)})
            train_seconds += time.perf_counter() - started
            seen += len(rows)
            losses.append(result.loss)
            if step % hp.eval_every and step != hp.max_steps:
                continue
            evaluation = Evaluation(step, task.evaluate(model, settings))
            model.train()
            mean_loss = float(np.mean(losses))
            losses.clear()
            if writer is not None:
                writer.write(step, "train", {"loss": mean_loss, "lr": scheduler.get_last_lr()[0]})
                writer.write(step, "dev", evaluation.metrics)
            if log is not None and ctx.is_main:
                shown = " ".join(f"{k} {v:.4f}" for k, v in evaluation.metrics.items())
                log(f"{task.name} seed {seed} step {step}/{hp.max_steps}: loss {mean_loss:.4f} {shown}")
            if not history or evaluation.metrics[selection] > max(e.metrics[selection] for e in history):
                best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            history.append(evaluation)
            if state_file is not None and step != hp.max_steps:
                rng = all_gather_objects(capture_rng(device), ctx)
                if ctx.is_main:
                    _save_seed_state(
                        state_file,
                        {
                            "step": step,
                            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                            "best": best_state,
                            "trainer": trainer.state_dict(),
                            "rng": rng,
                            "history": [_evaluation_record(e) for e in history],
                            "train_seconds": train_seconds,
                            "seen": seen,
                        },
                    )
    if writer is not None:
        writer.close()
    best = max(history, key=lambda e: e.metrics[selection])  # the first of equal scores
    result = SeedResult(
        seed=seed,
        best=best,
        final=history[-1],
        history=history,
        train_seconds=train_seconds,
        train_examples_per_s=seen / train_seconds if train_seconds > 0 else 0.0,
    )
    return result, best_state


def load_for_task(model_path: Path, task: PreparedTask, config: FinetuneConfig, seed: int) -> nn.Module:
    """The model to fine-tune: pretrained weights (new head from ``seed``) or all fresh weights."""
    import torch

    from albertctl.model import AlbertConfig
    from albertctl.model.checkpoint import build_model, load_model, read_checkpoint

    overrides = {
        "hidden_dropout_prob": task.hp.dropout,
        "attention_probs_dropout_prob": task.hp.dropout,
        "classifier_dropout_prob": config.classifier_dropout,
    }
    generator = torch.Generator().manual_seed(seed)
    if config.random_init:
        base, _, _, _ = read_checkpoint(model_path)
        fresh = AlbertConfig.from_dict({**base.to_dict(), **overrides})
        return build_model(fresh, task.head, task.num_labels, generator=generator)
    model, _ = load_model(
        model_path,
        head=task.head,  # type: ignore[arg-type]
        num_labels=task.num_labels,
        overrides=overrides,
        generator=generator,
    )
    return model


def _summary(seeds: list[SeedResult], which: str) -> dict[str, dict[str, float]]:
    """Mean and sample standard deviation (n-1; 0 for one seed) of each metric over seeds."""
    names = list(getattr(seeds[0], which).metrics)
    out = {}
    for name in names:
        values = np.array([getattr(s, which).metrics[name] for s in seeds], dtype=np.float64)
        out[name] = {
            "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
        }
    return out


def _eval_entry(evaluation: Evaluation, checkpoint: str) -> dict[str, Any]:
    return {"step": evaluation.step, "metrics": evaluation.metrics, "checkpoint": checkpoint}


@dataclass
class FinetuneReport:
    """What a fine-tuning run did; ``results`` is exactly ``OUT/results.json``."""

    out: Path
    results: dict[str, Any]


def _seed_record(result: SeedResult) -> dict[str, Any]:
    """A finished seed as ``seed.json`` (what a rerun needs to skip it)."""
    return {
        "seed": result.seed,
        "best": _evaluation_record(result.best),
        "final": _evaluation_record(result.final),
        "history": [_evaluation_record(e) for e in result.history],
        "train_seconds": result.train_seconds,
        "train_examples_per_s": result.train_examples_per_s,
    }


def _seed_from(record: dict[str, Any]) -> SeedResult:
    return SeedResult(
        seed=int(record["seed"]),
        best=_evaluation_from(record["best"]),
        final=_evaluation_from(record["final"]),
        history=[_evaluation_from(r) for r in record["history"]],
        train_seconds=float(record["train_seconds"]),
        train_examples_per_s=float(record["train_examples_per_s"]),
    )


def _run_seed(
    task: PreparedTask,
    seed: int,
    *,
    checkpoint: Path,
    tokenizer: Tokenizer,
    config: FinetuneConfig,
    seed_dir: Path,
    device: torch.device,
    precision: str,
    log: Log | None,
    ctx: DistContext,
) -> SeedResult:
    """Fine-tune one seed and save its ``best`` and ``final`` checkpoint folders under ``seed_dir``;
    a seed finished by an earlier (killed) run is read back, one in progress resumes."""
    from albertctl.fsutil import read_json
    from albertctl.model import save_model
    from albertctl.train.distributed import barrier

    if (seed_dir / SEED_DONE).is_file():
        return _seed_from(read_json(seed_dir / SEED_DONE))
    model = load_for_task(checkpoint, task, config, seed)
    if ctx.is_main:
        seed_dir.mkdir(parents=True, exist_ok=True)
    barrier(ctx)
    result, best_state = train_one_seed(
        model,
        task,
        seed=seed,
        pad_id=tokenizer.pad_id,
        device=device,
        precision=precision,
        config=config,
        metrics_dir=seed_dir,
        log=log,
        ctx=ctx,
        state_file=seed_dir / SEED_STATE,
    )
    if ctx.is_main:
        meta = {**task.meta, "seed": seed}
        for which, evaluation in (("final", result.final), ("best", result.best)):
            if which == "best":
                model.load_state_dict(best_state)
            save_model(model.to("cpu"), seed_dir / which, tokenizer=tokenizer, overwrite=True)
            record = {**meta, "checkpoint": which, "step": evaluation.step}
            write_json(seed_dir / which / task.meta_file, record)
        write_json(seed_dir / SEED_DONE, _seed_record(result))
        (seed_dir / SEED_STATE).unlink(missing_ok=True)
    barrier(ctx)
    return result


def _work_dir(out: Path, fingerprint: str) -> Path:
    """``.OUT.partial`` beside OUT: finished seeds and the running seed's resume point. Reused
    when it was made for the same run (settings, model weights, tokenizer, encoded data), else
    emptied."""
    from albertctl.fsutil import read_json

    work = out.with_name(f".{out.name}.partial")
    record = work / "build.json"
    if work.is_dir():
        same = record.is_file() and read_json(record).get("fingerprint") == fingerprint
        if not same:
            shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    write_json(record, {"fingerprint": fingerprint})
    return work


def _run_fingerprint(
    config: Any, checkpoint: Path, tokenizer: Tokenizer, prepared: list[PreparedTask]
) -> str:
    from albertctl.fsutil import sha256_file, sha256_json

    weights = sorted(p for p in checkpoint.iterdir() if p.suffix in (".safetensors", ".bin"))
    return sha256_json(
        {
            "config": asdict(config),
            "model": [sha256_file(p) for p in weights],
            "vocab": tokenizer.fingerprint(),
            "data": {t.name: [asdict(t.hp), t.data_fingerprint] for t in prepared},
        }
    )


def resolve_model(
    model_path: Path, vocab: Path | None, *, allow_vocab_mismatch: bool
) -> tuple[Path, Tokenizer, AlbertConfig]:
    """(checkpoint folder, tokenizer, model config): the model's own tokenizer unless ``vocab``
    is given, and then it must be the same vocabulary (or ``allow_vocab_mismatch``)."""
    from albertctl.model import resolve_checkpoint
    from albertctl.model.checkpoint import read_checkpoint
    from albertctl.vocab import check_same_vocabulary, has_vocabulary, load_tokenizer

    checkpoint = resolve_checkpoint(Path(model_path))
    if vocab is None and not has_vocabulary(checkpoint):
        raise AlbertctlError(
            f"{checkpoint} holds no tokenizer (spiece.model or vocab.txt)",
            hint="pass --vocab DIR: the vocabulary the model was pretrained with",
        )
    tokenizer: Tokenizer = load_tokenizer(vocab if vocab is not None else checkpoint)
    if vocab is not None and has_vocabulary(checkpoint):
        check_same_vocabulary(
            (tokenizer.fingerprint(), f"--vocab {vocab}"),
            (load_tokenizer(checkpoint).fingerprint(), f"the model's own, in {checkpoint}"),
            allow=allow_vocab_mismatch,
            hint="drop --vocab: the model folder has the tokenizer it was trained with",
        )
    model_config, _, _, _ = read_checkpoint(checkpoint)
    if model_config.vocab_size != tokenizer.vocab_size:
        raise AlbertctlError(
            f"the model {checkpoint} has vocab_size {model_config.vocab_size} but its tokenizer has "
            f"{tokenizer.vocab_size} pieces",
            hint="use the vocabulary the model was pretrained with (--vocab)",
        )
    return checkpoint, tokenizer, model_config


Prepare = Callable[["Tokenizer", "AlbertConfig"], list[PreparedTask]]
"""(tokenizer, model config) -> the run's tasks, read and encoded (a data error stops the run
before any training)."""


def run_finetune(
    config: Any,
    prepare: Prepare,
    *,
    kind: str,
    model_path: Path,
    out: Path,
    vocab: Path | None = None,
    allow_vocab_mismatch: bool = False,
    overwrite: bool = False,
    log: Log | None = None,
    summarize: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> FinetuneReport:
    """Fine-tune ``model_path`` on each prepared task for each seed; write OUT (module docstring).

    ``config`` is a :class:`~albertctl.glue.config.FinetuneConfig` (or a kind's subclass);
    ``kind`` names the run in ``manifest.json`` (``glue``, ``squad``, ``race``); ``summarize``
    adds top-level entries to ``results.json`` (GLUE's average). Killed, the same command
    continues: finished seeds are kept and the running one resumes from its last dev
    evaluation, to the same results as an uninterrupted run. Under torchrun every process
    trains its share of each batch and rank 0 writes.
    """
    import contextlib

    from albertctl.fsutil import output_lock
    from albertctl.train.distributed import (
        barrier,
        context_from_env,
        destroy_process_group,
        device_for_rank,
        init_process_group,
    )
    from albertctl.train.runtime import resolve_device

    ctx = context_from_env(os.environ)
    device = device_for_rank(resolve_device(config.device), ctx)
    init_process_group(ctx, device)
    try:
        with output_lock(Path(out)) if ctx.is_main else contextlib.nullcontext():
            return _run_finetune(
                config,
                prepare,
                kind=kind,
                model_path=model_path,
                out=Path(out),
                vocab=vocab,
                allow_vocab_mismatch=allow_vocab_mismatch,
                overwrite=overwrite,
                log=log,
                summarize=summarize,
                ctx=ctx,
                device=device,
            )
    finally:
        barrier(ctx)
        destroy_process_group(ctx)


def _run_finetune(
    config: Any,
    prepare: Prepare,
    *,
    kind: str,
    model_path: Path,
    out: Path,
    vocab: Path | None,
    allow_vocab_mismatch: bool,
    overwrite: bool,
    log: Log | None,
    summarize: Callable[[dict[str, Any]], dict[str, Any]] | None,
    ctx: DistContext,
    device: torch.device,
) -> FinetuneReport:
    import torch

    from albertctl.train.distributed import barrier
    from albertctl.train.runtime import resolve_precision

    if ctx.is_main:
        check_output_dir(out, overwrite=overwrite)
    precision = resolve_precision(config.precision, device)
    checkpoint, tokenizer, model_config = resolve_model(
        model_path, vocab, allow_vocab_mismatch=allow_vocab_mismatch
    )
    prepared = prepare(tokenizer, model_config)
    results: dict[str, Any] = {
        "model": str(checkpoint),
        "random_init": config.random_init,
        "device": str(device),
        "precision": precision,
        "tasks": {},
    }
    fingerprint = _run_fingerprint(config, checkpoint, tokenizer, prepared)
    work = out.with_name(f".{out.name}.partial")
    if ctx.is_main:
        _work_dir(out, fingerprint)
    barrier(ctx)
    for task in prepared:
        seeds = [
            _run_seed(
                task,
                seed,
                checkpoint=checkpoint,
                tokenizer=tokenizer,
                config=config,
                seed_dir=work / task.name / f"seed-{seed}",
                device=device,
                precision=precision,
                log=log,
                ctx=ctx,
            )
            for seed in config.seeds
        ]
        results["tasks"][task.name] = task_results(task, seeds)
    if summarize is not None:
        results.update(summarize(results))
    if not ctx.is_main:
        return FinetuneReport(out=out, results=results)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        hparams = {task.name: asdict(task.hp) for task in prepared}
        write_json(
            tmp / "config.json", {"config": asdict(config), "model": str(checkpoint), "hparams": hparams}
        )
        for task in prepared:
            for seed in config.seeds:
                seed_dir = work / task.name / f"seed-{seed}"
                (seed_dir / SEED_DONE).unlink()
                (tmp / task.name).mkdir(exist_ok=True)
                os.replace(seed_dir, tmp / task.name / f"seed-{seed}")
        write_json(tmp / RESULTS, results)
        manifest = {
            "kind": f"{kind}-finetune",
            "tasks": [task.name for task in prepared],
            "seeds": list(config.seeds),
            "model": str(checkpoint),
            "vocab_fingerprint": tokenizer.fingerprint(),
            "torch": torch.__version__,
        }
        write_json(tmp / "manifest.json", manifest)
    shutil.rmtree(work, ignore_errors=True)
    return FinetuneReport(out=out, results=results)


def task_results(task: PreparedTask, seeds: list[SeedResult]) -> dict[str, Any]:
    """The ``results.json`` entry of one task."""
    prefix = f"{task.name}/seed-"
    return {
        "metrics": list(seeds[0].final.metrics),
        "selection_metric": task.selection_metric,
        "hparams": asdict(task.hp),
        "train_examples": len(task.train),
        "dev_examples": dict(task.dev_examples),
        "seeds": [
            {
                "seed": s.seed,
                "best": _eval_entry(s.best, f"{prefix}{s.seed}/best"),
                "final": _eval_entry(s.final, f"{prefix}{s.seed}/final"),
                "train_examples_per_s": s.train_examples_per_s,
            }
            for s in seeds
        ],
        "best": _summary(seeds, "best"),
        "final": _summary(seeds, "final"),
    }
