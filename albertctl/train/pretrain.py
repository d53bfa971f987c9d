"""MLM + SOP pretraining: the library behind ``albertctl pretrain``.

``pretrain(config)`` reads pretraining shards (``albertctl.data.loader``), trains an
``AlbertForPreTraining`` with the reference recipe (docs/reference.md §6: LAMB, linear warm-up then
linear decay, global-norm clipping at 1.0) and writes the run directory::

    RUN_DIR/pretrain_config.json            the resolved config (flags over TOML over recipe)
    RUN_DIR/metrics.jsonl                   one record per log interval / evaluation
    RUN_DIR/tensorboard/                    event files, when tensorboard is installed
    RUN_DIR/checkpoints/step-000500/        model folder + trainer state (albertctl.train.checkpoint)

The loss of a step is normalised over the whole *global* batch: MLM = Σ w·CE / (Σ w + 1e-5) and
SOP = mean CE, with the sums taken over every micro-batch of every rank. So one process, one
process with gradient accumulation and N DDP processes compute the same loss and gradients at
the same global batch (the reference normalises per TPU core instead; with one core the two
agree). A run resumes exactly: weights, optimizer, schedule, RNG and loader position are saved.
"""

from __future__ import annotations

import contextlib
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from albertctl.errors import AlbertctlError
from albertctl.fsutil import output_lock

# The settings live in pretrain_config (torch-free, read by the CLI); re-exported here.
from albertctl.train.pretrain_config import (
    _BUDGET_SKIP,
    BUDGET_CALIBRATION,
    FLAVOR_RECIPES,
    RECIPES,
    RELEASED_RECIPE,
    PretrainConfig,
    read_toml_config,
    recipe_defaults,
    resolve_pretrain_config,
    steps_within_budget,
)

if TYPE_CHECKING:  # torch-importing modules: the CLI reads PretrainConfig without them
    from albertctl.train.distributed import DistContext
    from albertctl.train.trainer import Stats

__all__ = [
    "BUDGET_CALIBRATION",
    "FLAVOR_RECIPES",
    "RECIPES",
    "RELEASED_RECIPE",
    "PretrainConfig",
    "PretrainReport",
    "TrainEvent",
    "pretrain",
    "read_toml_config",
    "recipe_defaults",
    "resolve_pretrain_config",
    "steps_within_budget",
]


@dataclass(frozen=True)
class TrainEvent:
    """What the loop reports to its caller (the CLI draws progress from these)."""

    kind: str
    """start, train, budget (--time-budget chose the end step), notice (a message: a resume
    that changes the schedule), eval, checkpoint, stop or end."""
    step: int
    """Optimizer steps done when the event happened."""
    values: dict[str, Any] = field(default_factory=dict)
    """Metrics of a train/eval event; details for the others."""


@dataclass(frozen=True)
class PretrainReport:
    """The outcome of :func:`pretrain`."""

    run_dir: Path
    """Where everything was written."""
    final_step: int
    """Steps done (== max_steps unless stopped)."""
    stopped_early: bool
    """True when a signal stopped the run (it can be resumed)."""
    last_checkpoint: Path | None
    """The newest checkpoint folder."""
    train: dict[str, Any]
    """The last train metrics."""
    eval: dict[str, Any]
    """The last evaluation metrics (empty without --eval-data)."""
    precision: str
    """The precision used (auto resolved)."""
    device: str
    """The device used."""


def pretrain(
    config: PretrainConfig,
    *,
    dist_ctx: DistContext | None = None,
    on_event: Callable[[TrainEvent], None] | None = None,
) -> PretrainReport:
    """Run (or resume) pretraining as ``config`` says; see the module docstring."""
    import torch

    from albertctl.train.distributed import (
        DistContext,
        destroy_process_group,
        device_for_rank,
        init_process_group,
    )
    from albertctl.train.runtime import num_threads, resolve_device, resolve_precision

    ctx = dist_ctx or DistContext()
    device = device_for_rank(resolve_device(config.device), ctx)
    precision = resolve_precision(config.precision, device)
    emit = on_event if (on_event is not None and ctx.is_main) else (lambda event: None)
    init_process_group(ctx, device)
    # One writer per run directory: rank 0 holds the lock for the whole run (ranks share the dir).
    lock = output_lock(Path(config.out)) if ctx.is_main else contextlib.nullcontext()
    try:
        with lock, num_threads(config.threads), torch.random.fork_rng(devices=[]):
            return _Trainer(config, ctx, device, precision, emit).run()
    finally:
        destroy_process_group(ctx)


