"""The Hugging Face (transformers) key map and config translation: the one place HF names live.

Our parameter names (``albert.groups.0.blocks.0.attention.query.weight``) differ from
transformers' (``albert.encoder.albert_layer_groups.0.albert_layers.0.attention.query.weight``);
this module renames state dicts both ways and writes/reads the transformers ``config.json``
(docs/reference.md §4), including which head class a folder is for (``architectures``) and a
classifier's label names (``id2label``). It never imports transformers; tensors are only renamed,
never changed.

transformers' ALBERT has only the Google embedding layout: :func:`to_hf_config` refuses a
brightmart-layout config (:func:`check_hf_layout`). The key map still renames brightmart's
``word_embeddings_2`` (as ``albert.embeddings.word_embeddings_2.weight``), which ``import tf`` uses
on its way from TF names to ours.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import torch

from albertctl.errors import AlbertctlError
from albertctl.model.config import AlbertConfig

# Backbone renames, ours -> HF, applied to keys without the "albert." prefix. Order matters only
# in that each key matches exactly one rule.
_BACKBONE_RULES: tuple[tuple[str, str], ...] = (
    (r"^embeddings\.layer_norm\.", "embeddings.LayerNorm."),
    (r"^embeddings\.", "embeddings."),
    (r"^embedding_hidden_mapping_in\.", "encoder.embedding_hidden_mapping_in."),
    (
        r"^groups\.(\d+)\.blocks\.(\d+)\.attention\.layer_norm\.",
        r"encoder.albert_layer_groups.\1.albert_layers.\2.attention.LayerNorm.",
    ),
    (
        r"^groups\.(\d+)\.blocks\.(\d+)\.ffn_layer_norm\.",
        r"encoder.albert_layer_groups.\1.albert_layers.\2.full_layer_layer_norm.",
    ),
    (r"^groups\.(\d+)\.blocks\.(\d+)\.", r"encoder.albert_layer_groups.\1.albert_layers.\2."),
    (r"^pooler\.", "pooler."),
)
_BACKBONE_RULES_BACK: tuple[tuple[str, str], ...] = (
    (r"^embeddings\.LayerNorm\.", "embeddings.layer_norm."),
    (r"^embeddings\.", "embeddings."),
    (r"^encoder\.embedding_hidden_mapping_in\.", "embedding_hidden_mapping_in."),
    (
        r"^encoder\.albert_layer_groups\.(\d+)\.albert_layers\.(\d+)\.attention\.LayerNorm\.",
        r"groups.\1.blocks.\2.attention.layer_norm.",
    ),
    (
        r"^encoder\.albert_layer_groups\.(\d+)\.albert_layers\.(\d+)\.full_layer_layer_norm\.",
        r"groups.\1.blocks.\2.ffn_layer_norm.",
    ),
    (r"^encoder\.albert_layer_groups\.(\d+)\.albert_layers\.(\d+)\.", r"groups.\1.blocks.\2."),
    (r"^pooler\.", "pooler."),
)
# Head renames (full keys), ours -> HF. Sequence classification and multiple choice both name
# their Linear "classifier" (C outputs, or 1), as transformers does; config.json's
# "architectures" tells them apart. Question answering's "qa_outputs" is named alike on both sides.
_HEAD_RULES: tuple[tuple[str, str], ...] = (
    (r"^mlm_head\.layer_norm\.", "predictions.LayerNorm."),
    (r"^mlm_head\.dense\.", "predictions.dense."),
    (r"^mlm_head\.bias$", "predictions.bias"),
    (r"^sop_classifier\.", "sop_classifier.classifier."),
    (r"^classifier\.", "classifier."),
    (r"^qa_outputs\.", "qa_outputs."),
)
_HEAD_RULES_BACK: tuple[tuple[str, str], ...] = (
    (r"^predictions\.LayerNorm\.", "mlm_head.layer_norm."),
    (r"^predictions\.dense\.", "mlm_head.dense."),
    (r"^predictions\.bias$", "mlm_head.bias"),
    (r"^sop_classifier\.classifier\.", "sop_classifier."),
    (r"^classifier\.", "classifier."),
    (r"^qa_outputs\.", "qa_outputs."),
)
# HF keys that carry no information of their own: the tied decoder (a copy of the word table and
# of predictions.bias) and the old non-persistent position_ids buffer.
_HF_REDUNDANT = re.compile(r"^(predictions\.decoder\.(weight|bias)|(albert\.)?embeddings\.position_ids)$")

HF_ARCHITECTURES = {
    "pretraining": "AlbertForPreTraining",
    "classification": "AlbertForSequenceClassification",
    "backbone": "AlbertModel",
    "question_answering": "AlbertForQuestionAnswering",
    "multiple_choice": "AlbertForMultipleChoice",
}
# config.json "architectures" entry -> our head name.
HEADS_BY_ARCHITECTURE = {arch: head for head, arch in HF_ARCHITECTURES.items()}


def _rename(key: str, rules: tuple[tuple[str, str], ...]) -> str | None:
    for pattern, replacement in rules:
        new, count = re.subn(pattern, replacement, key)
        if count:
            return new
    return None


def to_hf_state_dict(state: dict[str, torch.Tensor], *, tie_decoder: bool = False) -> dict[str, torch.Tensor]:
    """Our state dict (a head model with ``albert.`` keys, or a bare backbone) -> transformers keys.

    ``tie_decoder`` adds ``predictions.decoder.{weight,bias}`` (copies) for readers that want all
    82 keys; transformers itself re-ties them, so by default they are left out as it does.
    """
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        if key.startswith("albert."):
            new = _rename(key[len("albert.") :], _BACKBONE_RULES)
            new = None if new is None else "albert." + new
        else:
            new = _rename(key, _HEAD_RULES) or _rename(key, _BACKBONE_RULES)
        if new is None:
            raise AssertionError(f"no Hugging Face name for parameter {key}")  # every module is mapped
        out[new] = tensor
    if tie_decoder and "predictions.bias" in out:
        out["predictions.decoder.weight"] = out["albert.embeddings.word_embeddings.weight"].clone()
        out["predictions.decoder.bias"] = out["predictions.bias"].clone()
    return out


def from_hf_state_dict(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Transformers keys -> our keys with the backbone under ``albert.``; returns (state, unknown keys).

    Accepts checkpoints of ``AlbertModel`` (no prefix) and of the head models (``albert.`` prefix).
    The tied decoder copies and ``position_ids`` are dropped silently; other unknown keys are returned.
    """
    out: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, tensor in state.items():
        if _HF_REDUNDANT.match(key):
            continue
        if key.startswith("albert."):
            new = _rename(key[len("albert.") :], _BACKBONE_RULES_BACK)
            new = None if new is None else "albert." + new
        else:
            new = _rename(key, _HEAD_RULES_BACK)
            if new is None:
                new = _rename(key, _BACKBONE_RULES_BACK)
                new = None if new is None else "albert." + new
        if new is None:
            unknown.append(key)
        else:
            out[new] = tensor
    return out, unknown


