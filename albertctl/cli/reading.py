"""``finetune|eval|predict squad`` and ``finetune|eval|predict race``: reading comprehension.

Flags -> :class:`~albertctl.squad.config.SquadFinetuneConfig` /
:class:`~albertctl.race.config.RaceFinetuneConfig` -> :func:`~albertctl.squad.finetune.finetune_squad`
/ :func:`~albertctl.race.finetune.finetune_race` -> a table of best and final dev metrics.
``predict`` writes the official answer files; ``eval squad`` scores any predictions file. See
docs/reading.md.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from albertctl.cli.finetune import _Model, _Vocab, eval_app, finetune_app, predict_app
from albertctl.cli.options import AllowVocabMismatch, Device, Overwrite, Precision
from albertctl.race.config import RaceFinetuneConfig, RaceOptions
from albertctl.settings import argument, command, extra, options, values_for
from albertctl.squad.config import SquadFinetuneConfig, SquadOptions

if TYPE_CHECKING:
    from rich.table import Table


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _path_option(flag: str, help_: str, *, required: bool = True) -> Any:
    kind = Path if required else Path | None
    return Annotated[kind, typer.Option(flag, help=help_, show_default=False)]


_Out = _path_option("--out", "Output directory.")
_Which = Annotated[str, typer.Option("--which", help="best or final (for a finetune output dir).")]
_FtModel = _path_option(
    "--model", "Fine-tuned checkpoint folder, a finetune output dir, or a transformers dir."
)


def results_table(results: dict[str, Any], *, title: str, percent: bool) -> Table:
    """One row per checkpoint kind (best, final): each metric, mean ± std over seeds."""
    from rich.table import Table

    table = Table(title=title)
    (task,) = results["tasks"].values()
    names = [m for m in task["metrics"] if not m.endswith("_thresh")]
    table.add_column("checkpoint")
    for name in names:
        table.add_column(name, justify="right")
    table.add_column("step", justify="right")
    scale = 100.0 if percent else 1.0
    several = len(task["seeds"]) > 1
    for which in ("best", "final"):
        cells = []
        for name in names:
            entry = task[which][name]
            cell = f"{scale * entry['mean']:.2f}"
            cells.append(cell + (f" ± {scale * entry['std']:.2f}" if several else ""))
        steps = ",".join(str(s[which]["step"]) for s in task["seeds"])
        table.add_row(which, *cells, steps)
    return table


def _metrics_table(title: str, metrics: dict[str, float], *, percent: bool) -> Table:
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in metrics.items():
        shown = f"{value:.4f}" if name.endswith("_thresh") else f"{(100 if percent else 1) * value:.2f}"
        table.add_row(name, shown)
    return table


# -- SQuAD ----------------------------------------------------------------------------------------


def finetune_span(
    *,
    config_class: type,
    benchmark: str,
    title: str,
    exclude: tuple[str, ...] = (),
    train_file: Path,
    dev_file: Path,
    model: Path,
    out: Path,
    vocab: Path | None,
    allow_vocab_mismatch: bool,
    overwrite: bool,
    **settings: Any,
) -> None:
    """The body of ``finetune squad`` and ``finetune cmrc2018`` (bound with functools.partial):
    ``title`` may name ``{version}``."""
    from albertctl.squad.finetune import finetune_squad

    config = config_class(**values_for(config_class, settings, exclude=exclude))
    console = _console()
    report = finetune_squad(
        config,
        train_file=train_file,
        dev_file=dev_file,
        model_path=model,
        out=out,
        vocab=vocab,
        allow_vocab_mismatch=allow_vocab_mismatch,
        overwrite=overwrite,
        log=lambda line: console.print(line, markup=False),
        benchmark=benchmark,
    )
    shown = title.format(version=config.version)
    console.print(results_table(report.results, title=shown, percent=False))
    console.print(f"wrote {report.out / 'results.json'}")


finetune_squad_command = command(
    functools.partial(
        finetune_span,
        config_class=SquadFinetuneConfig,
        benchmark="squad",
        title="SQuAD {version} dev (best: best-on-dev checkpoint; final: last step)",
    ),
    params=[
        argument("train_file", _path_option("--train-file", "SQuAD training file (official JSON).")),
        argument("dev_file", _path_option("--dev-file", "SQuAD dev file: picks the best checkpoint.")),
        argument("model", _Model),
        argument("out", _Out),
        extra("vocab", _Vocab),
        *options(SquadFinetuneConfig),
        extra("allow_vocab_mismatch", AllowVocabMismatch, False),
        extra("overwrite", Overwrite, False),
    ],
    doc="Fine-tune MODEL on SQuAD v1.1 or v2.0; write OUT/results.json and the best and final checkpoints.",
)


def predict_span(
    *,
    options_class: type,
    benchmark: str,
    label: str,
    exclude: tuple[str, ...] = (),
    model: Path,
    input_file: Path,
    out: Path,
    which: str,
    batch_size: int,
    precision: str,
    device: str,
    vocab: Path | None,
    overwrite: bool,
    **given: Any,
) -> None:
    """The body of ``predict squad`` and ``predict cmrc2018`` (bound with functools.partial):
    ``label`` may name ``{version}``."""
    from albertctl.squad.finetune import predict_squad

    report = predict_squad(
        model,
        input_file,
        out,
        which=which,
        batch_size=batch_size,
        device=device,
        precision=precision,
        vocab=vocab,
        overwrite=overwrite,
        benchmark=benchmark,
        **values_for(options_class, given, exclude=exclude),
    )
    console = _console()
    for name in report["files"]:
        console.print(
            f"wrote {out / name} ({report['questions']:,} questions, {report['windows']:,} windows)"
        )
    if "metrics" in report:
        title = f"{label.format(version=report['version'])} ({input_file.name})"
        console.print(_metrics_table(title, report["metrics"], percent=False))


_BatchSize = Annotated[int, typer.Option("--batch-size", help="Rows per inference batch.")]

predict_squad_command = command(
    functools.partial(predict_span, options_class=SquadOptions, benchmark="squad", label="SQuAD {version}"),
    params=[
        argument("model", _FtModel),
        argument("input_file", _path_option("--input", "SQuAD file (official JSON) to answer.")),
        argument("out", _path_option("--out", "Directory for predictions.json (and null_odds.json).")),
        extra("which", _Which, "best"),
        extra("batch_size", _BatchSize, 32),
        *options(SquadOptions, given_only=True, exclude=("skip_bad_answers",)),
        extra(
            "skip_bad_answers",
            Annotated[
                bool,
                typer.Option(
                    "--skip-bad-answers",
                    help="Drop (and count) answers whose answer_start does not match the context.",
                ),
            ],
            False,
        ),
        extra("precision", Precision, "fp32"),
        extra("device", Device, "auto"),
        extra("vocab", _Vocab),
        extra("overwrite", Overwrite, False),
    ],
    doc="Answer every question of a SQuAD file; write predictions.json (and, for 2.0, null_odds.json).",
)


def eval_squad_command(
    dev_file: Annotated[
        Path, typer.Option("--dev-file", help="SQuAD dev file (official JSON).", show_default=False)
    ],
    predictions: Annotated[
        Path,
        typer.Option("--predictions", help="predictions.json: {question id: answer}.", show_default=False),
    ],
    null_odds: Annotated[
        Path | None,
        typer.Option(
            "--null-odds",
            help="SQuAD 2.0: null_odds.json, for the best-threshold scores.",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        str | None,
        typer.Option("--version", help="1.1 or 2.0 (default: the dev file's).", show_default=False),
    ] = None,
) -> None:
    """Score a predictions file (ours or another tool's) with the official SQuAD metrics."""
    from albertctl.squad.metrics import evaluate_files

    metrics = evaluate_files(dev_file, predictions, null_odds, version=version)
    _console().print(_metrics_table(f"SQuAD ({dev_file.name})", metrics, percent=False))


# -- RACE -----------------------------------------------------------------------------------------

_RaceData = _path_option(
    "--data-dir", "RACE folder (train|dev|test/middle|high/*.txt) or the folder of RACE_*.tar.gz."
)
_Split = Annotated[str, typer.Option("--split", help="train, dev or test.")]


def _finetune_race(
    *,
    data_dir: Path,
    model: Path,
    out: Path,
    vocab: Path | None,
    allow_vocab_mismatch: bool,
    overwrite: bool,
    **settings: Any,
) -> None:
    from albertctl.race.finetune import finetune_race

    config = RaceFinetuneConfig(**values_for(RaceFinetuneConfig, settings))
    console = _console()
    report = finetune_race(
        config,
        data_dir=data_dir,
        model_path=model,
        out=out,
        vocab=vocab,
        allow_vocab_mismatch=allow_vocab_mismatch,
        overwrite=overwrite,
        log=lambda line: console.print(line, markup=False),
    )
    title = "RACE dev accuracy, % (best: best-on-dev checkpoint; final: last step)"
    console.print(results_table(report.results, title=title, percent=True))
    console.print(f"wrote {report.out / 'results.json'}")


finetune_race_command = command(
    _finetune_race,
    params=[
        argument("data_dir", _RaceData),
        argument("model", _Model),
        argument("out", _Out),
        extra("vocab", _Vocab),
        *options(RaceFinetuneConfig),
        extra("allow_vocab_mismatch", AllowVocabMismatch, False),
        extra("overwrite", Overwrite, False),
    ],
    doc="Fine-tune MODEL on RACE train (best checkpoint on dev); write OUT/results.json and the checkpoints.",
)


def _race_inference(given: dict[str, Any]) -> dict[str, Any]:
    keys = ("which", "batch_size", "precision", "device", "vocab")
    return {**{k: given[k] for k in keys}, **values_for(RaceOptions, given)}


def _eval_race(*, model: Path, data_dir: Path, split: str, **given: Any) -> None:
    from albertctl.race.finetune import evaluate_race

    metrics = evaluate_race(model, data_dir, split=split, **_race_inference(given))
    _console().print(_metrics_table(f"RACE {split} accuracy, %", metrics, percent=True))


def _predict_race(
    *, model: Path, data_dir: Path, split: str, out: Path, overwrite: bool, **given: Any
) -> None:
    from albertctl.race.finetune import predict_race

    report = predict_race(model, data_dir, out, split=split, overwrite=overwrite, **_race_inference(given))
    console = _console()
    console.print(f"wrote {report['predictions']} ({report['questions']:,} questions)")
    metrics = {k: report[k] for k in ("accuracy", "accuracy_middle", "accuracy_high")}
    console.print(_metrics_table(f"RACE {split} accuracy, %", metrics, percent=True))


def _race_inference_params() -> list[Any]:
    return [
        extra("which", _Which, "best"),
        extra(
            "batch_size",
            Annotated[int, typer.Option("--batch-size", help="Questions per inference batch.")],
            8,
        ),
        *options(RaceOptions, given_only=True),
        extra("precision", Precision, "fp32"),
        extra("device", Device, "auto"),
        extra("vocab", _Vocab),
    ]


eval_race_command = command(
    _eval_race,
    params=[
        argument("model", _FtModel),
        argument("data_dir", _RaceData),
        extra("split", _Split, "dev"),
        *_race_inference_params(),
    ],
    doc="Score a fine-tuned model on a RACE split: accuracy on middle, high and all.",
)
predict_race_command = command(
    _predict_race,
    params=[
        argument("model", _FtModel),
        argument("data_dir", _RaceData),
        argument("out", _path_option("--out", "Directory for predictions.json.")),
        extra("split", _Split, "test"),
        *_race_inference_params(),
        extra("overwrite", Overwrite, False),
    ],
    doc="Answer every question of a RACE split; write predictions.json ({question id: A-D}).",
)


def register(app: typer.Typer) -> None:
    """Add ``squad`` and ``race`` to the ``finetune``, ``eval`` and ``predict`` groups."""
    del app  # the groups are already on the app (cli.finetune.register)
    finetune_app.command("squad")(finetune_squad_command)
    finetune_app.command("race")(finetune_race_command)
    eval_app.command("squad")(eval_squad_command)
    eval_app.command("race")(eval_race_command)
    predict_app.command("squad")(predict_squad_command)
    predict_app.command("race")(predict_race_command)
