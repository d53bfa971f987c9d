"""``finetune glue``: GLUE and CLUE sentence(-pair) classification and regression on the shared loop.

The first task kind of :mod:`albertctl.finetune`: reads GLUE_DIR (either layout,
:mod:`albertctl.glue.readers`), encodes ``[CLS] A [SEP] (B [SEP])`` rows
(:mod:`albertctl.glue.batching`), and hands each task to
:func:`~albertctl.finetune.loop.run_finetune` with the classification head, the
:class:`~albertctl.train.trainer.ClassificationObjective` and the task's official dev metrics.
OUT is the loop's layout; each saved model carries ``glue.json`` (task, labels,
max_seq_length), and ``results.json`` adds the GLUE average.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from albertctl.errors import AlbertctlError
from albertctl.finetune.loop import (
    RESULTS,
    EvalSettings,
    Evaluation,
    FinetuneReport,
    Log,
    PreparedTask,
    SeedResult,
    TaskHParams,
    iter_train_steps,
    run_finetune,
    train_one_seed,
)
from albertctl.finetune.loop import resolve_hparams as _resolve_hparams
from albertctl.glue.batching import EncodedSet, encode_examples
from albertctl.glue.config import FinetuneConfig
from albertctl.glue.evaluate import GLUE_META, dev_metrics, predict_logits
from albertctl.glue.metrics import glue_score
from albertctl.glue.readers import read_split
from albertctl.glue.tasks import TASKS, TaskSpec

if TYPE_CHECKING:
    from torch import nn

    from albertctl.model import AlbertConfig
    from albertctl.vocab import Tokenizer

__all__ = [
    "RESULTS",
    "Evaluation",
    "FinetuneConfig",
    "FinetuneReport",
    "SeedResult",
    "TaskHParams",
    "finetune_glue",
    "glue_task",
    "iter_train_steps",
    "resolve_hparams",
    "train_one_seed",
]


def resolve_hparams(
    spec: TaskSpec, config: FinetuneConfig, *, hidden_size: int, num_train: int
) -> TaskHParams:
    """:func:`albertctl.finetune.loop.resolve_hparams` with the task's Table 14 preset."""
    assert spec.preset is not None
    return _resolve_hparams(spec.preset, spec.name, config, hidden_size=hidden_size, num_train=num_train)


def glue_task(
    spec: TaskSpec, train: EncodedSet, devs: dict[str, EncodedSet], hp: TaskHParams, *, max_seq_length: int
) -> PreparedTask:
    """One encoded GLUE/CLUE task as the shared loop runs it."""
    from albertctl.fsutil import sha256_json
    from albertctl.train.trainer import ClassificationObjective

    def evaluate(model: nn.Module, settings: EvalSettings) -> dict[str, float]:
        logits = {
            split: predict_logits(
                model,
                data,
                batch_size=settings.batch_size,
                pad_id=settings.pad_id,
                device=settings.device,
                precision=settings.precision,
            )
            for split, data in devs.items()
        }
        return dev_metrics(spec, logits, devs)

    encoded = [[d.input_ids, d.token_type_ids, d.labels.tolist()] for d in (train, *devs.values())]
    return PreparedTask(
        name=spec.name,
        head="classification",
        num_labels=spec.num_labels,
        selection_metric=spec.selection_metric,
        train=train,
        evaluate=evaluate,
        objective=ClassificationObjective(),
        hp=hp,
        meta_file=GLUE_META,
        meta={"task": spec.name, "labels": spec.labels, "max_seq_length": max_seq_length},
        data_fingerprint=sha256_json(encoded),
        dev_examples={split: len(data) for split, data in devs.items()},
    )


def _prepare_task(
    spec: TaskSpec,
    data_dir: Path,
    tokenizer: Tokenizer,
    config: FinetuneConfig,
    hidden_size: int,
    log: Log | None,
) -> PreparedTask:
    """Read and encode a task's train and dev splits; resolve its hyperparameters."""
    train_split = read_split(spec, data_dir, "train")
    train_examples = train_split.examples[: config.max_train_examples]
    if not train_examples:
        raise AlbertctlError(f"{train_split.source} has no examples", hint="check the file")
    if train_split.skipped_rows and log is not None:
        log(f"{spec.name}: skipped {train_split.skipped_rows} short rows of {train_split.source}")
    encode: dict[str, Any] = {
        "tokenizer": tokenizer,
        "max_seq_length": config.max_seq_length,
        "regression": spec.is_regression,
    }
    train = encode_examples(examples=train_examples, **encode)
    devs = {
        split: encode_examples(
            examples=read_split(spec, data_dir, split).examples[: config.max_eval_examples], **encode
        )
        for split in spec.dev_splits
    }
    hp = resolve_hparams(spec, config, hidden_size=hidden_size, num_train=len(train))
    return glue_task(spec, train, devs, hp, max_seq_length=config.max_seq_length)


def _glue_average(results: dict[str, Any]) -> dict[str, Any]:
    """The papers' GLUE average: per task the mean of its metrics, then the mean over the GLUE
    tasks run (None when only other benchmarks' tasks ran)."""
    glue_tasks = [t for name, t in results["tasks"].items() if TASKS[name].benchmark == "GLUE"]
    if not glue_tasks:
        return {"glue": None}
    return {
        "glue": {
            which: float(
                np.mean([glue_score({k: v["mean"] for k, v in t[which].items()}) for t in glue_tasks])
            )
            for which in ("best", "final")
        }
    }


def finetune_glue(
    config: FinetuneConfig,
    *,
    tasks: tuple[TaskSpec, ...],
    data_dir: Path,
    model_path: Path,
    out: Path,
    vocab: Path | None = None,
    allow_vocab_mismatch: bool = False,
    overwrite: bool = False,
    log: Log | None = None,
) -> FinetuneReport:
    """Fine-tune ``model_path`` on each task for each seed; write OUT (:mod:`albertctl.finetune.loop`).

    Killed, the same command continues: finished seeds are kept and the running one resumes from
    its last dev evaluation, to the same results as an uninterrupted run. Under torchrun every
    process trains its share of each batch and rank 0 writes."""

    def prepare(tokenizer: Tokenizer, model_config: AlbertConfig) -> list[PreparedTask]:
        return [
            _prepare_task(spec, data_dir, tokenizer, config, model_config.hidden_size, log) for spec in tasks
        ]

    return run_finetune(
        config,
        prepare,
        kind="glue",
        model_path=model_path,
        out=out,
        vocab=vocab,
        allow_vocab_mismatch=allow_vocab_mismatch,
        overwrite=overwrite,
        log=log,
        summarize=_glue_average,
    )
