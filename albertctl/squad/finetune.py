"""``finetune squad`` and ``predict squad``: SQuAD v1.1 / v2.0 on the shared fine-tuning loop.

The span-extraction task kind: questions are read from the official JSON (:mod:`albertctl.squad.data`),
cut into ``[CLS] question [SEP] window [SEP]`` rows (:mod:`albertctl.squad.features`), the model
gives start/end logits per token (``AlbertForQuestionAnswering``, transformers' layout), and
(CE(start) + CE(end)) / 2 is trained (:class:`~albertctl.train.trainer.SpanObjective`). Every dev
evaluation runs the reference post-processing (:mod:`albertctl.squad.postprocess`) and the
official metrics (:mod:`albertctl.squad.metrics`); the best checkpoint is the one with the best
F1 (v2.0: at the configured null threshold). Each saved model carries ``squad.json`` (version,
window and post-processing settings) so ``predict squad`` rebuilds the same windows.

``benchmark="cmrc2018"`` runs CMRC 2018 (Chinese SQuAD-1.1-style spans) through the same code:
its files are read by :func:`albertctl.squad.cmrc.read_cmrc` (training answers placed at their
text), scored by CMRC's official metric (:mod:`albertctl.squad.cmrc`: ``f1``, ``em``,
``average``), trained with the CMRC baseline's preset, and saved as the task ``cmrc2018`` with
``cmrc2018.json`` beside each model. :data:`BENCHMARKS` holds what differs.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from albertctl.errors import AlbertctlError
from albertctl.finetune.loop import (
    EvalSettings,
    FinetuneReport,
    Log,
    PreparedTask,
    TaskHParams,
    resolve_hparams,
    run_finetune,
)
from albertctl.finetune.models import FineTuned, load_for_inference, resolve_finetuned
from albertctl.squad.config import PRESETS, SquadFinetuneConfig, SquadOptions

if TYPE_CHECKING:
    from torch import nn

    from albertctl.glue.tasks import Preset
    from albertctl.model import AlbertConfig
    from albertctl.squad.data import SquadData
    from albertctl.squad.features import SquadFeatures
    from albertctl.vocab import Tokenizer

TASK = "squad"
SQUAD_META = "squad.json"
HEAD = "question_answering"
ARCHITECTURE = "AlbertForQuestionAnswering"
_COUNTS = ("total", "HasAns_total", "NoAns_total", "missing", "skip")


@dataclass(frozen=True)
class Benchmark:
    """What one span-extraction benchmark changes in the SQuAD machinery."""

    name: str
    """The task name: its folder under OUT, ``results.json``'s key, the manifest's kind."""
    meta_file: str
    """Written beside each saved model: the windows and post-processing settings."""
    title: str
    """How logs name it."""


BENCHMARKS = {
    "squad": Benchmark(name=TASK, meta_file=SQUAD_META, title="squad"),
    "cmrc2018": Benchmark(name="cmrc2018", meta_file="cmrc2018.json", title="cmrc2018"),
}
"""The benchmarks ``finetune_squad`` / ``predict_squad`` run (the ``benchmark`` argument)."""


def get_benchmark(benchmark: str) -> Benchmark:
    """The :class:`Benchmark` named ``benchmark``, else one clear error."""
    if benchmark not in BENCHMARKS:
        raise AlbertctlError(
            f"unknown span-extraction benchmark {benchmark!r}", hint=f"use one of {', '.join(BENCHMARKS)}"
        )
    return BENCHMARKS[benchmark]


def predict_answers(
    model: nn.Module,
    data: SquadData,
    features: SquadFeatures,
    options: SquadOptions,
    settings: EvalSettings,
) -> tuple[dict[str, str], dict[str, float] | None]:
    """(answers {question id: text}, v2.0 null odds or None): the model over every window, then
    the reference post-processing."""
    from albertctl.squad.postprocess import postprocess
    from albertctl.squad.predict import span_logits

    logits = span_logits(
        model,
        features,
        batch_size=settings.batch_size,
        pad_id=settings.pad_id,
        device=settings.device,
        precision=settings.precision,
    )
    return postprocess(
        features,
        data,
        [start for start, _ in logits],
        [end for _, end in logits],
        n_best=options.n_best,
        max_answer_length=options.max_answer_length,
        version=options.version,
        null_threshold=options.null_threshold,
    )


def squad_scores(
    data: SquadData,
    answers: dict[str, str],
    null_odds: dict[str, float] | None,
    version: str,
    *,
    benchmark: str = "squad",
) -> dict[str, float]:
    """The official metrics (x100, as the official scripts print them), counts left out.

    ``exact``/``f1`` score the answers as written (post-processing already applied
    ``null_threshold``: no second threshold on the odds); under 2.0 ``best_*`` are the official
    dev-tuned threshold results. ``cmrc2018``: CMRC's ``f1``, ``em`` and ``average``."""
    if get_benchmark(benchmark).name == "cmrc2018":
        from albertctl.squad.cmrc import evaluate_cmrc

        scores = evaluate_cmrc(data, answers)
    else:
        from albertctl.squad.metrics import evaluate

        scores = evaluate(data, answers, null_odds, version=version, na_prob_thresh=math.inf)
    return {k: float(v) for k, v in scores.items() if k not in _COUNTS}