def _prepare_run_dir(config: PretrainConfig, ctx: DistContext) -> Path | None:
    """Check ``out`` against --resume/--overwrite; move an overwritten run aside (rank 0)."""
    from albertctl.train.checkpoint import latest_checkpoint

    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise AlbertctlError(f"--out {out} exists and is not a directory", hint="choose another --out")
    exists = out.is_dir() and any(out.iterdir())
    if config.resume:
        if latest_checkpoint(out) is None:
            raise AlbertctlError(
                f"--resume: {out} has no complete checkpoint", hint="drop --resume to start a new run"
            )
        return None
    if exists and not config.overwrite:
        raise AlbertctlError(
            f"run directory {out} already exists and is not empty",
            hint="pass --resume to continue it, --overwrite to start afresh, or choose another --out",
        )
    aside = None
    if exists and ctx.is_main:
        aside = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
        out.rename(aside)
    return aside


class _Trainer:
    """One run: built from the config, then :meth:`run` loops until max_steps or a stop signal."""

    def __init__(
        self,
        config: PretrainConfig,
        ctx: DistContext,
        device: Any,
        precision: str,
        emit: Callable[[TrainEvent], None],
    ) -> None:
        self.config = config
        self.ctx = ctx
        self.device = device
        self.precision = precision
        self.emit = emit

    # ----------------------------------------------------------------------------------- setup

    def _check_model_vocabulary(self, source: Path) -> None:
        """The weights we start from must come from the data's vocabulary (unless allowed)."""
        from albertctl.model import resolve_checkpoint
        from albertctl.vocab import check_same_vocabulary, has_vocabulary, load_tokenizer

        checkpoint = resolve_checkpoint(source)
        if not has_vocabulary(checkpoint):
            return  # a bare weights folder: only vocab_size can be compared
        check_same_vocabulary(
            (load_tokenizer(checkpoint).fingerprint(), f"the model {checkpoint}"),
            (self.info.vocab_fingerprint, f"the data {self.info.data_dir / 'manifest.json'}"),
            allow=self.config.allow_vocab_mismatch,
            hint="pretrain on data built with the model's vocabulary (make-data --vocab MODEL_DIR)",
        )

    def _build(self) -> None:
        import torch

        from albertctl.data.loader import (
            PretrainingLoader,
            ShardSet,
            held_out_masking,
            merge_data_infos,
            read_data_info,
            resolve_masking,
        )
        from albertctl.model.albert import AlbertForPreTraining
        from albertctl.model.config import get_config
        from albertctl.train.distributed import barrier, wrap_model
        from albertctl.train.optim import build_optimizer
        from albertctl.train.schedule import build_scheduler
        from albertctl.train.trainer import PretrainingObjective, Trainer

        cfg, ctx = self.config, self.ctx
        verify = cfg.verify_data and ctx.is_main  # rank 0 hashes; the others read what it checked
        self.info = merge_data_infos([read_data_info(Path(d), verify=verify) for d in cfg.data])
        self.dynamic_masking = resolve_masking(cfg.masking, self.info)
        self.eval_shards = None
        self.eval_masking = None
        if cfg.eval_data:
            eval_info = merge_data_infos([read_data_info(Path(d), verify=verify) for d in cfg.eval_data])
            if eval_info.vocab_size != self.info.vocab_size:
                raise AlbertctlError(
                    f"--eval-data vocab_size {eval_info.vocab_size} != --data's {self.info.vocab_size}",
                    hint="build held-out data with the same vocabulary",
                )
            if eval_info.vocab_fingerprint != self.info.vocab_fingerprint:
                raise AlbertctlError(
                    f"--eval-data {eval_info.data_dir} was built with another vocabulary than --data "
                    f"{self.info.data_dir} (vocabulary fingerprints {eval_info.vocab_fingerprint[:12]} "
                    f"and {self.info.vocab_fingerprint[:12]}, from their manifests)",
                    hint="build the held-out data with the --vocab the training data used",
                )
            self.eval_shards = ShardSet(eval_info.shards, vocab_size=eval_info.vocab_size)
            self.eval_masking = held_out_masking(eval_info)
        self.aside = _prepare_run_dir(cfg, ctx)
        barrier(ctx)
        self.run_dir = Path(cfg.out)

        init_gen = torch.Generator().manual_seed(cfg.seed)
        self.resume_from: tuple[Path, dict[str, Any]] | None = None
        if cfg.resume:
            from albertctl.model.checkpoint import read_checkpoint
            from albertctl.train.checkpoint import latest_checkpoint

            path = latest_checkpoint(self.run_dir)
            assert path is not None  # _prepare_run_dir checked
            model_config, _, weights, _ = read_checkpoint(path)
            model = AlbertForPreTraining(model_config, generator=init_gen)
            self.resume_from = (path, weights)
        elif cfg.init is not None:
            from albertctl.model.checkpoint import load_checkpoint

            loaded = load_checkpoint(Path(cfg.init), head="pretraining", generator=init_gen)
            model, model_config = loaded.model, loaded.config
        else:
            model_config = get_config(cfg.model, vocab_size=self.info.vocab_size)
            model = AlbertForPreTraining(model_config, generator=init_gen)
        if cfg.resume or cfg.init is not None:
            self._check_model_vocabulary(self.resume_from[0] if self.resume_from else Path(cfg.init))
        if model_config.vocab_size != self.info.vocab_size:
            raise AlbertctlError(
                f"the model's vocab_size {model_config.vocab_size} != the data's {self.info.vocab_size}",
                hint="pretrain from data built with the model's vocabulary",
            )
        if self.info.max_seq_length > model_config.max_position_embeddings:
            raise AlbertctlError(
                f"the data's rows reach {self.info.max_seq_length} tokens but the model has "
                f"{model_config.max_position_embeddings} positions",
                hint="rebuild the data with a smaller --max-seq-length",
            )
        self.model_config = model_config
        self.model = model.to(self.device)
        self.model.train()
        # Dropout draws from the global RNG: seed it per rank (restored exactly on resume).
        torch.manual_seed(cfg.seed * 1000 + ctx.rank + 1)
        if self.device.type == "cuda":
            torch.cuda.manual_seed(cfg.seed * 1000 + ctx.rank + 1)

        self.optimizer = build_optimizer(self.model, cfg.optimizer, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scheduler = build_scheduler(
            self.optimizer, warmup_steps=cfg.warmup_steps, total_steps=cfg.max_steps
        )
        self.loader = PretrainingLoader(
            ShardSet(self.info.shards, vocab_size=self.info.vocab_size),
            global_batch_size=cfg.batch_size,
            grad_accum=cfg.grad_accum,
            rank=ctx.rank,
            world_size=ctx.world_size,
            seed=cfg.seed,
            dynamic_masking=self.dynamic_masking,
            sop_order=cfg.sop_order,
        )
        self.trainer = Trainer(
            self.model,
            self.optimizer,
            self.scheduler,
            PretrainingObjective(),
            ctx=ctx,
            device=self.device,
            precision=self.precision,
            clip_norm=cfg.clip_norm,
            max_nonfinite=cfg.max_nonfinite,
        )
        self.guard = self.trainer.guard
        self.window = _Window()
        self.step = 0
        # Where the run ends: max_steps, or what --time-budget chose (None: not chosen yet).
        self.max_steps = cfg.max_steps
        self.budget_steps: int | None = None
        if cfg.resume:
            self._restore()
        runnable = torch.compile(self.model) if cfg.compile else self.model
        self.trainer.train_model = wrap_model(runnable, ctx, self.device)

    def _restore(self) -> None:
        from albertctl.train.checkpoint import load_trainer_state
        from albertctl.train.optim import is_excluded
        from albertctl.train.runtime import restore_rng

        assert self.resume_from is not None
        path, weights = self.resume_from
        self.model.load_state_dict(weights)
        state = load_trainer_state(path)
        self.optimizer.load_state_dict(state.optimizer)
        # load_state_dict brings back the saved hyperparameters; this run's settings win.
        for group in self.optimizer.param_groups:
            group["initial_lr"] = self.config.lr
            if not is_excluded(group["names"][0]):  # the decayed group
                group["weight_decay"] = self.config.weight_decay
                group["trust_ratio"] = self.config.optimizer == "lamb"
        self.scheduler.load_state_dict(state.scheduler)
        self.loader.load_state_dict(state.loader)
        if len(state.rng) == self.ctx.world_size:
            restore_rng(state.rng[self.ctx.rank], self.device)
        self.guard.load_state_dict(state.extra.get("guard", {}))
        self.window.load_state_dict(state.extra.get("window", {}))
        self.step = state.step
        planned = int(state.scheduler.get("total_steps", self.config.max_steps))
        if self.config.max_steps < self.step:
            raise AlbertctlError(
                f"cannot resume {self.run_dir} with --max-steps {self.config.max_steps}: "
                f"the run is already at step {self.step}",
                hint=f"pass a --max-steps above {self.step} to train on, or leave it out to keep the "
                f"run's own ({planned})",
            )
        if self.config.max_steps != planned and self.config.time_budget is None:
            self.emit(
                TrainEvent(
                    "notice",
                    self.step,
                    {
                        "message": f"max_steps {planned} -> {self.config.max_steps}: the learning-rate "
                        f"decay now ends at step {self.config.max_steps}, not {planned} "
                        "(pretrain_config.json records the new value)"
                    },
                )
            )
        if self.config.time_budget is not None and state.extra.get("budget_steps") is not None:
            self._end_at(min(int(state.extra["budget_steps"]), self.config.max_steps))
        self.resume_from = None  # drop the weights copy

    # ------------------------------------------------------------------------------------ loop

    def run(self) -> PretrainReport:
        from albertctl.fsutil import write_json
        from albertctl.train.loop import GracefulStop
        from albertctl.train.metrics import MetricsWriter

        self._build()
        cfg = self.config
        if self.ctx.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            resolved = {
                **cfg.to_dict(),
                "resolved_precision": self.precision,
                "resolved_device": str(self.device),
            }
            resolved["world_size"] = self.ctx.world_size
            resolved["model_config"] = self.model_config.to_dict()
            write_json(self.run_dir / "pretrain_config.json", resolved)
        writer = MetricsWriter(
            self.run_dir,
            enabled=self.ctx.is_main,
            tensorboard=cfg.tensorboard,
            resume_step=self.step if cfg.resume else None,
        )
        self.emit(
            TrainEvent(
                "start",
                self.step,
                {
                    "max_steps": self.max_steps,
                    "rows": self.loader.shards.num_rows,
                    "params": sum(p.numel() for p in self.model.parameters()),
                    "precision": self.precision,
                    "device": str(self.device),
                    "world_size": self.ctx.world_size,
                    "resumed": cfg.resume,
                },
            )
        )
        # --time-budget counts from here: the first steps' one-off costs are part of the budget.
        self._budget_marks = {"start": time.perf_counter(), "start_step": self.step}
        last_train: dict[str, Any] = {}
        last_eval: dict[str, Any] = {}
        last_ckpt: Path | None = None
        stopped = False
        try:
            with writer, GracefulStop() as stop:
                while self.step < self.max_steps:
                    values = self._train_step(self.window)
                    self.step += 1
                    if cfg.time_budget is not None and self.budget_steps is None:
                        self._budget_clock(writer)
                    if values is not None:
                        last_train = values
                        writer.write(self.step, "train", values)
                        self.emit(TrainEvent("train", self.step, values))
                    if self.eval_shards is not None and cfg.eval_every and self.step % cfg.eval_every == 0:
                        last_eval = self._evaluate(writer)
                    if self._agree(stop.requested):
                        stopped = True
                        last_ckpt = self._save()
                        self.emit(
                            TrainEvent(
                                "stop", self.step, {"signal": stop.signal_name, "checkpoint": last_ckpt}
                            )
                        )
                        break
                    if self.step % cfg.save_every == 0 or self.step == self.max_steps:
                        last_ckpt = self._save()
                if not stopped:
                    if self.eval_shards is not None and (not cfg.eval_every or self.step % cfg.eval_every):
                        last_eval = self._evaluate(writer)
                    if last_ckpt is None or not last_ckpt.name.endswith(f"{self.step:06d}"):
                        last_ckpt = self._save()
        finally:
            self.loader.close()
        if self.aside is not None:
            shutil.rmtree(self.aside, ignore_errors=True)
        report = PretrainReport(
            run_dir=self.run_dir,
            final_step=self.step,
            stopped_early=stopped,
            last_checkpoint=last_ckpt,
            train=last_train,
            eval=last_eval,
            precision=self.precision,
            device=str(self.device),
        )
        self.emit(TrainEvent("end", self.step, {"report": report}))
        return report

    def _budget_clock(self, writer: Any) -> None:
        """Called after each step until --time-budget has chosen where the run ends."""
        now = time.perf_counter()
        marks = self._budget_marks
        timed = self.step - marks["start_step"]
        if timed == _BUDGET_SKIP:
            marks["timed_from"] = now
        if timed < BUDGET_CALIBRATION:
            return
        step_s = (now - marks["timed_from"]) / (BUDGET_CALIBRATION - _BUDGET_SKIP)
        chosen = steps_within_budget(
            budget_s=60.0 * float(self.config.time_budget or 0.0),
            elapsed_s=now - marks["start"],
            step_s=step_s,
            done=self.step,
            warmup_steps=self.config.warmup_steps,
            max_steps=self.config.max_steps,
        )
        chosen = self._from_rank0(chosen)
        self._end_at(chosen)
        details = {"max_steps": chosen, "step_s": step_s, "budget_minutes": self.config.time_budget}
        writer.write(self.step, "budget", details)
        self.emit(TrainEvent("budget", self.step, details))

    def _end_at(self, steps: int) -> None:
        """End the run (and the schedule's decay) at ``steps``."""
        self.max_steps = self.budget_steps = steps
        self.scheduler.end_at(steps)

    def _from_rank0(self, value: int) -> int:
        """Rank 0's value on every rank (ranks time their own steps; all must stop together)."""
        if not self.ctx.is_distributed:
            return value
        import torch

        from albertctl.train.distributed import all_reduce_sum

        mine = torch.tensor([float(value) if self.ctx.is_main else 0.0])
        return int(all_reduce_sum(mine, self.ctx).item())

    def _agree(self, flag: bool) -> bool:
        """True when any rank wants to stop (all ranks must stop at the same step)."""
        if not self.ctx.is_distributed:
            return flag
        import torch

        from albertctl.train.distributed import all_reduce_sum

        return bool(all_reduce_sum(torch.tensor([float(flag)]), self.ctx).item() > 0)

    def _train_step(self, window: _Window) -> dict[str, Any] | None:
        """One optimizer step; the window's metrics when it is time to log them, else None."""
        from albertctl.train.trainer import PretrainingObjective

        t0 = time.perf_counter()
        step_batch = next(self.loader)
        t_data = time.perf_counter() - t0
        result = self.trainer.train_step(
            step_batch.micro_batches,
            step=self.step,
            denominators={
                "masked": step_batch.global_num_masked,
                "sequences": step_batch.global_num_sequences,
            },
        )
        window.add(
            result.stats,
            PretrainingObjective.mlm_loss(result.stats),
            PretrainingObjective.sop_loss(result.stats),
            result.grad_norm,
            result.lr,
            time.perf_counter() - t0,
            t_data,
            step_batch.epoch,
        )
        if (self.step + 1) % self.config.log_every == 0 or self.step + 1 == self.max_steps:
            return window.flush()
        return None

    def _evaluate(self, writer: Any) -> dict[str, Any]:
        """MLM loss/accuracy and SOP loss/accuracy on held-out rows (all ranks share the work)."""
        from albertctl.data.loader import iter_eval_batches
        from albertctl.train.trainer import PretrainingObjective

        assert self.eval_shards is not None
        t0 = time.perf_counter()
        micro = max(1, self.config.batch_size // (self.config.grad_accum * self.ctx.world_size))
        stats = self.trainer.evaluate(
            iter_eval_batches(
                self.eval_shards,
                batch_size=micro,
                rank=self.ctx.rank,
                world_size=self.ctx.world_size,
                max_rows=self.config.eval_max_sequences,
                masking=self.eval_masking,
            )
        )
        values = {
            "loss": PretrainingObjective.mlm_loss(stats) + PretrainingObjective.sop_loss(stats),
            "mlm_loss": PretrainingObjective.mlm_loss(stats),
            "sop_loss": PretrainingObjective.sop_loss(stats),
            "mlm_acc": stats["mlm_correct"] / max(stats["mlm_count"], 1.0),
            "sop_acc": stats["sop_correct"] / max(stats["sop_count"], 1.0),
            "sequences": int(stats["sop_count"]),
            "seconds": time.perf_counter() - t0,
        }
        writer.write(self.step, "eval", values)
        self.emit(TrainEvent("eval", self.step, values))
        return values

    def _save(self) -> Path:
        """Write a checkpoint (rank 0), with every rank's RNG state; all ranks wait for it."""
        from albertctl.train.checkpoint import checkpoint_name, save_trainer_checkpoint
        from albertctl.train.distributed import all_gather_objects, barrier
        from albertctl.train.runtime import capture_rng

        rng = all_gather_objects(capture_rng(self.device), self.ctx)
        path = self.run_dir / "checkpoints" / checkpoint_name(self.step)
        if self.ctx.is_main:
            vocab_dir = self.info.vocab_dir
            path = save_trainer_checkpoint(
                self.run_dir,
                step=self.step,
                model=self.model,
                optimizer=self.optimizer,
                scheduler=self.scheduler,
                rng=rng,
                loader=self.loader.state_dict(),
                vocab_dir=vocab_dir if vocab_dir.is_dir() else None,
                config=self.config.to_dict(),
                extra={
                    "guard": self.guard.state_dict(),
                    "window": self.window.state_dict(),
                    "budget_steps": self.budget_steps,
                },
                keep_last=self.config.keep_last,
            )
            self.emit(TrainEvent("checkpoint", self.step, {"path": path}))
        barrier(self.ctx)
        return path


class _Window:
    """Accumulates train metrics between two log records."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.stats: Stats | None = None
        self.steps = 0
        self.loss_sum = self.mlm_sum = self.sop_sum = 0.0
        self.norm = self.lr = self.epoch = 0.0
        self.seconds = self.data_seconds = 0.0

    def add(
        self,
        stats: Stats,
        mlm_loss: float,
        sop_loss: float,
        grad_norm: float,
        lr: float,
        seconds: float,
        data_seconds: float,
        epoch: float,
    ) -> None:
        self.stats = stats if self.stats is None else self.stats + stats
        self.steps += 1
        self.loss_sum += mlm_loss + sop_loss
        self.mlm_sum += mlm_loss
        self.sop_sum += sop_loss
        self.norm, self.lr, self.epoch = grad_norm, lr, epoch
        self.seconds += seconds
        self.data_seconds += data_seconds

    def state_dict(self) -> dict[str, Any]:
        """The partial window, so a resumed run logs the same means as an uninterrupted one."""
        state = dict(vars(self))
        state["stats"] = None if self.stats is None else self.stats.values.clone()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)
        if self.stats is not None:  # the sums, in PretrainingObjective.names order
            import torch

            from albertctl.train.trainer import PretrainingObjective, Stats

            self.stats = Stats(PretrainingObjective.names, self.stats.to(torch.float64))

    def flush(self) -> dict[str, Any]:
        s = self.stats
        assert s is not None
        values = {
            "loss": self.loss_sum / self.steps,
            "mlm_loss": self.mlm_sum / self.steps,
            "sop_loss": self.sop_sum / self.steps,
            "mlm_acc": s["mlm_correct"] / max(s["mlm_count"], 1.0),
            "sop_acc": s["sop_correct"] / max(s["sop_count"], 1.0),
            "lr": self.lr,
            "grad_norm": self.norm,
            "epoch": self.epoch,
            "tokens_per_s": s["tokens"] / max(self.seconds, 1e-9),
            "seqs_per_s": s["sop_count"] / max(self.seconds, 1e-9),
            "step_s": self.seconds / self.steps,
            "data_s": self.data_seconds / self.steps,
        }
        self.reset()
        return values
