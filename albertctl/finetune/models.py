"""Finding a fine-tuned model: a checkpoint folder, a fine-tuning output dir, or a transformers dir.

``eval`` and ``predict`` of every task kind accept the same three things as ``--model``:

* a fine-tuning output dir (it has ``results.json``): the seed with the best dev score, and its
  ``best`` (or ``final``) checkpoint;
* a checkpoint folder we wrote, with the kind's meta file (``squad.json``, ``race.json``) that
  records how its inputs were built;
* a folder transformers saved for that head (``architectures`` in its ``config.json``): no meta
  file, so the kind's defaults (or the flags) say how inputs are built.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from albertctl.errors import AlbertctlError
from albertctl.finetune.loop import RESULTS
from albertctl.fsutil import read_json


@dataclass(frozen=True)
class FineTuned:
    """A model folder to predict with and what it was fine-tuned with."""

    path: Path
    meta: dict[str, Any] | None
    """The kind's meta file; None for a folder saved by transformers."""


def resolve_finetuned(
    path: Path, *, task: str, meta_file: str, architecture: str, which: str = "best"
) -> FineTuned:
    """The checkpoint folder behind ``path`` (see the module docstring) for ``task``."""
    path = Path(path)
    if which not in ("best", "final"):
        raise AlbertctlError(f"--which must be best or final, got {which!r}")
    if (path / RESULTS).is_file():
        tasks = read_json(path / RESULTS).get("tasks", {})
        if task not in tasks:
            raise AlbertctlError(
                f"{path} has no fine-tuned {task} model (tasks: {', '.join(tasks) or 'none'})",
                hint=f"pass the output dir of `finetune {task}` or one of its checkpoint folders",
            )
        entry = tasks[task]
        metric = entry["selection_metric"]
        seed = max(entry["seeds"], key=lambda s: s["best"]["metrics"][metric])
        path = path / seed[which]["checkpoint"]
    if (path / meta_file).is_file():
        return FineTuned(path=path, meta=read_json(path / meta_file))
    config = path / "config.json"
    data = read_json(config) if config.is_file() else None
    if isinstance(data, dict) and architecture in (data.get("architectures") or []):
        return FineTuned(path=path, meta=None)
    raise AlbertctlError(
        f"{path} is not a fine-tuned {task} model (no {meta_file}, and no transformers "
        f"{architecture} config.json)",
        hint=f"pass a folder written by `finetune {task}` (OUT/{task}/seed-1/best) or OUT itself",
    )


def load_for_inference(
    ft: FineTuned, *, head: str, device: Any, vocab: Path | None = None
) -> tuple[Any, Any]:
    """(model in eval mode on ``device``, tokenizer) of a fine-tuned folder; ``vocab`` when the
    folder has no tokenizer (a transformers save may hold only the weights)."""
    from albertctl.model import load_model
    from albertctl.vocab import has_vocabulary, load_tokenizer

    if vocab is None and not has_vocabulary(ft.path):
        raise AlbertctlError(
            f"{ft.path} holds no tokenizer (spiece.model or vocab.txt)",
            hint="pass --vocab DIR: the vocabulary the model was trained with",
        )
    tokenizer = load_tokenizer(vocab if vocab is not None else ft.path)
    model, config = load_model(ft.path, head=head)  # type: ignore[arg-type]
    if config.vocab_size != tokenizer.vocab_size:
        raise AlbertctlError(
            f"the model {ft.path} has vocab_size {config.vocab_size} but the tokenizer has "
            f"{tokenizer.vocab_size} pieces",
            hint="use the vocabulary the model was trained with",
        )
    return model.to(device).eval(), tokenizer
