"""Inference for GLUE: dev metrics (``eval glue``) and leaderboard files (``predict glue``).

``predict_logits`` runs a classifier over an :class:`EncodedSet` in length-sorted batches and
returns logits in the original row order. ``dev_metrics`` scores a task's dev split(s) (MNLI's
mismatched accuracy is reported as ``accuracy_mm``). ``write_submission`` writes one leaderboard
file: the header ``index<TAB>prediction``, then the test id and the label string (a score clipped
to [0, 5] for STS-B), LF line ends. A fine-tuned checkpoint folder carries ``glue.json`` (task,
labels, max_seq_length) beside the model files, so eval/predict need no flags to restate it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from albertctl.errors import AlbertctlError
from albertctl.fsutil import read_json
from albertctl.glue.batching import EncodedSet, encode_examples, eval_batches
from albertctl.glue.metrics import task_metrics
from albertctl.glue.readers import read_split
from albertctl.glue.tasks import TASKS, TaskSpec, get_task

if TYPE_CHECKING:
    import torch
    from torch import nn

    from albertctl.vocab import Tokenizer

GLUE_META = "glue.json"
RESULTS = "results.json"


def predict_logits(
    model: nn.Module,
    data: EncodedSet,
    *,
    batch_size: int,
    pad_id: int,
    device: torch.device,
    precision: str = "fp32",
) -> np.ndarray:
    """(N, C) float32 logits in row order; the model is left in eval mode."""
    import torch

    from albertctl.glue.batching import collate
    from albertctl.train.runtime import autocast

    model.eval()
    out: np.ndarray | None = None
    with torch.inference_mode():
        for rows in eval_batches(data.lengths, batch_size):
            batch = collate(data, rows, pad_id=pad_id)
            with autocast(device, precision):
                logits = model(
                    batch["input_ids"].to(device),
                    batch["token_type_ids"].to(device),
                    batch["input_mask"].to(device),
                )
            logits = logits.float().cpu().numpy()
            if out is None:
                out = np.zeros((len(data), logits.shape[-1]), dtype=np.float32)
            out[rows] = logits
    return out if out is not None else np.zeros((0, 1), dtype=np.float32)


def logits_to_predictions(spec: TaskSpec, logits: np.ndarray) -> np.ndarray:
    """Class ids (argmax) or, for regression, the scores."""
    return logits[:, 0] if spec.is_regression else logits.argmax(axis=-1)


def dev_metrics(spec: TaskSpec, logits_by_split: dict[str, np.ndarray], devs: dict[str, EncodedSet]) -> dict:
    """Official metrics over the task's dev split(s); the second MNLI split adds ``*_mm`` keys."""
    metrics: dict[str, float] = {}
    for i, split in enumerate(spec.dev_splits):
        values = task_metrics(spec, logits_to_predictions(spec, logits_by_split[split]), devs[split].labels)
        metrics.update(values if i == 0 else {f"{k}_mm": v for k, v in values.items()})
    return metrics


@dataclass(frozen=True)
class FineTunedModel:
    """A fine-tuned checkpoint folder and what it was trained for."""

    path: Path
    task: TaskSpec
    max_seq_length: int
    columns: tuple[int, ...] | None = None
    """For a folder saved by transformers: the model output holding each of the task's labels
    (task label j is output ``columns[j]``); None when they are in the task's order."""

    def reorder(self, logits: np.ndarray) -> np.ndarray:
        """(N, C) logits with column j the task's label j."""
        return logits if self.columns is None else logits[:, list(self.columns)]


def read_glue_meta(path: Path) -> dict[str, Any] | None:
    """``glue.json`` of a fine-tuned checkpoint, or None."""
    meta = Path(path) / GLUE_META
    return read_json(meta) if meta.is_file() else None


