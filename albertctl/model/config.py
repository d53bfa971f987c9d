"""ALBERT hyperparameters: the frozen :class:`AlbertConfig`, the named flavors and ``get_config``.

Field names are the transformers ``AlbertConfig`` names, so a config maps 1:1 to a Hugging Face
``config.json`` (see ``albertctl/model/hf.py`` for the few extra keys transformers wants). The
flavors are the released v2 shapes (docs/reference.md §5), brightmart/albert_zh's albert_tiny in
both embedding layouts (``tiny-zh``, ``tiny-zh-brightmart``; docs/model.md) and ``debug``, a model
small enough for tests. ``get_config`` reads a flavor name or a JSON file (ours or a Hugging Face
``config.json``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from albertctl.errors import AlbertctlError
from albertctl.fsutil import read_utf8

# Activations the model implements. "gelu_new" is the tanh approximation that TF ALBERT calls
# "gelu"; "gelu" here is the exact erf form (the transformers meaning of the name).
ACTIVATIONS: tuple[str, ...] = ("gelu_new", "gelu", "relu", "silu")
# Where the E -> H factorisation sits. "google": google-research/albert (and transformers): word,
# position and token-type tables at E, LayerNorm at E, then a dense E -> H with bias.
# "brightmart": brightmart/albert_zh's modeling.py: the word lookup at E times word_embeddings_2
# (E x H, no bias), then position and token-type tables, LayerNorm and dropout at H; its MLM head
# transforms at H and goes back to E through word_embeddings_2 transposed.
EMBEDDING_LAYOUTS: tuple[str, ...] = ("google", "brightmart")


@dataclass(frozen=True, kw_only=True)
class AlbertConfig:
    """The shape and regularisation of one ALBERT model (defaults: albert-base-v2)."""

    vocab_size: int = 30000
    """Number of token ids (comes from the vocabulary); >= 1."""
    embedding_size: int = 128
    """E: width of the factorised token/position/type embeddings; >= 1."""
    hidden_size: int = 768
    """H: width of the transformer blocks; a multiple of ``num_attention_heads``."""
    num_hidden_layers: int = 12
    """How many times a block group is applied; >= 1."""
    num_hidden_groups: int = 1
    """G: distinct groups of weights; layer i uses group ``i * G // num_hidden_layers``; 1..layers."""
    inner_group_num: int = 1
    """Blocks (each with its own weights) inside one group, run in order per layer; >= 1."""
    num_attention_heads: int = 12
    """N: attention heads; head size is H / N."""
    intermediate_size: int = 3072
    """I: width of the feed-forward inner layer; >= 1."""
    hidden_act: str = "gelu_new"
    """Feed-forward and MLM-transform activation; one of ``ACTIVATIONS`` (gelu_new = TF's tanh gelu)."""
    hidden_dropout_prob: float = 0.0
    """Dropout after embeddings, attention output and FFN output; in [0, 1)."""
    attention_probs_dropout_prob: float = 0.0
    """Dropout on the attention probabilities; in [0, 1)."""
    max_position_embeddings: int = 512
    """Rows of the position table: the longest sequence the model accepts; >= 1."""
    type_vocab_size: int = 2
    """Number of token type (segment) ids; >= 1."""
    initializer_range: float = 0.02
    """Std of the truncated normal (cut at 2 std) used for every weight; > 0."""
    layer_norm_eps: float = 1e-12
    """Epsilon of every LayerNorm; > 0."""
    classifier_dropout_prob: float = 0.1
    """Dropout before the sequence-classification layer; in [0, 1)."""
    embedding_layout: str = "google"
    """Where the E -> H factorisation sits; one of ``EMBEDDING_LAYOUTS`` (google, or brightmart/albert_zh's
    ``word_embeddings_2``). A config.json without it (older folders) means google."""

    def __post_init__(self) -> None:
        for name in (
            "vocab_size",
            "embedding_size",
            "hidden_size",
            "num_hidden_layers",
            "num_hidden_groups",
            "inner_group_num",
            "num_attention_heads",
            "intermediate_size",
            "max_position_embeddings",
            "type_vocab_size",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise AlbertctlError(f"model config: {name} must be an integer >= 1, got {value!r}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout_prob"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise AlbertctlError(f"model config: {name} must be a probability in [0, 1), got {value!r}")
        for name in ("initializer_range", "layer_norm_eps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0.0:
                raise AlbertctlError(f"model config: {name} must be a number > 0, got {value!r}")
        if self.hidden_size % self.num_attention_heads != 0:
            raise AlbertctlError(
                f"model config: hidden_size ({self.hidden_size}) must be a multiple of "
                f"num_attention_heads ({self.num_attention_heads})"
            )
        if self.num_hidden_groups > self.num_hidden_layers:
            raise AlbertctlError(
                f"model config: num_hidden_groups must be in 1..num_hidden_layers "
                f"({self.num_hidden_layers}), "
                f"got {self.num_hidden_groups}"
            )
        if self.hidden_act not in ACTIVATIONS:
            raise AlbertctlError(
                f"model config: hidden_act must be one of {', '.join(ACTIVATIONS)}, got {self.hidden_act!r}"
            )
        if self.embedding_layout not in EMBEDDING_LAYOUTS:
            raise AlbertctlError(
                f"model config: embedding_layout must be one of {', '.join(EMBEDDING_LAYOUTS)}, "
                f"got {self.embedding_layout!r}",
                hint="google is google-research/albert's and transformers' layout; brightmart is "
                "brightmart/albert_zh's (word_embeddings_2)",
            )

    @property
    def head_size(self) -> int:
        """Width of one attention head, H / N."""
        return self.hidden_size // self.num_attention_heads

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain JSON-ready dict (transformers names)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, ignore_unknown: bool = False) -> AlbertConfig:
        """Build a config from a dict; unknown keys are an error unless ``ignore_unknown``."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown and not ignore_unknown:
            raise AlbertctlError(
                f"model config: unknown field(s) {', '.join(unknown)}",
                hint=f"allowed fields: {', '.join(sorted(names))}",
            )
        return cls(**{k: v for k, v in data.items() if k in names})


def _flavor(**kwargs: Any) -> AlbertConfig:
    return AlbertConfig(**kwargs)


# brightmart albert_tiny's shapes: "tiny", "tiny-zh" and "tiny-zh-brightmart" share them.
_ALBERT_TINY: dict[str, Any] = {
    "vocab_size": 21128,
    "embedding_size": 128,
    "hidden_size": 312,
    "num_hidden_layers": 4,
    "num_attention_heads": 12,
    "intermediate_size": 1248,
}

FLAVORS: dict[str, AlbertConfig] = {
    # For tests: every code path (E != H, several heads) at a size that runs in milliseconds.
    "debug": _flavor(
        vocab_size=128,
        embedding_size=16,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
    ),
    # brightmart albert_tiny (Google layout): head size 26.
    "tiny": _flavor(**_ALBERT_TINY),
    # brightmart/albert_zh albert_tiny exactly, as its albert_config_tiny_google.json (albert_tiny_google_zh):
    # the same shapes as "tiny", named for the Chinese checkpoints it loads.
    "tiny-zh": _flavor(**_ALBERT_TINY),
    # The same sizes in albert_zh's own layout (albert_config_tiny.json, albert_tiny_zh): also
    # 512 positions, 2 token types, TF "gelu" (our gelu_new), dropout 0.
    "tiny-zh-brightmart": _flavor(**_ALBERT_TINY, embedding_layout="brightmart"),
    "base": _flavor(
        embedding_size=128,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
    ),
    "large": _flavor(
        embedding_size=128,
        hidden_size=1024,
        num_hidden_layers=24,
        num_attention_heads=16,
        intermediate_size=4096,
    ),
    "xlarge": _flavor(
        embedding_size=128,
        hidden_size=2048,
        num_hidden_layers=24,
        num_attention_heads=16,
        intermediate_size=8192,
    ),
    "xxlarge": _flavor(
        embedding_size=128,
        hidden_size=4096,
        num_hidden_layers=12,
        num_attention_heads=64,
        intermediate_size=16384,
    ),
}

# Keys our checkpoint config.json adds beside the model fields (see checkpoint.py).
_CHECKPOINT_KEYS = ("format", "format_version", "head", "num_labels")


def config_from_json(path: Path) -> AlbertConfig:
    """Read a config JSON: ours (bare or a checkpoint's config.json) or a Hugging Face config.json.

    A Hugging Face file (``model_type`` "albert") carries many extra keys, which are ignored; a
    bare albertctl config must hold only known fields, so typos are caught.
    """
    path = Path(path)
    try:
        data = json.loads(read_utf8(path))
    except (OSError, json.JSONDecodeError) as exc:
        raise AlbertctlError(
            f"cannot read model config {path}: {exc}", hint="pass a flavor name or a JSON file"
        ) from exc
    if not isinstance(data, dict):
        raise AlbertctlError(f"model config {path} must hold a JSON object, got {type(data).__name__}")
    if data.get("model_type") == "albert":
        return AlbertConfig.from_dict(data, ignore_unknown=True)
    return AlbertConfig.from_dict({k: v for k, v in data.items() if k not in _CHECKPOINT_KEYS})


def get_config(name_or_json_path: str | Path, *, vocab_size: int | None = None) -> AlbertConfig:
    """A flavor by name (``FLAVORS``: debug tiny tiny-zh tiny-zh-brightmart base large xlarge xxlarge)
    or a config JSON file.

    ``vocab_size`` (from the vocabulary) replaces the flavor's or file's value when given.
    """
    key = str(name_or_json_path)
    if key in FLAVORS:
        config = FLAVORS[key]
    elif key.endswith(".json") or Path(key).is_file():
        config = config_from_json(Path(key))
    else:
        raise AlbertctlError(
            f"unknown model {key!r}",
            hint=f"use one of {', '.join(FLAVORS)} or a path to a config .json file",
        )
    if vocab_size is not None:
        config = dataclasses.replace(config, vocab_size=vocab_size)
    return config