def _fingerprint(*features: SquadFeatures) -> str:
    digest = hashlib.sha256()
    for f in features:
        for rows in (f.input_ids, f.token_type_ids):
            for row in rows:
                digest.update(np.asarray(row, dtype=np.int64).tobytes())
        for array in (f.example_index, f.start_positions, f.end_positions):
            if array is not None:
                digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _meta(options: SquadOptions, benchmark: Benchmark) -> dict[str, Any]:
    return {"task": benchmark.name, **{f.name: getattr(options, f.name) for f in fields(SquadOptions)}}


def squad_task(
    train: SquadFeatures,
    dev_data: SquadData,
    dev: SquadFeatures,
    hp: TaskHParams,
    *,
    options: SquadOptions,
    benchmark: str = "squad",
) -> PreparedTask:
    """SQuAD's (or ``benchmark``'s) train windows and dev questions as the shared loop runs them."""
    from albertctl.train.trainer import SpanObjective

    bench = get_benchmark(benchmark)

    def evaluate(model: nn.Module, settings: EvalSettings) -> dict[str, float]:
        answers, null_odds = predict_answers(model, dev_data, dev, options, settings)
        return squad_scores(dev_data, answers, null_odds, options.version, benchmark=benchmark)

    return PreparedTask(
        name=bench.name,
        head=HEAD,
        num_labels=None,
        selection_metric="f1",
        train=train,
        evaluate=evaluate,
        objective=SpanObjective(),
        hp=hp,
        meta_file=bench.meta_file,
        meta=_meta(options, bench),
        data_fingerprint=_fingerprint(train, dev),
        dev_examples={"dev": len(dev_data.examples)},
    )


def _read(
    path: Path, options: SquadOptions, limit: int | None, *, benchmark: str = "squad", training: bool = False
) -> tuple[SquadData, int]:
    """(the questions of ``path``, the answers moved to their text: CMRC's training files only)."""
    from albertctl.squad.data import SquadData, read_squad

    moved = 0
    if get_benchmark(benchmark).name == "cmrc2018":
        from albertctl.squad.cmrc import place_answers, read_cmrc

        data = read_cmrc(path, training=False)
        if training:
            data, counts = place_answers(data, skip_bad_answers=options.skip_bad_answers)
            moved = counts["moved"]
    else:
        data = read_squad(path, version=options.version, skip_bad_answers=options.skip_bad_answers)
    if limit is not None:
        data = SquadData(
            examples=data.examples[:limit],
            source=data.source,
            version=data.version,
            file_version=data.file_version,
            bad_answers=data.bad_answers,
        )
    return data, moved


def _features(
    data: SquadData, tokenizer: Tokenizer, options: SquadOptions, *, training: bool
) -> SquadFeatures:
    from albertctl.squad.features import build_features

    return build_features(
        data,
        tokenizer,
        max_seq_length=options.max_seq_length,
        doc_stride=options.doc_stride,
        max_query_length=options.max_query_length,
        training=training,
        version=options.version,
    )