def resolve_finetuned(path: Path, task: TaskSpec | None, *, which: str = "best") -> FineTunedModel:
    """A checkpoint folder, or a ``finetune glue`` output dir (-> the best seed's ``which`` checkpoint)."""
    path = Path(path)
    results_file = path / RESULTS
    if results_file.is_file():
        results = read_json(results_file)
        tasks = results.get("tasks", {})
        if task is None:
            if len(tasks) != 1:
                raise AlbertctlError(
                    f"{path} holds several tasks ({', '.join(tasks)})", hint="pass --task to pick one"
                )
            task = get_task(next(iter(tasks)))
        if task.name not in tasks:
            raise AlbertctlError(
                f"{path} has no fine-tuned {task.name} model (tasks: {', '.join(tasks) or 'none'})",
                hint="fine-tune that task first, or pass its checkpoint folder",
            )
        entry = tasks[task.name]
        # The seed whose best-on-dev score is highest; its best or final checkpoint.
        seed = max(entry["seeds"], key=lambda s: s["best"]["metrics"][task.selection_metric])
        path = path / seed[which]["checkpoint"]
    meta = read_glue_meta(path)
    if meta is None and (path / "config.json").is_file():
        hf_config = read_json(path / "config.json")
        if isinstance(hf_config, dict) and "AlbertForSequenceClassification" in (
            hf_config.get("architectures") or []
        ):
            return _transformers_classifier(path, hf_config, task)
    if meta is None:
        raise AlbertctlError(
            f"{path} is not a fine-tuned GLUE checkpoint (no {GLUE_META})",
            hint="pass a folder written by `finetune glue` (e.g. OUT/mrpc/seed-1/best) or OUT itself",
        )
    saved = get_task(meta["task"])
    if task is not None and saved.name != task.name and not (task.name == "ax" and saved.name == "mnli"):
        raise AlbertctlError(
            f"{path} was fine-tuned on {saved.name}, not {task.name}", hint="pass the matching --task"
        )
    return FineTunedModel(path=path, task=saved, max_seq_length=int(meta["max_seq_length"]))


_GENERIC_LABEL = re.compile(r"^LABEL_(\d+)$")


def _transformers_classifier(path: Path, hf_config: dict[str, Any], task: TaskSpec | None) -> FineTunedModel:
    """A sequence classifier saved by transformers: the task from ``--task``, the label of each
    output from its ``id2label`` (names as the task spells them, or ``LABEL_i`` where the
    task's labels are 0..C-1), regression from ``problem_type`` / one output."""
    where = f"{path / 'config.json'}"
    if task is None:
        raise AlbertctlError(
            f"{path} was saved by transformers and does not say which task it was fine-tuned on",
            hint="pass --task",
        )
    id2label = hf_config.get("id2label") or {}
    count = len(id2label) if isinstance(id2label, dict) and id2label else hf_config.get("num_labels", 2)
    regression = hf_config.get("problem_type") == "regression" or count == 1
    max_len = min(512, int(hf_config.get("max_position_embeddings", 512)))
    if task.is_regression or regression:
        if not (task.is_regression and regression):
            kind = "a regression" if regression else f"a {count}-way classification"
            raise AlbertctlError(
                f"{where} describes {kind} model; {task.name} is "
                + ("a regression task" if task.is_regression else f"{task.num_labels}-way classification"),
                hint="pass the model fine-tuned for this task",
            )
        return FineTunedModel(path=path, task=task, max_seq_length=max_len)
    assert task.labels is not None
    try:
        names = [str(id2label[str(i)]) for i in range(count)] if id2label else None
    except KeyError:
        raise AlbertctlError(f"{where}: id2label does not number its labels 0..{count - 1}") from None
    if count != task.num_labels:
        raise AlbertctlError(
            f"{where} has {count} outputs; {task.name} has {task.num_labels} labels "
            f"({', '.join(task.labels)})",
            hint="pass the model fine-tuned for this task",
        )
    if names is None or all(_GENERIC_LABEL.match(n) for n in names):
        generic = [int(_GENERIC_LABEL.match(n).group(1)) for n in names] if names else list(range(count))
        if list(task.labels) != [str(i) for i in range(count)]:
            raise AlbertctlError(
                f"{where} names its outputs LABEL_0..LABEL_{count - 1}, so which is "
                f"{', '.join(task.labels)} cannot be inferred",
                hint=f"set id2label in config.json to the task's labels ({', '.join(task.labels)})",
            )
        return FineTunedModel(
            path=path,
            task=task,
            max_seq_length=max_len,
            columns=tuple(generic.index(i) for i in range(count)),
        )
    if sorted(names) != sorted(task.labels):
        raise AlbertctlError(
            f"{where} labels its outputs {', '.join(names)}; {task.name}'s labels are "
            f"{', '.join(task.labels)}",
            hint="pass the model fine-tuned for this task, or fix id2label in config.json",
        )
    columns = tuple(names.index(label) for label in task.labels)
    return FineTunedModel(
        path=path,
        task=task,
        max_seq_length=max_len,
        columns=None if columns == tuple(range(count)) else columns,
    )


