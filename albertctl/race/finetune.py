"""``finetune race``, ``eval race``, ``predict race``: RACE on the shared fine-tuning loop.

The multiple-choice task kind: questions are read from the original layout or its archives
(:mod:`albertctl.race.data`), each option becomes one ``[CLS] article [SEP] question+option
[SEP]`` row (:mod:`albertctl.race.features`), the model scores each row from its pooled output
(``AlbertForMultipleChoice``, transformers' layout) and a softmax over a question's options is
trained (:class:`~albertctl.train.trainer.MultipleChoiceObjective`). Dev accuracy is reported for
middle, high and all; the best checkpoint is the one with the best overall accuracy. Each saved
model carries ``race.json`` (the row layout) so eval and predict rebuild the same rows.
"""

from __future__ import annotations

import hashlib
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
from albertctl.race.config import PRESET, RaceFinetuneConfig, RaceOptions

if TYPE_CHECKING:
    from torch import nn

    from albertctl.model import AlbertConfig
    from albertctl.race.features import ChoiceFeatures
    from albertctl.vocab import Tokenizer

TASK = "race"
RACE_META = "race.json"
HEAD = "multiple_choice"
ARCHITECTURE = "AlbertForMultipleChoice"
ACCURACIES = ("accuracy", "accuracy_middle", "accuracy_high")


def race_scores(logits: np.ndarray, features: ChoiceFeatures) -> dict[str, float]:
    """Accuracy overall, on middle and on high (fractions) of (N, C) option logits."""
    from albertctl.race.metrics import race_metrics
    from albertctl.race.predict import predictions_from_logits

    metrics = race_metrics(predictions_from_logits(logits), features.labels, features.levels)
    return {name: float(metrics[name]) for name in ACCURACIES}


def _fingerprint(*features: ChoiceFeatures) -> str:
    digest = hashlib.sha256()
    for f in features:
        for array in (f.labels, f.choice_offsets, f.row_article, f.context_lengths, f.qa_tokens, f.qa_offsets,
                      f.article_tokens, f.article_offsets):  # fmt: skip
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def race_task(
    train: ChoiceFeatures, dev: ChoiceFeatures, hp: TaskHParams, *, options: RaceOptions
) -> PreparedTask:
    """RACE's encoded train and dev questions as the shared loop runs them."""
    from albertctl.race.predict import choice_logits
    from albertctl.train.trainer import MultipleChoiceObjective

    def evaluate(model: nn.Module, settings: EvalSettings) -> dict[str, float]:
        logits = choice_logits(
            model,
            dev,
            batch_size=settings.batch_size,
            pad_id=settings.pad_id,
            device=settings.device,
            precision=settings.precision,
        )
        return race_scores(logits, dev)

    return PreparedTask(
        name=TASK,
        head=HEAD,
        num_labels=None,
        selection_metric="accuracy",
        train=train,
        evaluate=evaluate,
        objective=MultipleChoiceObjective(),
        hp=hp,
        meta_file=RACE_META,
        meta={"task": TASK, "max_seq_length": options.max_seq_length, "max_qa_length": options.max_qa_length},
        data_fingerprint=_fingerprint(train, dev),
        dev_examples={"dev": len(dev)},
    )


def _read_features(
    data_dir: Path, split: str, tokenizer: Tokenizer, options: RaceOptions, limit: int | None
) -> ChoiceFeatures:
    from albertctl.race.data import RaceData, read_race
    from albertctl.race.features import build_features

    data = read_race(data_dir, split)
    if limit is not None:
        data = RaceData(examples=data.examples[:limit], source=data.source, num_articles=data.num_articles)
    return build_features(
        data, tokenizer, max_seq_length=options.max_seq_length, max_qa_length=options.max_qa_length
    )


