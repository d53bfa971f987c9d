"""``albertctl eval pretrain``: held-out MLM/SOP loss and accuracy of a pretraining checkpoint.

CHECKPOINT + flags -> :func:`~albertctl.train.evaluate.evaluate_pretraining` -> a small table,
or one JSON object on stdout with ``--json``. The numbers are those a pretraining run's
evaluation records (docs/pretraining.md, "Evaluating a checkpoint on held-out data").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from albertctl.cli.finetune import eval_app
from albertctl.cli.options import Device, Precision, Verify
from albertctl.train.evaluate import DEFAULT_BATCH_SIZE, DEFAULT_MAX_SEQUENCES

if TYPE_CHECKING:
    from rich.table import Table

    from albertctl.train.evaluate import HeldoutReport


def report_table(report: HeldoutReport) -> Table:
    """The metrics as a two-column table (fits 80 columns)."""
    from rich.table import Table

    table = Table(title="held-out evaluation")
    table.add_column("metric", justify="left")
    table.add_column("value", justify="right")
    for name, value in (
        ("MLM loss", f"{report.mlm_loss:.4f}"),
        ("SOP loss", f"{report.sop_loss:.4f}"),
        ("total loss", f"{report.loss:.4f}"),
        ("MLM accuracy", f"{report.mlm_acc:.2%}"),
        ("SOP accuracy", f"{report.sop_acc:.2%}"),
        ("sequences", f"{report.sequences:,}"),
        ("masked tokens", f"{report.masked_tokens:,}"),
    ):
        table.add_row(name, value)
    return table


def eval_pretrain_command(
    checkpoint: Annotated[
        Path,
        typer.Argument(
            help="Checkpoint folder, or a pretraining run dir (its newest checkpoint).", show_default=False
        ),
    ],
    data: Annotated[
        list[Path],
        typer.Option(
            "--data", help="Held-out data directory from make-data (repeatable).", show_default=False
        ),
    ],
    batch_size: Annotated[
        int,
        typer.Option("--batch-size", min=1, help="Sequences per batch (a run evaluates in its micro-batch)."),
    ] = DEFAULT_BATCH_SIZE,
    max_sequences: Annotated[
        int,
        typer.Option(
            "--max-sequences", min=1, help="At most this many held-out sequences, the first in file order."
        ),
    ] = DEFAULT_MAX_SEQUENCES,
    device: Device = "auto",
    precision: Precision = "auto",
    verify: Verify = True,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of the table.", show_default=False)
    ] = False,
) -> None:
    """Held-out MLM and SOP loss and accuracy of a pretraining checkpoint."""
    from albertctl.train.evaluate import evaluate_pretraining

    report = evaluate_pretraining(
        checkpoint,
        data,
        batch_size=batch_size,
        max_sequences=max_sequences,
        device=device,
        precision=precision,
        verify=verify,
    )
    if as_json:
        payload = {**report.to_dict(), "data": [str(d) for d in data]}
        typer.echo(json.dumps(payload))
        return
    console = Console(highlight=False, soft_wrap=True)
    console.print(
        f"{report.checkpoint} on {', '.join(str(d) for d in data)} "
        f"({report.precision}, {report.device}, {report.seconds:.1f} s)",
        markup=False,
    )
    console.print(report_table(report))


def register(app: typer.Typer) -> None:
    """Add ``pretrain`` to the ``eval`` group (which ``albertctl.cli.finetune`` adds to ``app``)."""
    eval_app.command("pretrain")(eval_pretrain_command)