def check_hf_layout(config: AlbertConfig, *, where: str = "this model") -> None:
    """Refuse a config transformers cannot represent: any ``embedding_layout`` but ``"google"``."""
    if config.embedding_layout != "google":
        raise AlbertctlError(
            f"{where} uses brightmart/albert_zh's embedding layout (word_embeddings_2), and "
            "transformers' AlbertModel has only the Google layout",
            hint="keep it as an albertctl model folder, which every albertctl command reads; for a "
            "transformers model, pretrain or import one in the Google layout, e.g. --model tiny-zh",
        )


def to_hf_config(
    config: AlbertConfig,
    *,
    head: str,
    num_labels: int | None,
    label_names: Sequence[str] | None = None,
    problem_type: str | None = None,
) -> dict[str, Any]:
    """A transformers ``config.json`` for ``config`` with ``head`` (docs/reference.md §4).

    A pretraining config keeps ``num_labels`` 2, because transformers sizes the SOP head from it;
    question answering has 2 too (transformers sizes ``qa_outputs`` from it); multiple choice
    ignores it (its classifier always has one output). A brightmart-layout ``config`` is refused
    (:func:`check_hf_layout`); ``embedding_layout`` is not written (transformers has no such field).
    A classifier's ``id2label`` is
    ``label_names`` in output order, else ``LABEL_i``; ``problem_type`` defaults to regression for
    one output and single-label classification otherwise.
    """
    check_hf_layout(config)
    labels = num_labels if head == "classification" and num_labels is not None else 2
    if head != "classification" and (label_names is not None or problem_type is not None):
        raise AlbertctlError(
            f"label names and problem_type describe a classification head, not {head!r}",
            hint="pass them only when exporting a sequence classifier",
        )
    names = [f"LABEL_{i}" for i in range(labels)] if label_names is None else [str(n) for n in label_names]
    if len(names) != labels or len(set(names)) != len(names):
        raise AlbertctlError(
            f"label names {names} do not name the classifier's {labels} outputs once each",
            hint=f"give {labels} distinct names, in output order",
        )
    data: dict[str, Any] = {
        "architectures": [HF_ARCHITECTURES[head]],
        "model_type": "albert",
        **{k: v for k, v in config.to_dict().items() if k != "embedding_layout"},
        "position_embedding_type": "absolute",
        "pad_token_id": 0,
        "bos_token_id": 2,
        "eos_token_id": 3,
        "tie_word_embeddings": True,
        "id2label": {str(i): name for i, name in enumerate(names)},
        "label2id": {name: i for i, name in enumerate(names)},
    }
    if head == "classification":
        expected = "regression" if labels == 1 else "single_label_classification"
        if problem_type is not None and problem_type != expected:
            raise AlbertctlError(
                f"problem_type {problem_type!r} does not fit a classifier with {labels} output(s)",
                hint=f"albertctl trains one output as regression and several as single-label "
                f"classification: use {expected!r}",
            )
        data["problem_type"] = expected
    return data


