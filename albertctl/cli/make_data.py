"""``albertctl make-data``, ``inspect-data`` and ``merge-data``: pretraining shards and their checks.

Flags -> :class:`~albertctl.data.build.MakeDataConfig` -> :func:`~albertctl.data.build.build_pretraining_data`
-> a rich summary. Reads the corpus files and ``--vocab``; writes ``--out`` (see docs/data-format.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from albertctl.cli.options import CorpusInputs, Overwrite, Verify, Workers
from albertctl.data.config import MakeDataConfig
from albertctl.settings import argument, command, extra, options, values_for

if TYPE_CHECKING:
    from albertctl.data.inspection import DataInspection, ShownToken


def _make_data(
    *, inputs: list[str], vocab: Path, out: Path, workers: int, overwrite: bool, **settings: Any
) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from albertctl.corpus import resolve_inputs, total_input_bytes
    from albertctl.data.build import build_pretraining_data

    config = MakeDataConfig(**values_for(MakeDataConfig, settings))
    shard_size, num_parts = config.shard_size_mb, config.num_parts
    console = Console(stderr=True)
    # Groups are cut while streaming; the total is an estimate from the input size.
    estimate = max(1, round(total_input_bytes(resolve_inputs(inputs)) / (shard_size * 1e6) / num_parts))
    progress = Progress(
        TextColumn("[bold]building[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("groups"),
        TimeElapsedColumn(),
        console=console,
    )
    task = progress.add_task("build", total=estimate)

    def on_group(done: int) -> None:
        if not progress.live.is_started:
            progress.start()
        progress.update(task, completed=done, total=max(estimate, done))

    try:
        report = build_pretraining_data(
            inputs, vocab, out, config, workers=workers, overwrite=overwrite, on_group=on_group
        )
    finally:
        progress.stop()
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    totals = report.manifest["totals"]
    if report.resumed_groups:
        console.print(f"resumed: {report.resumed_groups} groups were already built")
    swapped = totals["sop_swapped"] / max(1, totals["rows"])
    Console().print(
        f"[bold green]wrote[/] {out}: {totals['rows']:,} instances, {totals['tokens']:,} tokens in "
        f"{totals['shards']} shards ({totals['documents']:,} documents, {totals['long_segments']:,} "
        f"segments longer than the sequence truncated; SOP swapped {swapped:.1%})"
    )


make_data_command = command(
    _make_data,
    params=[
        argument("inputs", CorpusInputs),
        argument("vocab", Annotated[Path, typer.Option("--vocab", help="Vocabulary dir from build-vocab.")]),
        argument("out", Annotated[Path, typer.Option("--out", "-o", help="Output data directory.")]),
        *options(MakeDataConfig),
        extra("workers", Workers, 1),
        extra("overwrite", Overwrite, False),
    ],
    doc="Build sharded Arrow pretraining data (SOP pairs, whole-word n-gram masks); rerun to resume.",
)


def _format_tokens(tokens: list[ShownToken]) -> str:
    """Pieces joined with spaces; masked positions as [bold]shown[/](original)."""
    from rich.markup import escape

    parts = []
    for token in tokens:
        if token.original is None:
            parts.append(escape(token.piece))
        else:
            parts.append(f"[bold red]{escape(token.piece)}[/][dim]({escape(token.original)})[/]")
    return " ".join(parts)


def _describe_part(manifest: dict) -> str:
    if manifest["num_parts"] == 1:
        return "whole build"
    if manifest["part_index"] is None:
        return f"merged from {manifest['num_parts']} parts"
    return f"part {manifest['part_index']} of 0..{manifest['num_parts'] - 1}"


def _render_inspection(report: DataInspection) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    manifest = report.manifest
    summary = Table(title="pretraining data", show_header=False)
    in_order, swapped = report.sop_counts
    mean, low, high = report.masks_per_instance
    for key, value in (
        ("shards", f"{len(manifest['shards'])}"),
        ("instances", f"{report.rows:,}"),
        ("tokens", f"{report.tokens:,}"),
        ("vocab size", f"{manifest['vocab_size']:,}"),
        ("max seq length / predictions", f"{manifest['max_seq_length']} / {manifest['max_predictions']}"),
        (
            "SOP in order / swapped",
            f"{in_order:,} / {swapped:,} ({swapped / max(1, report.rows):.1%} swapped)",
        ),
        ("masks per instance", f"mean {mean:.2f}, min {low}, max {high}"),
        ("part", _describe_part(manifest)),
    ):
        summary.add_row(key, value)
    console.print(summary)
    histogram = Table(title="instance length")
    histogram.add_column("tokens")
    histogram.add_column("instances", justify="right")
    histogram.add_column("")
    peak = max((c for _, _, c in report.length_histogram), default=1) or 1
    for low_edge, high_edge, count in report.length_histogram:
        histogram.add_row(f"{low_edge}-{high_edge - 1}", f"{count:,}", "█" * round(30 * count / peak))
    console.print(histogram)
    examples = Table(
        title="first instances (masked: [bold red]on disk[/][dim](original)[/])", show_lines=True
    )
    examples.add_column("SOP")
    examples.add_column("A")
    examples.add_column("B")
    for label, tokens in report.examples:
        a = [t for t in tokens if t.segment == 0]
        b = [t for t in tokens if t.segment == 1]
        examples.add_row("swapped" if label else "in order", _format_tokens(a), _format_tokens(b))
    console.print(examples)


def inspect_data_command(
    data_dir: Annotated[Path, typer.Argument(help="A make-data output directory.", show_default=False)],
    examples: Annotated[int, typer.Option("--examples", "-n", min=0, help="Decoded instances to show.")] = 3,
    verify: Verify = True,
) -> None:
    """Totals, length histogram, SOP balance, masks per instance and decoded instances of a data dir."""
    from albertctl.data.inspection import inspect_data

    _render_inspection(inspect_data(data_dir, num_examples=examples, verify=verify))


def merge_data_command(
    parts: Annotated[
        list[Path], typer.Argument(help="The part directories of one build.", show_default=False)
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Merged data directory.", show_default=False)],
    overwrite: Overwrite = False,
    verify: Verify = True,
) -> None:
    """Merge the outputs of `make-data --num-parts P --part-index K` (K = 0..P-1) into one dataset."""
    from rich.console import Console

    from albertctl.data.build import merge_parts

    manifest = merge_parts(parts, out, overwrite=overwrite, verify=verify)
    rows, shards = manifest["totals"]["rows"], len(manifest["shards"])
    Console().print(f"[bold green]wrote[/] {out}: {rows:,} instances in {shards} shards")


def register(app: typer.Typer) -> None:
    """Add ``make-data``, ``inspect-data`` and ``merge-data`` to ``app``."""
    app.command("make-data")(make_data_command)
    app.command("inspect-data")(inspect_data_command)
    app.command("merge-data")(merge_data_command)