def resolve_models(path: Path, task: str = "all", *, which: str = "best") -> dict[str, FineTunedModel]:
    """Models for ``predict glue``: ``all`` = every task of a finetune output dir, or the checkpoint's own."""
    from albertctl.glue.tasks import parse_tasks

    path = Path(path)
    if task.strip().lower() == "all":
        if (path / RESULTS).is_file():
            names = list(read_json(path / RESULTS).get("tasks", {}))
            specs: list[TaskSpec | None] = [get_task(name) for name in names]
        else:
            specs = [None]
    else:
        specs = list(parse_tasks(task))
    models = [resolve_finetuned(path, spec, which=which) for spec in specs]
    return {ft.task.name: ft for ft in models}


def load_finetuned(ft: FineTunedModel, device: torch.device) -> tuple[nn.Module, Tokenizer]:
    """The classifier (eval mode, on ``device``) and tokenizer of a fine-tuned checkpoint."""
    from albertctl.model import load_model
    from albertctl.vocab import load_tokenizer

    model, _ = load_model(ft.path, head="classification", num_labels=ft.task.num_labels)
    return model.to(device).eval(), load_tokenizer(ft.path)


def evaluate_glue(
    model_path: Path,
    data_dir: Path,
    *,
    task: str | None = None,
    which: str = "best",
    batch_size: int = 64,
    device: str = "auto",
    precision: str = "fp32",
) -> tuple[TaskSpec, dict[str, float]]:
    """Dev metrics of a fine-tuned checkpoint (or finetune output dir) on ``data_dir``."""
    from albertctl.train.runtime import resolve_device, resolve_precision

    spec = get_task(task) if task else None
    if spec is not None and not spec.dev_splits:
        raise AlbertctlError(
            f"{spec.name} has no dev set to evaluate on", hint="`predict glue` writes its test predictions"
        )
    ft = resolve_finetuned(model_path, spec, which=which)
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    model, tokenizer = load_finetuned(ft, dev)
    devs = {
        split: encode_examples(
            tokenizer,
            read_split(ft.task, data_dir, split).examples,
            max_seq_length=ft.max_seq_length,
            regression=ft.task.is_regression,
        )
        for split in ft.task.dev_splits
    }
    logits = {
        split: ft.reorder(
            predict_logits(
                model, data, batch_size=batch_size, pad_id=tokenizer.pad_id, device=dev, precision=prec
            )
        )
        for split, data in devs.items()
    }
    return ft.task, dev_metrics(ft.task, logits, devs)


def format_prediction(spec: TaskSpec, value: float | int) -> str:
    """The leaderboard's prediction cell: the label string, or a [0, 5] score with 3 decimals."""
    if spec.labels is None:
        return f"{min(max(float(value), 0.0), 5.0):.3f}"
    return spec.labels[int(value)]


def write_submission(path: Path, spec: TaskSpec, guids: list[str], predictions: np.ndarray) -> None:
    """One leaderboard TSV: ``index<TAB>prediction`` then one row per test example (LF ends)."""
    lines = ["index\tprediction"]
    lines += [f"{guid}\t{format_prediction(spec, p)}" for guid, p in zip(guids, predictions, strict=True)]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)


def predict_glue(
    models: dict[str, FineTunedModel],
    data_dir: Path,
    out_dir: Path,
    *,
    batch_size: int = 64,
    device: str = "auto",
    precision: str = "fp32",
) -> dict[str, int]:
    """Write the leaderboard files for each task in ``models`` into ``out_dir`` (must exist).

    The MNLI model also writes ``AX.tsv`` when the diagnostic file is present. Returns
    ``{file name: rows}``.
    """
    from albertctl.train.runtime import resolve_device, resolve_precision

    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    written: dict[str, int] = {}
    for name, ft in models.items():
        model, tokenizer = load_finetuned(ft, dev)
        jobs: list[tuple[TaskSpec, str, str]] = [(ft.task, stem, sub) for stem, sub in ft.task.test_splits]
        if name == "mnli":
            try:
                jobs.append((TASKS["ax"], *TASKS["ax"].test_splits[0]))
                read_split(TASKS["ax"], data_dir, "diagnostic")
            except AlbertctlError:
                jobs.pop()  # no diagnostic file: AX.tsv is skipped, the caller reports what was written
        for spec, stem, submission in jobs:
            examples = read_split(spec, data_dir, stem).examples
            data = encode_examples(
                tokenizer, examples, max_seq_length=ft.max_seq_length, regression=spec.is_regression
            )
            logits = ft.reorder(
                predict_logits(
                    model, data, batch_size=batch_size, pad_id=tokenizer.pad_id, device=dev, precision=prec
                )
            )
            write_submission(
                out_dir / f"{submission}.tsv", spec, data.guids, logits_to_predictions(spec, logits)
            )
            written[f"{submission}.tsv"] = len(data)
    return written
