"""``albertctl pretrain`` (MLM + SOP pretraining) and ``albertctl plot`` (PNG curves of a run).

Flags -> ``--config`` TOML underneath -> recipe defaults for the model ->
:class:`~albertctl.train.pretrain.PretrainConfig` -> :func:`~albertctl.train.pretrain.pretrain`,
drawn as a rich live progress bar (step, loss, MLM/SOP accuracy, lr, tokens/s, ETA). Under
``torchrun`` the rank comes from the environment and only rank 0 draws and writes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from albertctl.cli.options import VERIFY_HELP, AllowVocabMismatch, Overwrite

if TYPE_CHECKING:
    from albertctl.train.pretrain import PretrainReport, TrainEvent


def pretrain_command(
    data: Annotated[
        list[Path] | None,
        typer.Option(
            "--data", help="Pretraining data directory from make-data (repeatable).", show_default=False
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run directory.", show_default=False)
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="TOML file with any of these settings; flags override it.", show_default=False
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", help="debug, tiny, base, large, xlarge, xxlarge or a config .json. [default: tiny]"
        ),
    ] = None,
    init: Annotated[
        Path | None,
        typer.Option(
            "--init", help="Start from these weights (checkpoint, run dir or HF dir).", show_default=False
        ),
    ] = None,
    recipe: Annotated[
        str | None,
        typer.Option(
            "--recipe", help="default (sized to --model) or released (batch 4096, lr 0.00176, 125k steps)."
        ),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", help="Global batch, in sequences. [default: per model]")
    ] = None,
    grad_accum: Annotated[
        int | None, typer.Option("--grad-accum", help="Micro-batches per step. [default: 1]")
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", help="Optimizer steps. [default: per model]")
    ] = None,
    time_budget: Annotated[
        float | None,
        typer.Option(
            "--time-budget",
            help="Minutes of training steps: after 12 steps, --max-steps is lowered to the steps that "
            "fit at the measured speed (evaluations and checkpoints come on top).",
            show_default=False,
        ),
    ] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Peak learning rate. [default: per model]")] = None,
    warmup_steps: Annotated[
        int | None, typer.Option("--warmup-steps", help="Linear warm-up steps. [default: per model]")
    ] = None,
    optimizer: Annotated[
        str | None, typer.Option("--optimizer", help="lamb or adamw. [default: lamb]")
    ] = None,
    weight_decay: Annotated[float | None, typer.Option("--weight-decay", help="[default: 0.01]")] = None,
    clip_norm: Annotated[
        float | None, typer.Option("--clip-norm", help="Global gradient-norm clip, 0 = off. [default: 1.0]")
    ] = None,
    precision: Annotated[
        str | None,
        typer.Option(
            "--precision",
            help="fp32, bf16 (autocast) or auto (bf16 on CUDA/AMX/AVX512-BF16). [default: auto]",
        ),
    ] = None,
    compile_model: Annotated[
        bool | None,
        typer.Option("--compile/--no-compile", help="torch.compile the model.", show_default=False),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed for init, data order, dropout. [default: 12345]")
    ] = None,
    eval_data: Annotated[
        list[Path] | None,
        typer.Option("--eval-data", help="Held-out data directory (repeatable).", show_default=False),
    ] = None,
    eval_every: Annotated[
        int | None,
        typer.Option("--eval-every", help="Steps between evaluations, 0 = end only. [default: 1000]"),
    ] = None,
    eval_max_sequences: Annotated[
        int | None,
        typer.Option("--eval-max-sequences", help="Held-out sequences per evaluation. [default: 2048]"),
    ] = None,
    save_every: Annotated[
        int | None, typer.Option("--save-every", help="Steps between checkpoints. [default: 1000]")
    ] = None,
    keep_last: Annotated[
        int | None, typer.Option("--keep-last", help="Checkpoints kept. [default: 3]")
    ] = None,
    log_every: Annotated[
        int | None, typer.Option("--log-every", help="Steps per metrics record. [default: 10]")
    ] = None,
    resume: Annotated[
        bool | None,
        typer.Option("--resume", help="Continue from the newest checkpoint in --out.", show_default=False),
    ] = None,
    overwrite: Overwrite = False,
    verify: Annotated[
        bool | None,
        typer.Option(
            "--verify/--no-verify",
            help=f"{VERIFY_HELP} [default: verify]",
            show_default=False,
        ),
    ] = None,
    allow_vocab_mismatch: AllowVocabMismatch = False,
    device: Annotated[
        str | None,
        typer.Option("--device", help="auto (CUDA when present), cpu, cuda, cuda:N. [default: auto]"),
    ] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", help="torch threads per process. [default: torch's]")
    ] = None,
) -> None:
    """Pretrain ALBERT with MLM + SOP (resumable; runs under torchrun for DDP)."""
    from albertctl.train.distributed import context_from_env
    from albertctl.train.pretrain import pretrain, read_toml_config, resolve_pretrain_config

    flags: dict[str, Any] = {
        "data": tuple(data) if data else None,
        "out": out,
        "model": model,
        "init": init,
        "recipe": recipe,
        "batch_size": batch_size,
        "grad_accum": grad_accum,
        "max_steps": max_steps,
        "time_budget": time_budget,
        "lr": lr,
        "warmup_steps": warmup_steps,
        "optimizer": optimizer,
        "weight_decay": weight_decay,
        "clip_norm": clip_norm,
        "precision": precision,
        "compile": compile_model,
        "seed": seed,
        "eval_data": tuple(eval_data) if eval_data else None,
        "eval_every": eval_every,
        "eval_max_sequences": eval_max_sequences,
        "save_every": save_every,
        "keep_last": keep_last,
        "log_every": log_every,
        "resume": resume,
        "overwrite": overwrite or None,
        "verify_data": verify,
        "allow_vocab_mismatch": allow_vocab_mismatch or None,
        "device": device,
        "threads": threads,
    }
    file_values = read_toml_config(config) if config is not None else None
    resolved = resolve_pretrain_config(flags, file_values)
    ctx = context_from_env(os.environ)
    with _Display(enabled=ctx.is_main) as display:
        report = pretrain(resolved, dist_ctx=ctx, on_event=display.on_event)
    if ctx.is_main:
        _print_summary(report)


class _Display:
    """Rich live progress on rank 0: a bar with step, loss, accuracies, lr, tokens/s and ETA."""

    def __init__(self, *, enabled: bool) -> None:
        from rich.console import Console

        self.enabled = enabled
        self.console = Console(stderr=True)
        self.progress: Any = None
        self.task: Any = None

    def __enter__(self) -> _Display:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def on_event(self, event: TrainEvent) -> None:
        if not self.enabled:
            return
        if event.kind == "start":
            self._start(event)
        elif event.kind == "train" and self.progress is not None:
            v = event.values
            text = (
                f"loss {v['loss']:.3f}  mlm {v['mlm_acc']:.1%}  sop {v['sop_acc']:.1%}  "
                f"lr {v['lr']:.2e}  {v['tokens_per_s'] / 1000:.1f}k tok/s"
            )
            self.progress.update(self.task, completed=event.step, stats=text)
        elif event.kind == "eval":
            v = event.values
            self._log(
                f"[cyan]eval[/] step {event.step}: loss {v['loss']:.4f}  mlm_acc {v['mlm_acc']:.2%}  "
                f"sop_acc {v['sop_acc']:.2%}  ({v['sequences']} seqs)"
            )
        elif event.kind == "budget":
            v = event.values
            self._log(
                f"time budget {v['budget_minutes']:g} min: {v['step_s']:.2f} s/step over steps "
                f"3-{event.step}, so the run ends at step {v['max_steps']}"
            )
            if self.progress is not None:
                self.progress.update(self.task, total=v["max_steps"])
        elif event.kind == "notice":
            self._log(f"[yellow]note:[/] {event.values['message']}")
        elif event.kind == "checkpoint":
            self._log(f"[green]saved[/] {event.values['path']}")
        elif event.kind == "stop":
            self._log(
                f"[yellow]{event.values.get('signal')}: saved step {event.step}; continue with --resume[/]"
            )

    def _start(self, event: TrainEvent) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        v = event.values
        self.console.print(
            f"pretraining {v['params'] / 1e6:.2f}M parameters on {v['device']} ({v['precision']}, "
            f"{v['world_size']} process{'es' if v['world_size'] > 1 else ''}), {v['rows']} sequences"
            + (f", resuming at step {event.step}" if v["resumed"] else ""),
            highlight=False,
        )
        self.progress = Progress(
            TextColumn("step"),
            MofNCompleteColumn(),
            BarColumn(),
            TextColumn("{task.fields[stats]}"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task("pretrain", total=v["max_steps"], completed=event.step, stats="")

    def _log(self, text: str) -> None:
        (self.progress.console if self.progress is not None else self.console).print(text, highlight=False)


def _print_summary(report: PretrainReport) -> None:
    from rich.console import Console

    console = Console(highlight=False)
    state = "stopped" if report.stopped_early else "finished"
    console.print(f"{state} at step {report.final_step}; run directory {report.run_dir}")
    if report.train:
        t = report.train
        console.print(f"train: loss {t['loss']:.4f}  mlm_acc {t['mlm_acc']:.2%}  sop_acc {t['sop_acc']:.2%}")
    if report.eval:
        e = report.eval
        console.print(f"eval:  loss {e['loss']:.4f}  mlm_acc {e['mlm_acc']:.2%}  sop_acc {e['sop_acc']:.2%}")
    if report.last_checkpoint is not None:
        console.print(f"checkpoint: {report.last_checkpoint}")


def plot_command(
    run_dir: Annotated[Path, typer.Argument(help="A pretraining run directory.", show_default=False)],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Where to write the PNGs. [default: RUN_DIR/plots]")
    ] = None,
) -> None:
    """Write PNG curves (loss, accuracy, lr, throughput) of a run's metrics.jsonl (needs matplotlib)."""
    from albertctl.train.plot import plot_run

    for path in plot_run(run_dir, out):
        typer.echo(str(path))


def register(app: typer.Typer) -> None:
    """Add ``pretrain`` and ``plot`` to ``app``."""
    app.command("pretrain")(pretrain_command)
    app.command("plot")(plot_command)
