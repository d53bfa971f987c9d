"""``albertctl import tf SOURCE OUT_DIR``: a google-research/albert TF checkpoint as a model folder.

SOURCE is a checkpoint prefix (``DIR/model.ckpt-1000``) or its directory (the ``checkpoint``
file's newest, or the only ``*.index``), as the released ALBERT and albert_zh (``*_google``)
archives unpack. The config (``albert_config.json``) and vocabulary (``vocab.txt`` or a
SentencePiece ``*.model``) are found beside it unless given. TensorFlow is not needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from albertctl.cli.options import Overwrite, typer_app

import_app = typer_app("import", "Import a checkpoint from another format.")


@import_app.command("tf")
def import_tf_command(
    source: Annotated[
        Path, typer.Argument(help="TF checkpoint prefix (DIR/model.ckpt-N) or the directory holding it.")
    ],
    out_dir: Annotated[
        Path, typer.Argument(help="Model folder to write (config.json, model.safetensors, vocab).")
    ],
    config: Annotated[
        Path | None,
        typer.Option("--config", help="albert_config.json (default: the one beside the checkpoint)."),
    ] = None,
    vocab: Annotated[
        Path | None,
        typer.Option(
            "--vocab", help="vocab.txt or a SentencePiece .model (default: the one beside the checkpoint)."
        ),
    ] = None,
    overwrite: Overwrite = False,
) -> None:
    """Convert a TensorFlow ALBERT checkpoint (google-research/albert layout) to an albertctl model folder."""
    from albertctl.model.tf_checkpoint import import_tf

    report = import_tf(source, out_dir, config_file=config, vocab=vocab, overwrite=overwrite)
    console = Console(highlight=False, soft_wrap=True)
    console.print(f"read     {report.prefix} ({report.skipped} optimizer tensors skipped)")
    vocabulary = (
        f", vocabulary {report.vocabulary.name}" if report.vocabulary else ", no vocabulary (pass --vocab)"
    )
    console.print(
        f"wrote    {report.out_dir} ({report.head}, {report.num_parameters:,} parameters{vocabulary})"
    )
    # A WordPiece vocab.txt is a Chinese (albert_zh) model: its benchmarks are CLUE's.
    benchmark = "clue" if report.vocabulary is not None and report.vocabulary.name == "vocab.txt" else "glue"
    console.print(f"use it   albertctl finetune {benchmark} --model {report.out_dir} ...")


def register(app: typer.Typer) -> None:
    """Add the ``import`` command group to ``app``."""
    app.add_typer(import_app, name="import")