def finetune_race(
    config: RaceFinetuneConfig,
    *,
    data_dir: Path,
    model_path: Path,
    out: Path,
    vocab: Path | None = None,
    allow_vocab_mismatch: bool = False,
    overwrite: bool = False,
    log: Log | None = None,
) -> FinetuneReport:
    """Fine-tune ``model_path`` on RACE train, select on dev; write OUT (:mod:`albertctl.finetune.loop`)."""

    def prepare(tokenizer: Tokenizer, model_config: AlbertConfig) -> list[PreparedTask]:
        train = _read_features(data_dir, "train", tokenizer, config, config.max_train_examples)
        dev = _read_features(data_dir, "dev", tokenizer, config, config.max_eval_examples)
        if log is not None:
            log(f"race: {len(train):,} train and {len(dev):,} dev questions")
        hp = resolve_hparams(PRESET, TASK, config, hidden_size=model_config.hidden_size, num_train=len(train))
        return [race_task(train, dev, hp, options=config)]

    return run_finetune(
        config,
        prepare,
        kind=TASK,
        model_path=model_path,
        out=out,
        vocab=vocab,
        allow_vocab_mismatch=allow_vocab_mismatch,
        overwrite=overwrite,
        log=log,
    )


def resolve_race_model(path: Path, *, which: str = "best") -> FineTuned:
    """A RACE-fine-tuned folder (ours or transformers'), or a ``finetune race`` output dir."""
    return resolve_finetuned(path, task=TASK, meta_file=RACE_META, architecture=ARCHITECTURE, which=which)


def _options(ft: FineTuned, given: dict[str, Any]) -> RaceOptions:
    """The row layout: the flags given, else the model's race.json, else the reference's."""
    saved = {k: v for k, v in (ft.meta or {}).items() if k in ("max_seq_length", "max_qa_length")}
    return RaceOptions(**{**saved, **{k: v for k, v in given.items() if v is not None}})


def race_logits(
    model_path: Path,
    data_dir: Path,
    *,
    split: str,
    which: str = "best",
    batch_size: int = 8,
    device: str = "auto",
    precision: str = "fp32",
    vocab: Path | None = None,
    **given: Any,
) -> tuple[np.ndarray, ChoiceFeatures]:
    """(N, C) option logits of ``split`` and its features, from a fine-tuned model."""
    from albertctl.race.predict import choice_logits
    from albertctl.train.runtime import resolve_device, resolve_precision

    ft = resolve_race_model(model_path, which=which)
    options = _options(ft, given)
    dev = resolve_device(device)
    model, tokenizer = load_for_inference(ft, head=HEAD, device=dev, vocab=vocab)
    features = _read_features(data_dir, split, tokenizer, options, None)
    logits = choice_logits(
        model,
        features,
        batch_size=batch_size,
        pad_id=tokenizer.pad_id,
        device=dev,
        precision=resolve_precision(precision, dev),
    )
    return logits, features


def evaluate_race(model_path: Path, data_dir: Path, *, split: str = "dev", **kwargs: Any) -> dict[str, float]:
    """Accuracy (all, middle, high) of a fine-tuned model on ``split``."""
    logits, features = race_logits(model_path, data_dir, split=split, **kwargs)
    return race_scores(logits, features)


def predict_race(
    model_path: Path,
    data_dir: Path,
    out: Path,
    *,
    split: str = "test",
    overwrite: bool = False,
    **kwargs: Any,
) -> dict[str, Any]:
    """Write ``OUT/predictions.json`` ({question id: option letter}) for ``split``, atomically;
    returns the accuracy too (RACE's test answers are public)."""
    from albertctl.fsutil import atomic_dir
    from albertctl.race.predict import predictions_from_logits, write_predictions

    logits, features = race_logits(model_path, data_dir, split=split, **kwargs)
    if not len(features):
        raise AlbertctlError(f"no {split} questions to predict in {data_dir}")
    with atomic_dir(Path(out), overwrite=overwrite) as tmp:
        write_predictions(tmp / "predictions.json", features.ids, predictions_from_logits(logits))
    return {
        "predictions": Path(out) / "predictions.json",
        "questions": len(features),
        **race_scores(logits, features),
    }
