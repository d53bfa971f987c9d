"""Model folders: write ours, read ours or a Hugging Face directory, find a run's newest checkpoint.

Our folder (``save_model``) holds ``config.json`` (the ``AlbertConfig`` fields plus ``format``,
``format_version``, ``head`` and ``num_labels``) and ``model.safetensors`` (our parameter names),
plus the tokenizer files when one is given. ``embedding_layout`` is one of those fields; a folder
written before it existed has none and reads as the Google layout (the only one there was).
``load_model`` also reads a transformers directory (``config.json`` + ``model.safetensors`` or
``pytorch_model.bin``, the latter with ``weights_only=True``), renaming keys through ``hf.py``;
its head comes from the weights and config.json's ``architectures`` (sequence classification and
multiple choice share the ``classifier.*`` names), a classifier's label names from ``id2label``.
Loading never unpickles objects.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from albertctl.errors import AlbertctlError
from albertctl.fsutil import atomic_dir, read_json, write_json, write_safetensors
from albertctl.model import hf
from albertctl.model.albert import (
    AlbertForMultipleChoice,
    AlbertForPreTraining,
    AlbertForQuestionAnswering,
    AlbertForSequenceClassification,
    AlbertModel,
)
from albertctl.model.config import AlbertConfig

logger = logging.getLogger(__name__)

FORMAT = "albertctl-model"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
HF_BIN_FILE = "pytorch_model.bin"

Head = Literal["pretraining", "classification", "backbone", "question_answering", "multiple_choice"]
HEADS: tuple[str, ...] = (
    "pretraining",
    "classification",
    "backbone",
    "question_answering",
    "multiple_choice",
)
# Parameters (our names) of each head beyond the backbone ("albert.*"). Classification and
# multiple choice share "classifier." (as in transformers); the folder's head tells them apart.
HEAD_PREFIXES: dict[str, tuple[str, ...]] = {
    "pretraining": ("mlm_head.", "sop_classifier."),
    "classification": ("classifier.",),
    "backbone": (),
    "question_answering": ("qa_outputs.",),
    "multiple_choice": ("classifier.",),
}
# The question-answering backbone has no pooler (transformers builds it without one), so the
# pooler may be absent, as a whole, from either the checkpoint or the model being loaded.
POOLER_PREFIX = "albert.pooler."
# A run directory's checkpoints: RUN_DIR/checkpoints/step-NNNNNN/ (albertctl.train.checkpoint
# writes them), each a model folder plus the trainer's state.
CHECKPOINTS = "checkpoints"
TRAINER_STATE = "trainer_state.pt"
TRAINER_JSON = "trainer.json"
_STEP_DIR = re.compile(r"^step-(\d+)$")


def _unwrap(model: nn.Module) -> nn.Module:
    """The plain module under DDP (``.module``) and ``torch.compile`` (``._orig_mod``)."""
    while True:
        inner = getattr(model, "_orig_mod", None) or getattr(model, "module", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def head_of(model: nn.Module) -> tuple[str, int | None]:
    """(head name, num_labels) of one of our model classes."""
    if isinstance(model, AlbertForPreTraining):
        return "pretraining", None
    if isinstance(model, AlbertForSequenceClassification):
        return "classification", model.num_labels
    if isinstance(model, AlbertForQuestionAnswering):
        return "question_answering", None
    if isinstance(model, AlbertForMultipleChoice):
        return "multiple_choice", None
    if isinstance(model, AlbertModel):
        return "backbone", None
    raise TypeError(f"not an albertctl ALBERT model: {type(model).__name__}")


def write_model_files(model: nn.Module, directory: Path, *, tokenizer: Any = None) -> None:
    """Write config.json + model.safetensors (+ tokenizer files) into an existing directory."""
    model = _unwrap(model)
    head, num_labels = head_of(model)
    config: AlbertConfig = model.config
    directory = Path(directory)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    # The head is in config.json; the weights file's bytes depend only on the weights.
    write_safetensors(directory / WEIGHTS_FILE, state, fmt=FORMAT)
    if tokenizer is not None:
        tokenizer.save(directory)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "head": head, "num_labels": num_labels}
    write_json(directory / CONFIG_FILE, {**meta, **config.to_dict()})


def save_model(model: nn.Module, out_dir: Path, *, tokenizer: Any = None, overwrite: bool = False) -> Path:
    """Atomically write a self-describing model folder (see the module docstring); returns ``out_dir``."""
    out_dir = Path(out_dir)
    with atomic_dir(out_dir, overwrite=overwrite) as tmp:
        write_model_files(model, tmp, tokenizer=tokenizer)
    return out_dir


@dataclass(frozen=True)
class LoadedModel:
    """What ``load_checkpoint`` built and what it had to make up."""

    model: nn.Module
    """One of our model classes (:func:`build_model`), in train mode, fp32, CPU."""
    config: AlbertConfig
    """The model's config (after ``overrides``)."""
    source_format: str
    """"albertctl" or "huggingface"."""
    initialized: tuple[str, ...]
    """Parameters not in the checkpoint, freshly initialised (e.g. a new classifier)."""
    unused: tuple[str, ...]
    """Checkpoint tensors the requested model has no place for (e.g. the MLM head when fine-tuning)."""


