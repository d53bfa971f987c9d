"""The `pipeline` and `demo-data` commands: the whole chain from one TOML file, and the demo's inputs.

``albertctl pipeline CONFIG.toml`` builds the typed config of every stage from the file
(:func:`albertctl.pipeline.build_stages`), runs demo-data -> build-vocab -> make-data -> pretrain
-> finetune glue (+ a from-scratch baseline) as in-process library calls, skipping stages whose
output fingerprint matches, and prints one line per stage (pretraining: its live progress bar),
then the results table from the stages' reports. ``albertctl demo-data OUT`` writes the embedded
corpus (or a split of ``--corpus``) and the CoLA-layout task derived from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from albertctl.cli.options import Overwrite, Seed


def known_flags() -> dict[str, set[str]]:
    """The keys each stage table of the pipeline config accepts: the stage command's flag names
    without ``--`` (:func:`albertctl.pipeline.table_keys`)."""
    from albertctl.pipeline import table_keys

    return {table: set(keys) for table, keys in table_keys().items()}


class _Live:
    """What a running stage shows: pretraining's live progress bar (the pretrain command's own),
    else a one-line spinner with the stage's latest progress text; both gone once it is done."""

    def __init__(self) -> None:
        from albertctl.cli.pretrain import _Display

        self.console = Console(stderr=True, highlight=False)
        self.display = _Display(enabled=True)
        self.status: Any = None

    def __enter__(self) -> _Live:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def on_event(self, event: Any) -> None:
        self.display.on_event(event)

    def log(self, text: str) -> None:
        if self.status is None:
            self.status = self.console.status(text, spinner="dots")
            self.status.start()
        else:
            self.status.update(text)

    def stop(self) -> None:
        self.display.__exit__(None, None, None)
        if self.status is not None:
            self.status.stop()
            self.status = None


def pipeline(
    config: Annotated[Path, typer.Argument(help="Pipeline TOML file (see configs/demo.toml).")],
    out: Annotated[Path | None, typer.Option("--out", help="Run directory; overrides [run] out.")] = None,
    corpus: Annotated[
        list[Path] | None,
        typer.Option("--corpus", help="Corpus .txt/.txt.gz file (repeatable); overrides [inputs] corpus."),
    ] = None,
    glue_dir: Annotated[
        Path | None, typer.Option("--glue-dir", help="GLUE data directory; overrides [inputs] glue_dir.")
    ] = None,
    tasks: Annotated[
        str | None, typer.Option("--tasks", help="Comma-separated GLUE tasks; overrides [inputs].")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="Override one value: TABLE.KEY=VALUE, e.g. pretrain.max-steps=100 (repeatable)."
        ),
    ] = None,
    force: Annotated[
        list[str] | None,
        typer.Option("--force", help="Rerun this stage even when it is up to date (repeatable)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show which stages would run, run nothing.")
    ] = False,
) -> None:
    """Run the whole chain described by CONFIG.toml; stages whose output is up to date are skipped."""
    from albertctl import pipeline as pl

    overrides = list(set_ or [])
    if out is not None:
        overrides.append(f"run.out={_toml_string(str(out))}")
    if corpus:
        overrides.append("inputs.corpus=[" + ", ".join(_toml_string(str(p)) for p in corpus) + "]")
    if glue_dir is not None:
        overrides.append(f"inputs.glue_dir={_toml_string(str(glue_dir))}")
    if tasks is not None:
        overrides.append(
            "inputs.tasks=[" + ", ".join(_toml_string(t.strip()) for t in tasks.split(",")) + "]"
        )
    settings = pl.apply_overrides(pl.load_config(config), overrides)
    # Every stage's settings are resolved and checked here, before the first stage runs.
    stages = pl.build_stages(settings)

    console = Console(highlight=False)

    def done(stage: pl.Stage, report: Any) -> None:
        live.stop()
        for line in _report_lines(report):
            console.print(line, markup=False)

    with _Live() as live:
        results = pl.run_stages(
            stages,
            force=list(force or []),
            dry_run=dry_run,
            hooks=pl.Hooks(on_event=live.on_event, log=live.log),
            on_stage=lambda stage, action: console.print(f"[bold cyan]{stage.name}[/]: {action}"),
            on_done=done,
        )
    console.print(_stage_table(results))
    if not dry_run:
        out_dir = Path(settings.get("run", {}).get("out", "pipeline-out"))
        summary = pl.summarize_run(out_dir, results)
        pl.write_summary(out_dir, summary)
        console.print(_results_table(summary))
        console.print(_next_steps(summary))


