"""``finetune|predict|eval cmrc2018``: CMRC 2018, Chinese span extraction on the SQuAD machinery.

Flags -> :class:`~albertctl.squad.cmrc_config.CmrcFinetuneConfig` ->
:func:`~albertctl.squad.finetune.finetune_squad` (``benchmark="cmrc2018"``) -> a table of best
and final dev F1 / EM / average. ``predict`` writes ``predictions.json`` ({question id: answer},
what the official script reads); ``eval`` scores any such file with CMRC's official metric and
prints the script's own line. See docs/reading.md.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Annotated

import typer

from albertctl.cli.finetune import _Model, _Vocab, eval_app, finetune_app, predict_app
from albertctl.cli.options import AllowVocabMismatch, Device, Overwrite, Precision
from albertctl.cli.reading import (
    _BatchSize,
    _console,
    _FtModel,
    _metrics_table,
    _Out,
    _path_option,
    _Which,
    finetune_span,
    predict_span,
)
from albertctl.settings import argument, command, extra, options
from albertctl.squad.cmrc_config import CmrcFinetuneConfig, CmrcOptions

BENCHMARK = "cmrc2018"
_NOT_FLAGS = ("version",)  # CMRC 2018 is 1.1-style: no version, no null threshold
_PREDICT_EXCLUDE = ("version", "null_threshold", "skip_bad_answers")


finetune_cmrc_command = command(
    functools.partial(
        finetune_span,
        config_class=CmrcFinetuneConfig,
        benchmark=BENCHMARK,
        title="CMRC 2018 dev (best: best-on-dev checkpoint; final: last step)",
        exclude=_NOT_FLAGS,
    ),
    params=[
        argument("train_file", _path_option("--train-file", "CMRC 2018 training file (SQuAD-style JSON).")),
        argument("dev_file", _path_option("--dev-file", "CMRC 2018 dev file: picks the best checkpoint.")),
        argument("model", _Model),
        argument("out", _Out),
        extra("vocab", _Vocab),
        *options(CmrcFinetuneConfig, exclude=_NOT_FLAGS),
        extra("allow_vocab_mismatch", AllowVocabMismatch, False),
        extra("overwrite", Overwrite, False),
    ],
    doc="Fine-tune MODEL on CMRC 2018; write OUT/results.json and the best and final checkpoints.",
)


predict_cmrc_command = command(
    functools.partial(
        predict_span,
        options_class=CmrcOptions,
        benchmark=BENCHMARK,
        label="CMRC 2018",
        exclude=_PREDICT_EXCLUDE,
    ),
    params=[
        argument("model", _FtModel),
        argument("input_file", _path_option("--input", "CMRC 2018 file (SQuAD-style JSON) to answer.")),
        argument("out", _path_option("--out", "Directory for predictions.json.")),
        extra("which", _Which, "best"),
        extra("batch_size", _BatchSize, 32),
        *options(CmrcOptions, given_only=True, exclude=_PREDICT_EXCLUDE),
        extra("precision", Precision, "fp32"),
        extra("device", Device, "auto"),
        extra("vocab", _Vocab),
        extra("overwrite", Overwrite, False),
    ],
    doc="Answer every question of a CMRC 2018 file; write predictions.json ({question id: answer}).",
)


def eval_cmrc_command(
    dev_file: Annotated[
        Path,
        typer.Option(
            "--dev-file", help="CMRC 2018 file with answers (SQuAD-style JSON).", show_default=False
        ),
    ],
    predictions: Annotated[
        Path,
        typer.Option("--predictions", help="predictions.json: {question id: answer}.", show_default=False),
    ],
) -> None:
    """Score a predictions file (ours or another tool's) with CMRC 2018's official metric."""
    from albertctl.squad.cmrc import evaluate_cmrc_files, official_output

    scores = evaluate_cmrc_files(dev_file, predictions)
    console = _console()
    shown = {k: scores[k] for k in ("f1", "em", "average")}
    console.print(_metrics_table(f"CMRC 2018 ({dev_file.name})", shown, percent=False))
    # The official script's line, so results can be compared with published ones character for character.
    console.print(json.dumps(official_output(scores, str(predictions)), ensure_ascii=False), markup=False)


def register(app: typer.Typer) -> None:
    """Add ``cmrc2018`` to the ``finetune``, ``eval`` and ``predict`` groups."""
    del app  # the groups are already on the app (cli.finetune.register)
    finetune_app.command(BENCHMARK)(finetune_cmrc_command)
    eval_app.command(BENCHMARK)(eval_cmrc_command)
    predict_app.command(BENCHMARK)(predict_cmrc_command)