def read_checkpoint(path: Path) -> tuple[AlbertConfig, dict[str, Any], dict[str, torch.Tensor], list[str]]:
    """(config, metadata, state dict in our names, unknown HF keys) of a model folder, ours or HF.

    ``meta`` holds ``format`` ("albertctl" or "huggingface"), ``head`` (one of :data:`HEADS`, or
    None for an HF folder whose head cannot be told), ``num_labels`` (a classifier's outputs, else
    None), ``label_names`` (a transformers classifier's ``id2label`` in output order; None for our
    folders, whose task files hold the labels) and ``problem_type`` ("regression" or
    "single_label_classification" for a classifier; a transformers folder's own value, possibly
    None); an HF folder's also has ``architectures``.
    """
    from safetensors.torch import load_file

    path = resolve_checkpoint(path)
    data = read_json(path / CONFIG_FILE)
    if not isinstance(data, dict):
        raise AlbertctlError(f"{path / CONFIG_FILE} must hold a JSON object")
    if data.get("format") == FORMAT:
        if data.get("format_version") != FORMAT_VERSION:
            raise AlbertctlError(
                f"{path} has model format version {data.get('format_version')!r}; "
                f"this albertctl reads {FORMAT_VERSION}",
                hint="upgrade albertctl",
            )
        stored = {"format": FORMAT, "head": data.get("head"), "num_labels": data.get("num_labels")}
        config = AlbertConfig.from_dict(
            {k: v for k, v in data.items() if k not in stored and k != "format_version"}
        )
        meta = {**stored, "format": "albertctl", "label_names": None, "problem_type": None}
        if meta["head"] == "classification" and meta["num_labels"] is not None:
            meta["problem_type"] = "regression" if meta["num_labels"] == 1 else "single_label_classification"
        state = load_file(str(path / WEIGHTS_FILE))
        if meta["head"] == "backbone":
            state = {f"albert.{k}": v for k, v in state.items()}
        return config, meta, state, []
    if data.get("model_type") != "albert":
        raise AlbertctlError(
            f"{path / CONFIG_FILE} is neither an albertctl model nor a Hugging Face ALBERT config",
            hint="pass a folder written by albertctl or by transformers' save_pretrained",
        )
    config, num_labels = hf.from_hf_config(data)
    if (path / WEIGHTS_FILE).is_file():
        raw = load_file(str(path / WEIGHTS_FILE))
    elif (path / HF_BIN_FILE).is_file():
        try:
            raw = torch.load(path / HF_BIN_FILE, map_location="cpu", weights_only=True)
        except Exception as exc:  # weights_only refuses anything but tensors and containers
            raise AlbertctlError(
                f"cannot read {path / HF_BIN_FILE} safely: {exc}",
                hint="convert it to model.safetensors with transformers' save_pretrained",
            ) from exc
    else:
        raise AlbertctlError(f"{path} has no {WEIGHTS_FILE} or {HF_BIN_FILE}")
    state, unknown = hf.from_hf_state_dict(raw)
    architectures = data.get("architectures") or []
    head = _hf_head(architectures, state)
    meta = {
        "format": "huggingface",
        "head": head,
        "num_labels": None,
        "label_names": None,
        "problem_type": None,
        "architectures": architectures,
    }
    if head == "classification":
        meta["num_labels"] = (
            int(state["classifier.weight"].shape[0]) if "classifier.weight" in state else num_labels
        )
        names = hf.label_names_of(data, where=str(path / CONFIG_FILE))
        if names is not None and len(names) != meta["num_labels"]:
            raise AlbertctlError(
                f"{path / CONFIG_FILE}: id2label names {len(names)} labels, "
                f"the classifier has {meta['num_labels']} outputs",
                hint="make id2label list one name per classifier output",
            )
        meta["label_names"] = names
        meta["problem_type"] = data.get("problem_type")
    return config, meta, state, unknown


