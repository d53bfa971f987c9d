"""``albertctl finetune glue``, ``albertctl eval glue`` and ``albertctl predict glue``.

Flags -> :class:`~albertctl.glue.finetune.FinetuneConfig` -> :func:`~albertctl.glue.finetune.finetune_glue`
-> rich tables (per task: best and final dev metrics, mean ± std over seeds; with several tasks a
GLUE summary). ``eval glue`` scores a fine-tuned checkpoint on dev; ``predict glue`` writes the
leaderboard files. See docs/glue.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from albertctl.cli.options import AllowVocabMismatch, Device, Overwrite, Precision, typer_app
from albertctl.errors import AlbertctlError
from albertctl.glue.config import FinetuneConfig
from albertctl.settings import argument, command, extra, options, values_for

if TYPE_CHECKING:
    from rich.table import Table

finetune_app = typer_app("finetune", "Fine-tune a checkpoint.")
eval_app = typer_app("eval", "Evaluate a fine-tuned model.")
predict_app = typer_app("predict", "Write test-set predictions.")

Task = Annotated[
    str,
    typer.Option(
        "--task",
        help="cola, sst2, mrpc, stsb, qqp, mnli, qnli, rte, wnli, a comma list, or all (the nine); "
        "CLUE's tasks are `finetune clue`'s.",
        show_default=False,
    ),
]
DataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        help="GLUE_DIR: task folders in the classic TSV or Hugging Face layout.",
        show_default=False,
    ),
]

_LABELS = {
    "mcc": "MCC",
    "accuracy": "acc",
    "accuracy_mm": "acc (mm)",
    "f1": "F1",
    "pearson": "Pearson",
    "spearman": "Spearman",
}


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def _cell(summary: dict[str, dict[str, float]], metric: str, num_seeds: int) -> str:
    entry = summary[metric]
    return _pct(entry["mean"]) + (f" ± {_pct(entry['std'])}" if num_seeds > 1 else "")


def results_table(results: dict[str, Any]) -> Table:
    """One row per task x {best, final}: the metrics (x100), mean ± std over seeds, and each seed."""
    from rich.table import Table

    table = Table(
        title="GLUE dev (best: best-on-dev checkpoint, what the reference reports; final: last step)"
    )
    several = any(len(task["seeds"]) > 1 for task in results["tasks"].values())
    columns = ("task", "checkpoint", "metrics", *(("per seed",) if several else ()), "step")
    for column in columns:
        table.add_column(column, justify="left" if column in ("task", "checkpoint") else "right")
    for name, task in results["tasks"].items():
        seeds = task["seeds"]
        for which in ("best", "final"):
            metrics = " / ".join(f"{_LABELS[m]} {_cell(task[which], m, len(seeds))}" for m in task["metrics"])
            per_seed = "\n".join(
                f"{s['seed']}: " + "/".join(_pct(s[which]["metrics"][m]) for m in task["metrics"])
                for s in seeds
            )
            steps = ",".join(str(s[which]["step"]) for s in seeds)
            row = (name if which == "best" else "", which, metrics, *((per_seed,) if several else ()), steps)
            table.add_row(*row)
    return table


def glue_summary_table(results: dict[str, Any]) -> Table:
    """The papers' one-line GLUE table (best checkpoint, mean over seeds, x100)."""
    from rich.table import Table

    table = Table(title="GLUE dev summary (best checkpoints, seed mean)")
    cells = []
    from albertctl.glue.tasks import TASKS

    for name, task in results["tasks"].items():
        if TASKS[name].benchmark != "GLUE":
            continue
        table.add_column(name, justify="right")
        cells.append("/".join(_pct(task["best"][m]["mean"]) for m in task["metrics"]))
    table.add_column("avg", justify="right")
    cells.append(_pct(results["glue"]["best"]))
    table.add_row(*cells)
    return table