def finetune_squad(
    config: SquadFinetuneConfig,
    *,
    train_file: Path,
    dev_file: Path,
    model_path: Path,
    out: Path,
    vocab: Path | None = None,
    allow_vocab_mismatch: bool = False,
    overwrite: bool = False,
    log: Log | None = None,
    benchmark: str = "squad",
) -> FinetuneReport:
    """Fine-tune ``model_path`` on ``train_file``, select on ``dev_file``; write OUT
    (:mod:`albertctl.finetune.loop`). ``max_train_examples`` / ``max_eval_examples`` count questions.
    ``benchmark``: ``squad`` or ``cmrc2018`` (:data:`BENCHMARKS`)."""
    bench = get_benchmark(benchmark)

    def prepare(tokenizer: Tokenizer, model_config: AlbertConfig) -> list[PreparedTask]:
        train_data, moved = _read(
            train_file, config, config.max_train_examples, benchmark=benchmark, training=True
        )
        dev_data, _ = _read(dev_file, config, config.max_eval_examples, benchmark=benchmark)
        train = _features(train_data, tokenizer, config, training=True)
        if not len(train):
            raise AlbertctlError(
                f"{train_file}: no training window holds an answer ({len(train_data.examples)} questions)",
                hint="check the file, or raise --max-seq-length",
            )
        dev = _features(dev_data, tokenizer, config, training=False)
        if log is not None:
            skipped = f", {train.skipped_examples:,} questions without a usable answer skipped"
            bad = f", {train_data.bad_answers:,} bad answers dropped" if train_data.bad_answers else ""
            bad += f", {moved:,} misplaced answers moved to their text" if moved else ""
            label = f"squad {config.version}" if bench.name == TASK else bench.title
            log(
                f"{label}: {len(train_data.examples):,} train questions -> {len(train):,} "
                f"windows{skipped if train.skipped_examples else ''}{bad}; {len(dev_data.examples):,} dev "
                f"questions -> {len(dev):,} windows"
            )
        preset = _preset(config, bench)
        hp = resolve_hparams(
            preset, bench.name, config, hidden_size=model_config.hidden_size, num_train=len(train)
        )
        return [squad_task(train, dev_data, dev, hp, options=config, benchmark=benchmark)]

    return run_finetune(
        config,
        prepare,
        kind=bench.name,
        model_path=model_path,
        out=out,
        vocab=vocab,
        allow_vocab_mismatch=allow_vocab_mismatch,
        overwrite=overwrite,
        log=log,
    )


def _preset(config: SquadFinetuneConfig, bench: Benchmark) -> Preset:
    if bench.name == "cmrc2018":
        from albertctl.squad.cmrc_config import CMRC_PRESET

        return CMRC_PRESET
    return PRESETS[config.version]


def resolve_squad_model(path: Path, *, which: str = "best", benchmark: str = "squad") -> FineTuned:
    """A SQuAD-fine-tuned folder (ours or transformers'), or a ``finetune squad`` output dir
    (``benchmark``: of that benchmark)."""
    bench = get_benchmark(benchmark)
    return resolve_finetuned(
        path, task=bench.name, meta_file=bench.meta_file, architecture=ARCHITECTURE, which=which
    )


def squad_options(ft: FineTuned, given: dict[str, Any], *, benchmark: str = "squad") -> SquadOptions:
    """The flags given, else the model's squad.json (cmrc2018.json), else the benchmark's defaults
    (a transformers folder)."""
    names = {f.name for f in fields(SquadOptions)}
    saved = {k: v for k, v in (ft.meta or {}).items() if k in names}
    cls: type[SquadOptions] = SquadOptions
    if get_benchmark(benchmark).name == "cmrc2018":
        from albertctl.squad.cmrc_config import CmrcOptions

        cls = CmrcOptions
    return cls(**{**saved, **{k: v for k, v in given.items() if v is not None}})


def predict_squad(
    model_path: Path,
    input_file: Path,
    out: Path,
    *,
    which: str = "best",
    batch_size: int = 32,
    device: str = "auto",
    precision: str = "fp32",
    vocab: Path | None = None,
    overwrite: bool = False,
    benchmark: str = "squad",
    **given: Any,
) -> dict[str, Any]:
    """Write ``OUT/predictions.json`` ({question id: answer}) and, for 2.0, ``OUT/null_odds.json``,
    in the official formats, atomically. When the input has answers, the official metrics too
    (``benchmark="cmrc2018"``: CMRC's)."""
    from albertctl.fsutil import atomic_dir
    from albertctl.squad.metrics import write_null_odds, write_predictions
    from albertctl.train.runtime import resolve_device, resolve_precision

    ft = resolve_squad_model(model_path, which=which, benchmark=benchmark)
    options = squad_options(ft, given, benchmark=benchmark)
    dev = resolve_device(device)
    model, tokenizer = load_for_inference(ft, head=HEAD, device=dev, vocab=vocab)
    data, _ = _read(input_file, options, None, benchmark=benchmark)
    if not data.examples:
        raise AlbertctlError(f"{input_file} has no questions", hint="check the file")
    features = _features(data, tokenizer, options, training=False)
    settings = EvalSettings(batch_size, tokenizer.pad_id, dev, resolve_precision(precision, dev))
    answers, null_odds = predict_answers(model, data, features, options, settings)
    with atomic_dir(Path(out), overwrite=overwrite) as tmp:
        write_predictions(tmp / "predictions.json", answers)
        if null_odds is not None:
            write_null_odds(tmp / "null_odds.json", null_odds)
    report: dict[str, Any] = {
        "version": options.version,
        "questions": len(data.examples),
        "windows": len(features),
        "files": sorted(["predictions.json", *(["null_odds.json"] if null_odds is not None else [])]),
    }
    if any(e.answers or e.is_impossible for e in data.examples):
        report["metrics"] = squad_scores(data, answers, null_odds, options.version, benchmark=benchmark)
    return report