def label_names_of(data: dict[str, Any], *, where: str) -> list[str] | None:
    """A transformers ``config.json``'s ``id2label`` as label names in output order (None if absent).

    ``where`` (the file) goes into the error when the keys are not the numbers 0..C-1.
    """
    id2label = data.get("id2label")
    if not id2label:
        return None
    if not isinstance(id2label, dict):
        raise AlbertctlError(f"{where}: id2label must be an object mapping output numbers to label names")
    try:
        by_index = {int(key): str(name) for key, name in id2label.items()}
    except (TypeError, ValueError):
        by_index = {}
    if sorted(by_index) != list(range(len(id2label))):
        raise AlbertctlError(
            f"{where}: id2label keys {sorted(id2label)} are not the output numbers 0..{len(id2label) - 1}",
            hint='number the labels from 0, as transformers writes them: {"0": "negative", "1": "positive"}',
        )
    return [by_index[i] for i in range(len(by_index))]


def from_hf_config(data: dict[str, Any]) -> tuple[AlbertConfig, int | None]:
    """A transformers ``config.json`` dict -> (our config, its num_labels or None)."""
    if data.get("model_type") not in (None, "albert"):
        raise AlbertctlError(
            f"config.json describes a {data.get('model_type')!r} model, not ALBERT",
            hint="pass an ALBERT checkpoint directory",
        )
    if data.get("position_embedding_type", "absolute") != "absolute":
        raise AlbertctlError(
            f"position_embedding_type {data['position_embedding_type']!r} is not supported (only 'absolute')"
        )
    num_labels = data.get("num_labels")
    if num_labels is None and isinstance(data.get("id2label"), dict):
        num_labels = len(data["id2label"])
    return AlbertConfig.from_dict(data, ignore_unknown=True), num_labels