def _finetune_glue(
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
    specs = parse_tasks(task)
    console = Console(highlight=False, soft_wrap=True)
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
    console.print(results_table(report.results))
    if len(specs) > 1 and report.results["glue"] is not None:
        console.print(glue_summary_table(report.results))
    console.print(f"wrote {report.out / 'results.json'}")


_Model = Annotated[
    Path,
    typer.Option(
        "--model", help="Checkpoint folder, pretraining run dir, or Hugging Face dir.", show_default=False
    ),
]
_Vocab = Annotated[
    Path | None,
    typer.Option(
        "--vocab",
        help="Vocabulary dir, when the model folder has none (another than the model's own needs "
        "--allow-vocab-mismatch).",
        show_default=False,
    ),
]


def classification_params(task: Any, data_dir: Any) -> list[Any]:
    """The parameters of ``finetune glue`` and ``finetune clue``: TASK DATA_DIR MODEL --out,
    --vocab, every FinetuneConfig field, --allow-vocab-mismatch, --overwrite (``task`` and
    ``data_dir`` are each benchmark's own help)."""
    return [
        argument("task", task),
        argument("data_dir", data_dir),
        argument("model", _Model),
        argument(
            "out", Annotated[Path, typer.Option("--out", "-o", help="Output directory.", show_default=False)]
        ),
        extra("vocab", _Vocab),
        *options(FinetuneConfig),
        extra("allow_vocab_mismatch", AllowVocabMismatch, False),
        extra("overwrite", Overwrite, False),
    ]


finetune_glue_command = command(
    _finetune_glue,
    params=classification_params(Task, DataDir),
    doc="Fine-tune MODEL on GLUE task(s); write OUT/results.json and the best and final checkpoints.",
)
finetune_app.command("glue")(finetune_glue_command)


@eval_app.command("glue")
def eval_glue_command(
    model: Annotated[
        Path,
        typer.Option(
            "--model", help="Fine-tuned checkpoint folder, or a finetune output dir.", show_default=False
        ),
    ],
    data_dir: DataDir,
    task: Annotated[
        str | None, typer.Option("--task", help="Task (needed when the output dir holds several).")
    ] = None,
    which: Annotated[
        str, typer.Option("--which", help="best or final (for a finetune output dir).")
    ] = "best",
    batch_size: Annotated[int, typer.Option("--batch-size")] = 64,
    precision: Precision = "fp32",
    device: Device = "auto",
) -> None:
    """Score a fine-tuned model on its task's dev set(s) with the official metrics."""
    from rich.table import Table

    from albertctl.glue.evaluate import evaluate_glue

    if which not in ("best", "final"):
        raise AlbertctlError(f"--which must be best or final, got {which!r}")
    spec, metrics = evaluate_glue(
        model, data_dir, task=task, which=which, batch_size=batch_size, device=device, precision=precision
    )
    table = Table(title=f"{spec.dir_name} dev")
    for name in metrics:
        table.add_column(_LABELS.get(name, name), justify="right")
    table.add_row(*(f"{100 * v:.2f}" for v in metrics.values()))
    Console(highlight=False, soft_wrap=True).print(table)


@predict_app.command("glue")
def predict_glue_command(
    model: Annotated[
        Path,
        typer.Option(
            "--model", help="Fine-tuned checkpoint folder, or a finetune output dir.", show_default=False
        ),
    ],
    data_dir: DataDir,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Directory for the .tsv files.", show_default=False)
    ],
    task: Annotated[
        str, typer.Option("--task", help="Task(s), or all (every task the output dir holds).")
    ] = "all",
    which: Annotated[
        str, typer.Option("--which", help="best or final (for a finetune output dir).")
    ] = "best",
    batch_size: Annotated[int, typer.Option("--batch-size")] = 64,
    precision: Precision = "fp32",
    device: Device = "auto",
    overwrite: Overwrite = False,
) -> None:
    """Write the GLUE leaderboard files (CoLA.tsv ... AX.tsv) for the test sets."""
    from albertctl.fsutil import atomic_dir
    from albertctl.glue.evaluate import predict_glue, resolve_models

    if which not in ("best", "final"):
        raise AlbertctlError(f"--which must be best or final, got {which!r}")
    models = resolve_models(model, task, which=which)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        written = predict_glue(
            models, data_dir, tmp, batch_size=batch_size, device=device, precision=precision
        )
    console = Console(highlight=False, soft_wrap=True)
    for name, rows in written.items():
        console.print(f"wrote {out / name} ({rows:,} rows)")
    missing = sorted(
        {"CoLA", "SST-2", "MRPC", "STS-B", "QQP", "MNLI-m", "MNLI-mm", "QNLI", "RTE", "WNLI", "AX"}
        - {name.removesuffix(".tsv") for name in written}
    )
    if missing:
        console.print(
            f"not written (no model or no test file): {', '.join(missing)}; the leaderboard needs all 11"
        )


def register(app: typer.Typer) -> None:
    """Add the ``finetune``, ``eval`` and ``predict`` command groups (each with ``glue``) to ``app``."""
    app.add_typer(finetune_app, name="finetune")
    app.add_typer(eval_app, name="eval")
    app.add_typer(predict_app, name="predict")
