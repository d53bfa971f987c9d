"""Option aliases shared by several commands, declared once.

Commands annotate their parameters with these so that the same flag reads the same everywhere.
"""

from __future__ import annotations

from typing import Annotated

import typer

Overwrite = Annotated[
    bool,
    typer.Option(
        "--overwrite", help="Replace an existing output directory (it is kept until the new one is complete)."
    ),
]
Verify = Annotated[
    bool,
    typer.Option(
        "--verify/--no-verify", help="Check each shard against its manifest's sha256 first (once per file)."
    ),
]
AllowVocabMismatch = Annotated[
    bool,
    typer.Option(
        "--allow-vocab-mismatch",
        help="Accept a model whose vocabulary differs from the one it is given (same size): "
        "you mean the change.",
        show_default=False,
    ),
]
Seed = Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same output.")]
Workers = Annotated[
    int, typer.Option("--workers", min=1, help="Worker processes; the output does not depend on it.")
]
Precision = Annotated[
    str,
    typer.Option("--precision", help="fp32, bf16 (autocast) or auto (bf16 where the CPU/GPU runs it fast)."),
]
Device = Annotated[
    str, typer.Option("--device", help="auto (CUDA when present, else CPU), cpu, cuda, cuda:N.")
]

# Corpus inputs and how to read them: shared by build-vocab and make-data (albertctl.corpus).
CorpusInputs = Annotated[
    list[str],
    typer.Argument(
        help="Corpus files, directories or globs (.txt, .txt.gz, .jsonl[.gz], .parquet).",
        show_default=False,
    ),
]


def typer_app(name: str, help: str) -> typer.Typer:
    """A command group with the settings every albertctl group shares.

    Help is click's plain layout, not rich's panels: option names are never cut at 80 columns,
    flags show no metavar, and help text is printed as written (no markup to escape).
    """
    return typer.Typer(
        name=name,
        help=help,
        rich_markup_mode=None,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
