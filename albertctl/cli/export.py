"""``albertctl export hf CHECKPOINT OUT_DIR``: write a model as a transformers ALBERT directory.

CHECKPOINT is a model folder (``config.json`` + ``model.safetensors``), a pretraining run
directory (its newest complete ``checkpoints/step-*``), or a fine-tuned model folder. The output
loads with ``AlbertForPreTraining`` / ``AlbertForSequenceClassification.from_pretrained``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from albertctl.cli.options import Overwrite, typer_app

export_app = typer_app("export", "Export a checkpoint to another format.")


@export_app.command("hf")
def export_hf_command(
    checkpoint: Annotated[
        Path, typer.Argument(help="Model folder, fine-tuned model folder, or pretraining run directory.")
    ],
    out_dir: Annotated[
        Path, typer.Argument(help="Directory to write (config.json, model.safetensors, the tokenizer files).")
    ],
    overwrite: Overwrite = False,
) -> None:
    """Write CHECKPOINT as a Hugging Face transformers ALBERT directory in OUT_DIR."""
    from albertctl.model.export import export_hf

    report = export_hf(checkpoint, out_dir, overwrite=overwrite)
    console = Console(highlight=False, soft_wrap=True)
    console.print(f"read     {report.source}")
    console.print(
        f"wrote    {report.out_dir} ({report.architecture}, {report.num_tensors} tensors, "
        f"{report.num_parameters:,} parameters{', tokenizer' if report.tokenizer else ''})"
    )
    console.print(f"load it  transformers.{report.architecture}.from_pretrained({str(report.out_dir)!r})")


def register(app: typer.Typer) -> None:
    """Add the ``export`` command group to ``app``."""
    app.add_typer(export_app, name="export")