def _report_lines(report: Any) -> list[str]:
    """A stage's short summary, from the report its library call returned."""
    from albertctl.data.build import MakeDataReport
    from albertctl.demo import DemoDataReport
    from albertctl.glue.finetune import FinetuneReport
    from albertctl.train.pretrain import PretrainReport
    from albertctl.vocab import BuildVocabReport

    if isinstance(report, DemoDataReport):
        train, held = report.train, report.heldout
        rows = ", ".join(f"{s['rows']:,} {name}" for name, s in report.task.items())
        return [
            f"  {train['bytes'] / 1e6:.2f} MB / {train['documents']:,} documents to pretrain on, "
            f"{held['bytes'] / 1e6:.2f} MB / {held['documents']:,} held out",
            f"  CoLA-layout task: {rows} rows",
        ]
    if isinstance(report, BuildVocabReport):
        return [
            f"  {report.vocab_size:,} pieces from {report.documents:,} documents ({report.sampled_lines:,} "
            f"lines; read {report.read_seconds:.1f} s, train {report.train_seconds:.1f} s)"
        ]
    if isinstance(report, MakeDataReport):
        totals = report.manifest["totals"]
        return [f"  warning: {w}" for w in report.warnings] + [
            f"  {totals['rows']:,} instances, {totals['tokens']:,} tokens in {totals['shards']} shards"
        ]
    if isinstance(report, PretrainReport):
        held = report.eval
        shown = f"; held-out MLM accuracy {held['mlm_acc']:.1%}, SOP {held['sop_acc']:.1%}" if held else ""
        return [f"  {report.final_step} steps{shown}"]
    if isinstance(report, FinetuneReport):
        lines = []
        for name, task in report.results["tasks"].items():
            metric, seeds = task["metrics"][0], [s["seed"] for s in task["seeds"]]
            best = task["best"][metric]
            spread = f" ± {best['std']:.3f}" if len(seeds) > 1 else ""
            lines.append(
                f"  {name}: best dev {metric} {best['mean']:.3f}{spread} "
                f"(seed{'s' if len(seeds) > 1 else ''} {','.join(map(str, seeds))})"
            )
        return lines
    return []


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _stage_table(results: list) -> Table:
    table = Table(title="pipeline stages")
    table.add_column("stage")
    table.add_column("action")
    table.add_column("seconds", justify="right")
    table.add_column("fingerprint")
    for result in results:
        table.add_row(result.name, result.action, f"{result.seconds:.1f}", result.fingerprint[:12])
    return table


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _results_table(summary: dict) -> Table:
    """One table: the held-out pretraining metrics, then per task pretrained vs from scratch."""
    # No vertical rules: the table fits 80 columns with mean ± std cells.
    table = Table(
        title="albertctl pipeline: results", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False
    )
    table.add_column("measured on", no_wrap=True)
    table.add_column("metric", no_wrap=True)
    table.add_column("pretrained", justify="right")
    table.add_column("from scratch", justify="right")
    table.add_column("gain", justify="right")
    heldout = summary["heldout"]
    for key, label in (("mlm_accuracy", "MLM accuracy"), ("sop_accuracy", "SOP accuracy")):
        table.add_row("held-out text", label, _fmt(heldout.get(key)), "", "")
    for task in summary["tasks"]:
        pre, scratch = task["pretrained"], task["scratch"]
        paired = task.get("paired") or {}
        if len(paired.get("seeds", [])) >= 2:
            table.add_row(
                f"{task['task']} dev",
                f"best {task['metric']}",
                f"{paired['pretrained_mean']:.3f} ± {paired['pretrained_std']:.3f}",
                f"{paired['scratch_mean']:.3f} ± {paired['scratch_std']:.3f}",
                f"{paired['gain']:+.3f} ± {paired['gain_se']:.3f}",
            )
            continue
        gain = f"{pre - scratch:+.3f}" if pre is not None and scratch is not None else ""
        table.add_row(f"{task['task']} dev (best)", task["metric"], _fmt(pre), _fmt(scratch), gain)
    return table


