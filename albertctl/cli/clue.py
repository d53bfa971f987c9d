"""``albertctl finetune clue``, ``eval clue`` and ``predict clue``: CLUE's classification tasks.

Flags -> :class:`~albertctl.glue.config.FinetuneConfig` -> :func:`~albertctl.glue.finetune.finetune_glue`
(CLUE's tasks are the same sentence(-pair) classification kind) -> a table of best and final dev
accuracy, mean ± std over seeds, and with several tasks their average. ``eval clue`` scores a
fine-tuned checkpoint on dev; ``predict clue`` writes the leaderboard's JSON-lines files and
``submit.zip`` (:mod:`albertctl.clue.submit`). See docs/clue.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from albertctl.cli.finetune import classification_params, eval_app, finetune_app, predict_app
from albertctl.cli.options import Device, Overwrite, Precision
from albertctl.errors import AlbertctlError
from albertctl.glue.config import FinetuneConfig
from albertctl.settings import command, values_for

if TYPE_CHECKING:
    from rich.table import Table

BENCHMARK = "clue"

Task = Annotated[
    str,
    typer.Option(
        "--task",
        help="tnews, iflytek, afqmc, ocnli, cmnli, csl, cluewsc2020, a comma list, or all (the seven).",
        show_default=False,
    ),
]
DataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        help="Folder of CLUE task folders (tnews/, afqmc/, ... or tnews_public/ as the zips unpack).",
        show_default=False,
    ),
]
_FtModel = Annotated[
    Path,
    typer.Option(
        "--model", help="Fine-tuned checkpoint folder, or a finetune output dir.", show_default=False
    ),
]
_Which = Annotated[str, typer.Option("--which", help="best or final (for a finetune output dir).")]
_BatchSize = Annotated[int, typer.Option("--batch-size", help="Rows per inference batch.")]


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _pct(value: float) -> str:
    return f"{100 * value:.2f}"


def clue_results_table(results: dict[str, Any]) -> Table:
    """One row per task x {best, final}: dev accuracy (x100), mean ± std over seeds, each seed,
    the steps; with several tasks an average row (CLUE's score is the mean of its tasks)."""
    from rich.table import Table

    table = Table(title="CLUE dev accuracy (best: best-on-dev checkpoint; final: last step)")
    tasks = results["tasks"]
    several_seeds = any(len(task["seeds"]) > 1 for task in tasks.values())
    for column in ("task", "checkpoint", "accuracy", *(("per seed",) if several_seeds else ()), "step"):
        table.add_column(column, justify="left" if column in ("task", "checkpoint") else "right")
    for name, task in tasks.items():
        for which in ("best", "final"):
            entry = task[which]["accuracy"]
            cell = _pct(entry["mean"]) + (f" ± {_pct(entry['std'])}" if several_seeds else "")
            per_seed = ", ".join(
                f"{s['seed']}: {_pct(s[which]['metrics']['accuracy'])}" for s in task["seeds"]
            )
            steps = ",".join(str(s[which]["step"]) for s in task["seeds"])
            row = (
                name if which == "best" else "",
                which,
                cell,
                *((per_seed,) if several_seeds else ()),
                steps,
            )
            table.add_row(*row)
    if len(tasks) > 1:
        for which in ("best", "final"):
            mean = sum(t[which]["accuracy"]["mean"] for t in tasks.values()) / len(tasks)
            table.add_row(
                "average" if which == "best" else "", which, _pct(mean), *([""] * (several_seeds + 1))
            )
    return table


def _finetune_clue(
    *,
    task: str,
    data_dir: Path,
    model: Path,
    out: Path,
    vocab: Path | None,
    allow_vocab_mismatch: bool,
    overwrite: bool,
    **settings: Any,
) -> None:
    from albertctl.glue.finetune import finetune_glue
    from albertctl.glue.tasks import parse_tasks

    config = FinetuneConfig(**values_for(FinetuneConfig, settings))
    specs = parse_tasks(task, benchmark="CLUE")
    console = _console()
    report = finetune_glue(
        config,
        tasks=specs,
        data_dir=data_dir,
        model_path=model,
        out=out,
        vocab=vocab,
        allow_vocab_mismatch=allow_vocab_mismatch,
        overwrite=overwrite,
        log=lambda line: console.print(line, markup=False),
    )
    console.print(clue_results_table(report.results))
    console.print(f"wrote {report.out / 'results.json'}")


finetune_clue_command = command(
    _finetune_clue,
    params=classification_params(Task, DataDir),
    doc="Fine-tune MODEL on CLUE task(s); write OUT/results.json and the best and final checkpoints.",
)


def _check_which(which: str) -> None:
    if which not in ("best", "final"):
        raise AlbertctlError(f"--which must be best or final, got {which!r}")


def eval_clue_command(
    model: _FtModel,
    data_dir: DataDir,
    task: Annotated[
        str | None, typer.Option("--task", help="Task (needed when the output dir holds several).")
    ] = None,
    which: _Which = "best",
    batch_size: _BatchSize = 64,
    precision: Precision = "fp32",
    device: Device = "auto",
) -> None:
    """Score a fine-tuned model on its CLUE task's dev set (accuracy)."""
    from rich.table import Table

    from albertctl.glue.evaluate import evaluate_glue
    from albertctl.glue.tasks import parse_tasks

    _check_which(which)
    if task is not None:
        (spec,) = parse_tasks(task, benchmark="CLUE")
        task = spec.name
    spec, metrics = evaluate_glue(
        model, data_dir, task=task, which=which, batch_size=batch_size, device=device, precision=precision
    )
    if spec.benchmark != "CLUE":
        raise AlbertctlError(
            f"{model} is fine-tuned on {spec.name}, a {spec.benchmark} task",
            hint=f"score it with `albertctl eval {spec.benchmark.lower()}`",
        )
    table = Table(title=f"{spec.name} dev")
    for name in metrics:
        table.add_column(name, justify="right")
    table.add_row(*(_pct(v) for v in metrics.values()))
    _console().print(table)


def predict_clue_command(
    model: _FtModel,
    data_dir: DataDir,
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Directory for the *_predict.json files and submit.zip.", show_default=False
        ),
    ],
    task: Annotated[
        str, typer.Option("--task", help="Task(s), or all (every task the output dir holds).")
    ] = "all",
    which: _Which = "best",
    batch_size: _BatchSize = 64,
    precision: Precision = "fp32",
    device: Device = "auto",
    overwrite: Overwrite = False,
) -> None:
    """Write CLUE's leaderboard files (tnews11_predict.json ... csl_predict.json) and OUT/submit.zip."""
    from albertctl.clue.submit import SUBMIT_ZIP, missing_submissions, submit_clue

    _check_which(which)
    written = submit_clue(
        model,
        data_dir,
        out,
        task=task,
        which=which,
        batch_size=batch_size,
        device=device,
        precision=precision,
        overwrite=overwrite,
    )
    console = _console()
    for name, rows in written.items():
        console.print(f"wrote {out / name} ({rows:,} rows)")
    console.print(f"wrote {out / SUBMIT_ZIP} ({len(written)} files)")
    missing = missing_submissions(written)
    if missing:
        console.print(f"not written (no model for the task): {', '.join(missing)}")


def register(app: typer.Typer) -> None:
    """Add ``clue`` to the ``finetune``, ``eval`` and ``predict`` groups."""
    del app  # the groups are already on the app (cli.finetune.register)
    finetune_app.command(BENCHMARK)(finetune_clue_command)
    eval_app.command(BENCHMARK)(eval_clue_command)
    predict_app.command(BENCHMARK)(predict_clue_command)