def _hf_head(architectures: list[str], state: dict[str, torch.Tensor]) -> str | None:
    """Our head name for a transformers folder: the weights decide, ``architectures`` tells
    multiple choice from sequence classification (both ``classifier.*``) and names a bare backbone."""
    named = [hf.HEADS_BY_ARCHITECTURE[a] for a in architectures if a in hf.HEADS_BY_ARCHITECTURE]
    if any(key.startswith("qa_outputs.") for key in state):
        return "question_answering"
    if any(key.startswith("classifier.") for key in state):
        return "multiple_choice" if "multiple_choice" in named else "classification"
    if any(key.startswith(("mlm_head.", "sop_classifier.")) for key in state):
        return "pretraining"
    return "backbone" if "backbone" in named else None


def build_model(
    config: AlbertConfig, head: str, num_labels: int | None, *, generator: torch.Generator | None = None
) -> nn.Module:
    """A freshly initialised model with the requested head."""
    if head == "pretraining":
        return AlbertForPreTraining(config, generator=generator)
    if head == "classification":
        if num_labels is None:
            raise AlbertctlError("num_labels is needed to build a classification head")
        return AlbertForSequenceClassification(config, num_labels, generator=generator)
    if head == "backbone":
        return AlbertModel(config, generator=generator)
    if head == "question_answering":
        return AlbertForQuestionAnswering(config, generator=generator)
    if head == "multiple_choice":
        return AlbertForMultipleChoice(config, generator=generator)
    raise AlbertctlError(f"unknown head {head!r}", hint=f"use one of {', '.join(HEADS)}")