def _verdicts(summary: dict) -> list[str]:
    """One line per task with several seeds: is the gain clear of the seed-to-seed noise?"""
    from albertctl.pipeline import CLEAR_GAIN_SE

    lines = []
    for task in summary["tasks"]:
        paired = task.get("paired") or {}
        if len(paired.get("seeds", [])) < 2:
            continue
        gain, se = paired["gain"], paired["gain_se"]
        ratio = f"{gain / se:+.1f} s.e." if se else ("every seed equal" if gain == 0 else "no spread")
        verdict = (
            "a clear gain from pretraining"
            if paired["clear"]
            else f"no clear gain (not {CLEAR_GAIN_SE:g} standard errors above zero)"
        )
        seeds = ",".join(str(k) for k in paired["seeds"])
        lines.append(
            f"{task['task']}: {verdict}. Sides: mean ± std over seeds {seeds}; gain: paired by seed "
            f"± standard error, {gain:+.3f} ± {se:.3f} ({ratio})"
        )
    return lines


def _next_steps(summary: dict) -> str:
    corpus = summary.get("corpus") or {}
    lines = _verdicts(summary)
    if corpus:
        train, held = corpus["train"], corpus["heldout"]
        lines.append(
            f"corpus: {train['bytes'] / 1e6:.2f} MB / {train['documents']:,} documents pretrained on, "
            f"{held['bytes'] / 1e6:.2f} MB / {held['documents']:,} held out ({corpus['source']})"
        )
    lines.append(f"run directory: [bold]{summary['out']}[/] (rerun: up-to-date stages are skipped)")
    lines += ["[bold]next:[/]"] + [f"  {cmd}" for cmd in summary["next"]]
    return "\n".join(lines)


def demo_data(
    out: Annotated[Path, typer.Argument(help="Output directory: train.txt, heldout.txt, glue/CoLA/*.tsv.")],
    corpus: Annotated[
        list[Path] | None,
        typer.Option("--corpus", help="Split this .txt/.txt.gz corpus instead of harvesting (repeatable)."),
    ] = None,
    max_mb: Annotated[
        float,
        typer.Option(
            "--max-mb", min=0.01, help="Harvest until this many MB of cleaned text (embedded only)."
        ),
    ] = 4.0,
    heldout_percent: Annotated[
        int,
        typer.Option(
            "--heldout-percent", min=5, max=50, help="Percent of documents kept out of pretraining."
        ),
    ] = 20,
    packages: Annotated[
        str | None,
        typer.Option(
            "--packages",
            help="Comma list of installed packages whose docstrings follow the stdlib's "
            "(default: numpy,torch,rich,typer,click,pyarrow,sentencepiece).",
        ),
    ] = None,
    max_train_examples: Annotated[
        int, typer.Option("--max-train-examples", help="Cap on the task's train rows.")
    ] = 4000,
    max_dev_examples: Annotated[
        int, typer.Option("--max-dev-examples", help="Cap on dev (and test) rows.")
    ] = 1000,
    corruption: Annotated[
        str,
        typer.Option(
            "--corruption",
            help="Label-0 sentences: shuffle (inner words), swap (two) or replace (a quarter of them).",
        ),
    ] = "shuffle",
    seed: Seed = 12345,
    overwrite: Overwrite = False,
) -> None:
    """Write the demo inputs: a corpus harvested from installed docs (or --corpus) and a CoLA-layout task."""
    from albertctl.demo import DEFAULT_PACKAGES, DemoDataConfig, build_demo_data

    names = (
        DEFAULT_PACKAGES if packages is None else tuple(n.strip() for n in packages.split(",") if n.strip())
    )
    config = DemoDataConfig(
        max_bytes=int(max_mb * 1e6),
        packages=names,
        heldout_percent=heldout_percent,
        max_train_examples=max_train_examples,
        max_dev_examples=max_dev_examples,
        corruption=corruption,
        seed=seed,
    )
    report = build_demo_data(out, config, corpus=list(corpus or []), overwrite=overwrite)
    table = Table(title=f"demo data: {out}")
    table.add_column("part")
    table.add_column("documents", justify="right")
    table.add_column("lines", justify="right")
    table.add_column("MB", justify="right")
    for name, stats in (
        ("pretraining (train.txt)", report.train),
        ("held out (heldout.txt)", report.heldout),
    ):
        table.add_row(
            name, f"{stats['documents']:,}", f"{stats['segments']:,}", f"{stats['bytes'] / 1e6:.2f}"
        )
    console = Console(highlight=False)
    console.print(table)
    task = ", ".join(
        f"{name} {s['rows']:,} rows ({s['label_1']:,} acceptable)" for name, s in report.task.items()
    )
    console.print(f"source: {report.source} ({report.harvest_seconds:.1f} s)\nCoLA-layout task: {task}")


def register(app: typer.Typer) -> None:
    """Add ``pipeline`` and ``demo-data`` to ``app``."""
    app.command("pipeline")(pipeline)
    app.command("demo-data")(demo_data)
