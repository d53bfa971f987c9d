"""CLUE leaderboard files: one JSON-lines prediction file per task, and a zip of them all.

CLUE's submission instructions (CLUEbenchmark/CLUE, "任务提交说明", CLUE 1.1): each classification
task is ``<task>_predict.json``, one ``{"id": ..., "label": "..."}`` object per line in the order
of the task's ``test.json`` (the scorer reads only ``label``, row by row); the two tasks whose test
set changed carry the version, ``tnews11_predict.json`` / ``cluewsc11_predict.json``, and their
old ``test1.0.json`` gives ``tnews10_predict.json`` / ``cluewsc10_predict.json``; the
leaderboard's OCNLI is the 50k-train track, ``ocnli_50k_predict.json``. All files go into one zip
(the instructions suggest naming it ``submit_<team>_<date>.zip``; ours is ``submit.zip``, rename
it freely). Reads a fine-tuned model and ``DATA_DIR/<task>/test*.json``; writes OUT atomically.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from albertctl.errors import AlbertctlError
from albertctl.glue.tasks import TaskSpec

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np

    from albertctl.glue.evaluate import FineTunedModel

SUBMIT_ZIP = "submit.zip"

SUBMISSION_FILES: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "tnews": (("test", "tnews11_predict.json", True), ("test1.0", "tnews10_predict.json", False)),
    "iflytek": (("test", "iflytek_predict.json", True),),
    "afqmc": (("test", "afqmc_predict.json", True),),
    "ocnli": (("test", "ocnli_50k_predict.json", True),),
    "cmnli": (("test", "cmnli_predict.json", True),),
    "csl": (("test", "csl_predict.json", True),),
    "cluewsc2020": (
        ("test", "cluewsc11_predict.json", True),
        ("test1.0", "cluewsc10_predict.json", False),
    ),
}
"""Per task: (test file stem, leaderboard file name, required). An optional file (the 1.0 test
sets) is written only when its test file is there."""

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
"""Every zip member gets this timestamp, so the same predictions give the same zip bytes."""


def submission_id(guid: str) -> int | str:
    """The ``id`` field: CLUE's test files number their rows, so a decimal id is written as a number."""
    return int(guid) if guid.isdecimal() else guid


def format_submission(spec: TaskSpec, guids: Sequence[str], predictions: np.ndarray) -> str:
    """The file's text: one ``{"id", "label"}`` JSON object per line, in test-file order (LF ends)."""
    assert spec.labels is not None
    lines = [
        json.dumps({"id": submission_id(guid), "label": spec.labels[int(p)]}, ensure_ascii=False)
        for guid, p in zip(guids, predictions, strict=True)
    ]
    return "".join(line + "\n" for line in lines)


def write_text_atomic(path: Path, text: str) -> None:
    """``path.tmp`` then rename: a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8", newline="\n")
    tmp.replace(path)


def write_submit_zip(out_dir: Path, names: Sequence[str]) -> Path:
    """``out_dir/submit.zip`` of ``names`` (files of ``out_dir``) at the archive's root, sorted,
    deflated, with a fixed timestamp (reproducible bytes); written to ``.tmp`` then renamed."""
    path = out_dir / SUBMIT_ZIP
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as archive:
        for name in sorted(names):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, (out_dir / name).read_bytes())
    tmp.replace(path)
    return path


def check_clue_models(models: dict[str, FineTunedModel]) -> None:
    """Every model must be fine-tuned on a CLUE task (GLUE models go to ``predict glue``)."""
    other = [name for name, ft in models.items() if ft.task.name not in SUBMISSION_FILES]
    if other:
        raise AlbertctlError(
            f"not fine-tuned on a CLUE task: {', '.join(other)}",
            hint="`albertctl predict glue` writes GLUE's leaderboard files; CLUE tasks: "
            + ", ".join(SUBMISSION_FILES),
        )


def predict_clue(
    models: dict[str, FineTunedModel],
    data_dir: Path,
    out_dir: Path,
    *,
    batch_size: int = 64,
    device: str = "auto",
    precision: str = "fp32",
) -> dict[str, int]:
    """Write each model's leaderboard file(s) and ``submit.zip`` into ``out_dir`` (must exist).

    Returns ``{file name: rows}`` (the zip not included). A task's ``test.json`` must be there;
    the 1.0 test files are optional."""
    from albertctl.glue.batching import encode_examples
    from albertctl.glue.evaluate import load_finetuned, logits_to_predictions, predict_logits
    from albertctl.glue.readers import find_task_dir, read_split
    from albertctl.train.runtime import resolve_device, resolve_precision

    check_clue_models(models)
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    written: dict[str, int] = {}
    for ft in models.values():
        spec = ft.task
        _, folder = find_task_dir(spec, data_dir)
        jobs = [(stem, name) for stem, name, required in SUBMISSION_FILES[spec.name] if required]
        jobs += [
            (stem, name)
            for stem, name, required in SUBMISSION_FILES[spec.name]
            if not required and (folder / f"{stem}.json").is_file()
        ]
        model, tokenizer = load_finetuned(ft, dev)
        for stem, name in jobs:
            examples = read_split(spec, data_dir, stem).examples
            data = encode_examples(tokenizer, examples, max_seq_length=ft.max_seq_length, regression=False)
            logits = ft.reorder(
                predict_logits(
                    model, data, batch_size=batch_size, pad_id=tokenizer.pad_id, device=dev, precision=prec
                )
            )
            text = format_submission(spec, data.guids, logits_to_predictions(spec, logits))
            write_text_atomic(out_dir / name, text)
            written[name] = len(data)
    write_submit_zip(out_dir, list(written))
    return written


def submit_clue(
    model_path: Path,
    data_dir: Path,
    out: Path,
    *,
    task: str = "all",
    which: str = "best",
    batch_size: int = 64,
    device: str = "auto",
    precision: str = "fp32",
    overwrite: bool = False,
) -> dict[str, int]:
    """``predict clue``: resolve the model(s) (a checkpoint, or a ``finetune clue`` OUT with
    ``task="all"`` = every task it holds), then fill OUT atomically (:func:`predict_clue`)."""
    from albertctl.fsutil import atomic_dir
    from albertctl.glue.evaluate import resolve_models
    from albertctl.glue.tasks import parse_tasks

    if task.strip().lower() != "all":
        parse_tasks(task, benchmark="CLUE")  # a GLUE task name fails here, with CLUE's list
    models = resolve_models(model_path, task, which=which)
    check_clue_models(models)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        return predict_clue(models, data_dir, tmp, batch_size=batch_size, device=device, precision=precision)


def missing_submissions(written: dict[str, int]) -> list[str]:
    """The CLUE 1.1 leaderboard files (one per task) not in ``written``."""
    required = [name for files in SUBMISSION_FILES.values() for _, name, needed in files if needed]
    return [name for name in required if name not in written]
