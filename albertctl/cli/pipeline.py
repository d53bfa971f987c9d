"""The `pipeline` and `demo-data` commands: the whole chain from one TOML file, and the demo's inputs.

``albertctl pipeline CONFIG.toml`` runs demo-data -> build-vocab -> make-data -> pretrain ->
finetune glue (+ a from-scratch baseline) in-process, skipping stages whose output fingerprint
matches, then prints the results table. ``albertctl demo-data OUT`` writes the embedded corpus
(or a split of ``--corpus``) and the CoLA-layout task derived from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from albertctl.cli.options import Overwrite, Seed

_STAGE_COMMANDS = {
    "demo_data": ("demo-data",),
    "vocab": ("build-vocab",),
    "data": ("make-data",),
    "eval_data": ("make-data",),
    "pretrain": ("pretrain",),
    "finetune": ("finetune", "glue"),
}


def run_cli(argv: list[str]) -> None:
    """Run one ``albertctl`` command in this process; raise if it exits non-zero."""
    from albertctl.cli import main
    from albertctl.errors import AlbertctlError

    Console(stderr=True, highlight=False).print(f"[bold]$ albertctl {' '.join(argv)}[/]")
    try:
        main(argv)
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise AlbertctlError(
                f"`albertctl {' '.join(argv)}` failed (exit code {exc.code})",
                hint="fix the error printed above and rerun the pipeline; finished stages are skipped",
            ) from None


def check_stage_argv(stages: list) -> None:
    """Parse every stage's command line as its command will, before the first stage runs: a
    value of the wrong type or out of range (``vocab-size = "big"``, ``max-steps = 4.5``, a bad
    ``--set``) is one error naming the stage, not a failure after earlier stages ran."""
    from albertctl.cli import _USAGE_ERROR, app
    from albertctl.errors import AlbertctlError
    from albertctl.pipeline import LATEST_CHECKPOINT

    root = typer.main.get_command(app)
    for stage in stages:
        command, args = root, list(stage.argv)
        while args and args[0] in getattr(command, "commands", {}):
            command = command.commands[args.pop(0)]  # type: ignore[attr-defined]
        # The checkpoint the pretrain stage will write does not exist yet: any path parses the same.
        args = [a[len(LATEST_CHECKPOINT) :] if a.startswith(LATEST_CHECKPOINT) else a for a in args]
        try:
            command.make_context(f"albertctl {' '.join(stage.argv[:2])}", args)
        except _USAGE_ERROR as exc:
            raise AlbertctlError(
                f"stage {stage.name}: {exc.format_message()}",
                hint="fix that key in the pipeline config (or its --set); no stage has run",
            ) from None


def known_flags() -> dict[str, set[str]]:
    """The long option names (without ``--``) each stage's command accepts, read from the typer app."""
    from albertctl.cli import app

    root = typer.main.get_command(app)
    flags: dict[str, set[str]] = {}
    for table, path in _STAGE_COMMANDS.items():
        command = root
        for name in path:
            command = getattr(command, "commands", {}).get(name)
            if command is None:
                break
        if command is None:
            continue  # that command is not registered (yet): its flags are not checked here
        flags[table] = {
            opt[2:]
            for param in command.params
            for opt in [*param.opts, *param.secondary_opts]
            if opt.startswith("--")
        }
    return flags


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
    from albertctl import demo
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
    pl.validate_config(settings, known_flags())
    fingerprint = ""
    if not settings.get("inputs", {}).get("corpus"):  # the embedded corpus: fingerprint its sources
        listed = settings.get("demo_data", {}).get("packages")
        names = (
            demo.DEFAULT_PACKAGES
            if listed is None
            else tuple(n.strip() for n in str(listed).split(",") if n.strip())
        )
        fingerprint = demo.source_fingerprint(names)
    stages = pl.build_stages(settings, source_fingerprint=fingerprint)
    check_stage_argv(stages)

    console = Console(highlight=False)
    results = pl.run_stages(
        stages,
        run_cli,
        force=list(force or []),
        dry_run=dry_run,
        on_stage=lambda stage, action: console.print(f"[bold cyan]{stage.name}[/]: {action}"),
    )
    console.print(_stage_table(results))
    if not dry_run:
        out_dir = Path(settings.get("run", {}).get("out", "pipeline-out"))
        summary = pl.summarize_run(out_dir, stages)
        pl.write_summary(out_dir, summary)
        console.print(_results_table(summary))
        console.print(_next_steps(summary))


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