def match_state(
    target: dict[str, torch.Tensor], state: dict[str, torch.Tensor], *, source: str
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """(tensors to copy into ``target``, head keys to leave initialised); both dicts use our names.

    The backbone (``albert.*``) must match key for key and shape for shape, except the pooler,
    which a question-answering model and checkpoint lack: a pooler the checkpoint lacks as a whole
    stays freshly initialised (listed like a head tensor), one the target lacks is left unused. A
    head tensor that is absent or of another shape (e.g. another label count) is left to its fresh
    initialisation.
    """
    state_has_pooler = any(k.startswith(POOLER_PREFIX) for k in state)
    target_has_pooler = any(k.startswith(POOLER_PREFIX) for k in target)
    missing = sorted(
        k
        for k in target
        if k.startswith("albert.")
        and k not in state
        and (state_has_pooler or not k.startswith(POOLER_PREFIX))
    )
    extra = sorted(
        k
        for k in state
        if k.startswith("albert.")
        and k not in target
        and (target_has_pooler or not k.startswith(POOLER_PREFIX))
    )
    for what, keys in (
        ("lacks backbone weights", missing),
        ("has backbone weights its config has no place for", extra),
    ):
        if keys:
            raise AlbertctlError(
                f"{source} {what}: {', '.join(keys[:4])}"
                + (f" and {len(keys) - 4} more" if len(keys) > 4 else ""),
                hint="config.json does not match the weights' layout "
                "(num_hidden_groups, inner_group_num, embedding_layout)",
            )
    to_load: dict[str, torch.Tensor] = {}
    initialized: list[str] = []
    for key, tensor in target.items():
        found = state[key] if key in state else None
        if found is not None and found.shape == tensor.shape:
            to_load[key] = found
        elif found is not None and key.startswith("albert."):
            raise AlbertctlError(
                f"{source}: {key} has shape {tuple(found.shape)}, the config says {tuple(tensor.shape)}",
                hint="the checkpoint's config.json does not match its weights",
            )
        else:
            initialized.append(key)
    return to_load, initialized


def load_checkpoint(
    path: Path,
    *,
    head: Head = "pretraining",
    num_labels: int | None = None,
    overrides: dict[str, Any] | None = None,
    generator: torch.Generator | None = None,
) -> LoadedModel:
    """Load a model folder (ours or Hugging Face) into a model with ``head``.

    The backbone must be complete and shape-compatible; head parameters are loaded when present
    and of the right shape, else freshly initialised (from ``generator``) and listed in
    ``initialized``; a checkpoint of another head never lends its head tensors (a multiple-choice
    scorer is not a one-output regressor, though both are ``classifier.*``), and a question-answering
    checkpoint has no pooler to lend (:func:`match_state`). ``overrides`` replaces config fields that
    do not change shapes (dropouts). ``num_labels`` defaults to the checkpoint's for a
    classification checkpoint and is not used by the other heads.
    """
    if head not in HEADS:
        raise AlbertctlError(f"unknown head {head!r}", hint=f"use one of {', '.join(HEADS)}")
    config, meta, state, unknown = read_checkpoint(path)
    if overrides:
        config = _apply_overrides(config, overrides)
    if head == "classification" and num_labels is None:
        if meta.get("head") != "classification" or meta.get("num_labels") is None:
            raise AlbertctlError(
                f"{path} has no classification head, so num_labels must be given",
                hint="pass num_labels (1 for regression)",
            )
        num_labels = int(meta["num_labels"])
    model = build_model(config, head, num_labels, generator=generator)
    target = model.state_dict()
    if head == "backbone":
        target = {f"albert.{k}": v for k, v in target.items()}
    foreign: set[str] = set()
    if meta.get("head") in HEADS and meta["head"] != head:
        foreign = {k for k in state if not k.startswith("albert.")}
    usable = {k: v for k, v in state.items() if k not in foreign}
    to_load, initialized = match_state(target, usable, source=str(path))
    unused = sorted((set(state) - set(target)) | foreign) + unknown
    with torch.no_grad():
        for key, tensor in to_load.items():
            target[key].copy_(tensor)
    if initialized:
        logger.info("initialised %s (not in %s)", ", ".join(initialized), path)
    model.train()
    return LoadedModel(
        model=model,
        config=config,
        source_format=meta["format"],
        initialized=tuple(initialized),
        unused=tuple(unused),
    )


def load_model(
    path: Path,
    *,
    head: Head = "pretraining",
    num_labels: int | None = None,
    overrides: dict[str, Any] | None = None,
    generator: torch.Generator | None = None,
) -> tuple[nn.Module, AlbertConfig]:
    """``load_checkpoint`` returning just (model, config); see it for the rules."""
    loaded = load_checkpoint(path, head=head, num_labels=num_labels, overrides=overrides, generator=generator)
    return loaded.model, loaded.config


_SHAPE_FIELDS = frozenset(
    f.name
    for f in dataclasses.fields(AlbertConfig)
    if f.name
    not in (
        "hidden_dropout_prob",
        "attention_probs_dropout_prob",
        "classifier_dropout_prob",
        "layer_norm_eps",
        "initializer_range",
        "hidden_act",
    )
)


def _apply_overrides(config: AlbertConfig, overrides: dict[str, Any]) -> AlbertConfig:
    bad = sorted(set(overrides) & _SHAPE_FIELDS)
    if bad:
        raise AlbertctlError(
            f"cannot override {', '.join(bad)} when loading weights: they change parameter shapes",
            hint="only dropouts, layer_norm_eps, initializer_range and hidden_act can be overridden",
        )
    return AlbertConfig.from_dict({**config.to_dict(), **overrides})


def _is_model_dir(path: Path) -> bool:
    return (path / CONFIG_FILE).is_file() and (
        (path / WEIGHTS_FILE).is_file() or (path / HF_BIN_FILE).is_file()
    )


def is_complete_checkpoint(path: Path) -> bool:
    """Whether the writer of checkpoint folder ``path`` finished: ``config.json`` and the weights
    are there (``save_model`` writes ``config.json`` last), and a trainer checkpoint, one holding
    ``trainer_state.pt``, also has the ``trainer.json`` that ``save_trainer_checkpoint`` writes last.

    Both writers fill a temporary folder and rename it, so this only rejects a ``step-*`` folder
    made some other way (a copy, another tool) and not finished yet.
    """
    path = Path(path)
    return _is_model_dir(path) and ((path / TRAINER_JSON).is_file() or not (path / TRAINER_STATE).exists())


def step_folders(run_dir: Path) -> list[tuple[int, Path]]:
    """Every ``RUN_DIR/checkpoints/step-N`` folder, complete or not, as ``(step, path)``, oldest
    first: by step number (``step-1000000`` is newer than ``step-999999``), then by name."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        match = _STEP_DIR.match(child.name)
        if match and child.is_dir():
            found.append((int(match.group(1)), child))
    return sorted(found)


def complete_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """A run's complete checkpoints as ``(step, path)``, oldest first: the one rule for which
    ``checkpoints/step-*`` folders count (:func:`is_complete_checkpoint`) and which is newest
    (:func:`step_folders`' order) that resume, pruning and ``resolve_checkpoint`` (which the
    pipeline's fine-tuning stages call) all follow."""
    return [(step, path) for step, path in step_folders(run_dir) if is_complete_checkpoint(path)]


def newest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint folder of a run (:func:`complete_checkpoints`), or ``None``."""
    found = complete_checkpoints(run_dir)
    return found[-1][1] if found else None


def resolve_checkpoint(path: Path) -> Path:
    """A model folder itself, or a run directory's newest complete ``checkpoints/step-NNNNNN/``."""
    path = Path(path)
    if not path.exists():
        raise AlbertctlError(
            f"checkpoint {path} does not exist", hint="pass a model folder or a pretraining run dir"
        )
    if _is_model_dir(path):
        return path
    newest = newest_checkpoint(path)
    if newest is not None:
        return newest
    raise AlbertctlError(
        f"{path} is not a model folder (config.json + model.safetensors) "
        "and has no complete checkpoints/step-*/",
        hint="pass a checkpoint folder, a pretraining run directory, or a Hugging Face model directory",
    )
