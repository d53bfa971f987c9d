"""``albertctl build-vocab``: train an ALBERT vocabulary from raw text.

Flags -> :class:`~albertctl.vocab.BuildVocabConfig` -> :func:`~albertctl.vocab.build_vocab` ->
a rich summary (with any setting the build picked itself, and any it ignored). Reads the corpus
files given; writes ``--out``: a SentencePiece ``spiece.model`` or, with ``--kind wordpiece``, a
BERT-Chinese ``vocab.txt`` (see docs/vocab.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from albertctl.cli.options import CorpusInputs, Overwrite
from albertctl.settings import argument, command, extra, options, values_for
from albertctl.vocab.build import BuildVocabConfig, parse_user_symbols  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    from rich.console import Console

    from albertctl.corpus import CorpusStats
    from albertctl.vocab import BuildVocabReport


def _build_vocab(*, inputs: list[str], out: Path, overwrite: bool, **settings: Any) -> None:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    from albertctl.vocab import build_vocab
    from albertctl.vocab.build import total_bytes

    config = BuildVocabConfig(**values_for(BuildVocabConfig, settings))
    console = Console(stderr=True)
    total = total_bytes(inputs)
    progress = Progress(
        TextColumn("[bold]reading[/]"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("{task.fields[lines]:,} lines"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    task = progress.add_task("read", total=total, lines=0)

    def on_progress(stats: CorpusStats) -> None:
        # Started on the first update, so errors found before reading print no empty bar.
        if not progress.live.is_started:
            progress.start()
        progress.update(task, completed=stats.bytes_read, lines=stats.lines)

    trainer = "WordPiece" if config.kind == "wordpiece" else "SentencePiece"
    status = console.status(f"training {trainer} ...", spinner="dots")

    def on_train_start() -> None:
        progress.stop()
        status.start()

    try:
        report = build_vocab(
            inputs, out, config, overwrite=overwrite, on_progress=on_progress, on_train_start=on_train_start
        )
    finally:
        progress.stop()
        status.stop()
    _render(report, console)


build_vocab_command = command(
    _build_vocab,
    params=[
        argument("inputs", CorpusInputs),
        argument("out", Annotated[Path, typer.Option("--out", "-o", help="Output directory (vocab dir).")]),
        *options(BuildVocabConfig),
        extra("overwrite", Overwrite, False),
    ],
    doc="Train an ALBERT vocabulary: SentencePiece (spiece.model, ids as the released models) "
    "or, with --kind wordpiece, a BERT-Chinese vocab.txt (ids as bert-base-chinese).",
)


def _render(report: BuildVocabReport, console: Console) -> None:
    from rich.table import Table

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("vocab", f"{report.out_dir} ({report.vocab_size:,} {report.kind} pieces)")
    table.add_row("read", f"{report.files} file(s), {report.documents:,} documents, {report.lines:,} lines")
    table.add_row("sampled", f"{report.sampled_lines:,} lines")
    if report.skipped_lines:
        table.add_row("skipped", f"{report.skipped_lines:,} non-UTF-8 lines")
    for note in report.picked:
        table.add_row("picked", note)
    table.add_row("time", f"read {report.read_seconds:.1f}s, train {report.train_seconds:.1f}s")
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``build-vocab`` to ``app``."""
    app.command("build-vocab")(build_vocab_command)
