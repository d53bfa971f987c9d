"""``albertctl build-vocab``: train an ALBERT SentencePiece vocabulary from raw text.

Flags -> :class:`~albertctl.vocab.BuildVocabConfig` -> :func:`~albertctl.vocab.build_vocab` ->
a rich summary. Reads the corpus files given; writes ``--out`` (see docs/vocab.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from albertctl.cli.options import CorpusInputs, Overwrite, Seed, TextColumn, TextField

if TYPE_CHECKING:
    from rich.console import Console

    from albertctl.corpus import CorpusStats
    from albertctl.vocab import BuildVocabReport

# The reference symbols, spelled out here too so --help shows them without importing the library.
_DEFAULT_USER_SYMBOLS = '( ) " - . \u2013 \u00a3 \u20ac'


def parse_user_symbols(values: list[str] | None) -> tuple[str, ...] | None:
    """``--user-symbols`` values -> symbols: each value is split on whitespace (commas are kept,
    since ``,`` is a valid symbol); ``None`` means the reference default; ``""`` means none."""
    if values is None:
        return None
    return tuple(symbol for value in values for symbol in value.split())


def build_vocab_command(
    inputs: CorpusInputs,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output directory (vocab dir).", show_default=False)
    ],
    vocab_size: Annotated[int, typer.Option("--vocab-size", min=2, help="Pieces in the vocabulary.")] = 30000,
    model_type: Annotated[
        str, typer.Option("--model-type", help="SentencePiece algorithm: unigram (as released) or bpe.")
    ] = "unigram",
    lower: Annotated[
        bool, typer.Option("--lower/--no-lower", help="Lower-case text (released English models do).")
    ] = True,
    keep_accents: Annotated[
        bool, typer.Option("--keep-accents", help="Keep accents instead of NFKD + dropping combining marks.")
    ] = False,
    map_quotes: Annotated[
        bool, typer.Option("--map-quotes/--no-map-quotes", help="Map `` and '' to \" (as transformers does).")
    ] = True,
    character_coverage: Annotated[
        float,
        typer.Option(
            "--character-coverage", help="Share of characters covered; ~0.9995 for Chinese/Japanese."
        ),
    ] = 0.99995,
    input_sentence_size: Annotated[
        int,
        typer.Option("--input-sentence-size", min=1, help="Most lines sampled for training; bounds memory."),
    ] = 10_000_000,
    user_symbols: Annotated[
        list[str] | None,
        typer.Option(
            "--user-symbols",
            help="Symbols always split out, space-separated, repeatable ('' for none). "
            f"Default: {_DEFAULT_USER_SYMBOLS}",
            show_default=False,
        ),
    ] = None,
    seed: Seed = 12345,
    threads: Annotated[int, typer.Option("--threads", min=1, help="SentencePiece trainer threads.")] = 1,
    text_field: TextField = "text",
    text_column: TextColumn = "text",
    errors: Annotated[
        str,
        typer.Option(
            "--errors", help="strict: stop at non-UTF-8 bytes; skip: drop such lines and count them."
        ),
    ] = "strict",
    overwrite: Overwrite = False,
) -> None:
    """Train an ALBERT SentencePiece vocabulary (spiece.model, ids as the released models)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    from albertctl.vocab import REFERENCE_USER_SYMBOLS, BuildVocabConfig, build_vocab
    from albertctl.vocab.build import total_bytes

    symbols = parse_user_symbols(user_symbols)
    config = BuildVocabConfig(
        vocab_size=vocab_size,
        model_type=model_type,  # type: ignore[arg-type]  # validated in __post_init__
        lower=lower,
        keep_accents=keep_accents,
        map_quotes=map_quotes,
        character_coverage=character_coverage,
        input_sentence_size=input_sentence_size,
        user_symbols=REFERENCE_USER_SYMBOLS if symbols is None else symbols,
        seed=seed,
        threads=threads,
        text_field=text_field,
        text_column=text_column,
        errors=errors,  # type: ignore[arg-type]  # validated in __post_init__
    )
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

    status = console.status("training SentencePiece ...", spinner="dots")

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


def _render(report: BuildVocabReport, console: Console) -> None:
    from rich.table import Table

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("vocab", f"{report.out_dir} ({report.vocab_size:,} pieces)")
    table.add_row("read", f"{report.files} file(s), {report.documents:,} documents, {report.lines:,} lines")
    table.add_row("sampled", f"{report.sampled_lines:,} lines")
    if report.skipped_lines:
        table.add_row("skipped", f"{report.skipped_lines:,} non-UTF-8 lines")
    table.add_row("time", f"read {report.read_seconds:.1f}s, train {report.train_seconds:.1f}s")
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``build-vocab`` to ``app``."""
    app.command("build-vocab")(build_vocab_command)
