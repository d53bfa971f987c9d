"""``albertctl pretrain`` (MLM + SOP pretraining) and ``albertctl plot`` (PNG curves of a run).

Flags -> ``--config`` TOML underneath -> recipe defaults for the model ->
:class:`~albertctl.train.pretrain_config.PretrainConfig` -> :func:`~albertctl.train.pretrain.pretrain`,
drawn as a rich live progress bar (step, loss, MLM/SOP accuracy, lr, tokens/s, ETA). Under
``torchrun`` the rank comes from the environment and only rank 0 draws and writes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from albertctl.settings import command, extra, options, values_for
from albertctl.train.pretrain_config import PretrainConfig

if TYPE_CHECKING:
    from albertctl.train.pretrain import PretrainReport, TrainEvent


def _pretrain(*, config: Path | None, recipe: str | None, **given: Any) -> None:
    from albertctl.train.distributed import context_from_env
    from albertctl.train.pretrain import pretrain
    from albertctl.train.pretrain_config import read_toml_config, resolve_pretrain_config

    flags: dict[str, Any] = {**values_for(PretrainConfig, given), "recipe": recipe}
    file_values = read_toml_config(config) if config is not None else None
    resolved = resolve_pretrain_config(flags, file_values)
    ctx = context_from_env(os.environ)
    with _Display(enabled=ctx.is_main) as display:
        report = pretrain(resolved, dist_ctx=ctx, on_event=display.on_event)
    if ctx.is_main:
        _print_summary(report)


# Every flag but --config and --recipe is a PretrainConfig field; all default to "not given", so
# the flags override the TOML file, which overrides the recipe (and a resumed run's settings).
pretrain_command = command(
    _pretrain,
    params=[
        extra(
            "config",
            Annotated[
                Path | None,
                typer.Option("--config", help="TOML file with any of these settings; flags override it."),
            ],
        ),
        extra(
            "recipe",
            Annotated[
                str | None,
                typer.Option(
                    "--recipe",
                    help="The recipe: 'default' is sized to --model; 'released' is the papers' "
                    "(batch 4096, lr 0.00176, 125k steps).",
                ),
            ],
        ),
        *options(PretrainConfig, given_only=True),
    ],
    doc="Pretrain ALBERT with MLM + SOP (resumable; runs under torchrun for DDP).",
)


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
