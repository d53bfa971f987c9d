"""``import tf``: read a google-research/albert (or albert_zh) TensorFlow checkpoint without TF.

A TF checkpoint ``PREFIX`` is a tensor bundle: ``PREFIX.index``, a LevelDB-style table (blocks
of prefix-compressed ``name -> BundleEntryProto`` entries, an index block, a 48-byte footer) and
``PREFIX.data-NNNNN-of-MMMMM`` holding the raw little-endian tensor bytes at the entries'
offsets. :func:`read_tf_checkpoint` parses both with the protobuf wire reader of
:mod:`albertctl.vocab.spm_proto`; CRC32C checksums are not verified (sizes and bounds are).

:func:`tf_to_hf_state_dict` renames google-research/albert's variables to transformers' keys
(docs/reference.md §4; TF kernels are [in, out], so they are transposed), dropping the optimizer's
``adam_m``/``adam_v`` slots and ``global_step``; :mod:`albertctl.model.hf` then gives our names.
brightmart/albert_zh's own layout (``albert_tiny_zh`` and the other non-``google`` releases) is
recognised by its variable names (:func:`tf_layout`: ``bert/embeddings/word_embeddings_2``, the one
shared layer under ``bert/encoder/layer_shared/`` with BERT's names) and renamed the same way into a
model with ``embedding_layout = "brightmart"`` (docs/model.md). :func:`import_tf` writes an
albertctl model folder (config, weights, vocabulary) that every command reads. The TF
``albert_config.json`` says ``"hidden_act": "gelu"`` for the tanh form (TF's gelu), which is our
``gelu_new``. albert_zh's Google-layout checkpoints (``albert_*_zh_google``) read as Google's.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from albertctl.errors import AlbertctlError
from albertctl.fsutil import locks_output, read_json, read_utf8
from albertctl.vocab.spm_proto import message_fields, read_varint

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_SIZE = 48
_BLOCK_TRAILER = 5  # compression type byte + crc32c
# TF DataType enum -> numpy dtype (little-endian, as the bundle stores them).
_DTYPES = {1: "<f4", 2: "<f8", 3: "<i4", 9: "<i8", 14: "bfloat16", 19: "<f2"}

# TF variable prefix -> transformers key prefix (docs/reference.md §4); the last path component
# (kernel, bias, gamma, beta) becomes weight/bias below.
_BLOCK = r"^bert/encoder/transformer/group_(\d+)/inner_group_(\d+)/"
_HF_BLOCK = r"albert.encoder.albert_layer_groups.\1.albert_layers.\2."
_TF_RULES: tuple[tuple[str, str], ...] = (
    (r"^bert/embeddings/(word|position|token_type)_embeddings$", r"albert.embeddings.\1_embeddings.weight"),
    (r"^bert/embeddings/LayerNorm/", "albert.embeddings.LayerNorm."),
    (r"^bert/encoder/embedding_hidden_mapping_in/", "albert.encoder.embedding_hidden_mapping_in."),
    (_BLOCK + r"attention_1/self/(query|key|value)/", _HF_BLOCK + r"attention.\3."),
    (_BLOCK + r"attention_1/output/dense/", _HF_BLOCK + "attention.dense."),
    (_BLOCK + r"LayerNorm/", _HF_BLOCK + "attention.LayerNorm."),
    (_BLOCK + r"ffn_1/intermediate/dense/", _HF_BLOCK + "ffn."),
    (_BLOCK + r"ffn_1/intermediate/output/dense/", _HF_BLOCK + "ffn_output."),
    (_BLOCK + r"LayerNorm_1/", _HF_BLOCK + "full_layer_layer_norm."),
    (r"^bert/pooler/dense/", "albert.pooler."),
    (r"^cls/predictions/transform/dense/", "predictions.dense."),
    (r"^cls/predictions/transform/LayerNorm/", "predictions.LayerNorm."),
    (r"^cls/predictions/output_bias$", "predictions.bias"),
    # [out, in] already: created as tf.get_variable("output_weights", [num_labels, hidden]).
    (r"^cls/seq_relationship/output_weights$", "sop_classifier.classifier.weight"),
    (r"^cls/seq_relationship/output_bias$", "sop_classifier.classifier.bias"),
    (r"^output_weights$", "classifier.weight"),
    (r"^output_bias$", "classifier.bias"),
)
# brightmart/albert_zh's modeling.py: one shared BERT layer (share_parameter_across_layers=True,
# the only setting its releases use), the factorised word table in two variables, and the same
# pooler and cls/ heads. The keys are the transformers names our model would have if transformers
# had this layout (hf.py renames them like the Google ones); word_embeddings_2 is a bare [E, H]
# variable, named ".kernel" here so it is transposed into its Linear's [H, E] weight below.
_SHARED = r"^bert/encoder/layer_shared/"
_HF_SHARED = "albert.encoder.albert_layer_groups.0.albert_layers.0."
_BRIGHTMART_RULES: tuple[tuple[str, str], ...] = (
    (r"^bert/embeddings/word_embeddings_2$", "albert.embeddings.word_embeddings_2.kernel"),
    (r"^bert/embeddings/(word|position|token_type)_embeddings$", r"albert.embeddings.\1_embeddings.weight"),
    (r"^bert/embeddings/LayerNorm/", "albert.embeddings.LayerNorm."),
    (_SHARED + r"attention/self/(query|key|value)/", _HF_SHARED + r"attention.\1."),
    (_SHARED + r"attention/output/dense/", _HF_SHARED + "attention.dense."),
    (_SHARED + r"attention/output/LayerNorm/", _HF_SHARED + "attention.LayerNorm."),
    (_SHARED + r"intermediate/dense/", _HF_SHARED + "ffn."),
    (_SHARED + r"output/dense/", _HF_SHARED + "ffn_output."),
    (_SHARED + r"output/LayerNorm/", _HF_SHARED + "full_layer_layer_norm."),
    *(rule for rule in _TF_RULES if rule[0].startswith(("^bert/pooler", "^cls/", "^output_"))),
)
# Variables only one layout has: what tf_layout tells them apart by.
_BRIGHTMART_ONLY = re.compile(r"^bert/(embeddings/word_embeddings_2$|encoder/layer_shared/)")
_GOOGLE_ONLY = re.compile(r"^bert/encoder/(transformer/|embedding_hidden_mapping_in/)")
_SUFFIXES = {
    "kernel": ("weight", True),
    "bias": ("bias", False),
    "gamma": ("weight", False),
    "beta": ("bias", False),
}
# Optimizer state (google-research/albert's AdamW and LAMB both name their slots adam_m/adam_v).
_SKIPPED = re.compile(r"(^|/)(adam_[mv]|Adam(_1)?|global_step)$")
# albert_config.json fields of architectures we do not implement, with their no-op values.
_UNSUPPORTED = {"net_structure_type": 0, "gap_size": 0, "num_memory_blocks": 0, "down_scale_factor": 1}


def _block(data: bytes, offset: int, size: int, where: Path) -> bytes:
    if offset + size + _BLOCK_TRAILER > len(data):
        raise AlbertctlError(
            f"{where} is truncated (a block ends past the file)", hint="copy the checkpoint again"
        )
    if data[offset + size] != 0:
        raise AlbertctlError(
            f"{where} has compressed blocks (type {data[offset + size]}), which albertctl does not read",
            hint="re-save the checkpoint with TensorFlow's default (uncompressed) tensor bundle",
        )
    return data[offset : offset + size]


def _entries(block: bytes) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs of one table block (prefix-compressed keys, restart array at the end)."""
    num_restarts = int.from_bytes(block[-4:], "little")
    end = len(block) - 4 - 4 * num_restarts
    out: list[tuple[bytes, bytes]] = []
    pos, key = 0, b""
    while pos < end:
        shared, pos = read_varint(block, pos)
        unshared, pos = read_varint(block, pos)
        length, pos = read_varint(block, pos)
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        out.append((key, block[pos : pos + length]))
        pos += length
    return out


def _handle(value: bytes) -> tuple[int, int]:
    offset, pos = read_varint(value, 0)
    size, _ = read_varint(value, pos)
    return offset, size


@dataclass(frozen=True)
class _Entry:
    dtype: int
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int


def _count(value: Any, what: str) -> int:
    """A protobuf integer field that must be a non-negative count; else the index is corrupt."""
    if not isinstance(value, int) or value < 0 or value >= 1 << 63:
        raise ValueError(f"{what} is {value!r}")
    return value


def _parse_entry(value: bytes, name: str, where: Path) -> _Entry:
    fields: dict[int, Any] = {}
    shape: list[int] = []
    for number, _, field in message_fields(value):
        if number == 2:  # TensorShapeProto: repeated Dim dim = 2 { int64 size = 1 }
            for inner_number, _, dim in message_fields(bytes(field)):
                if inner_number == 2:
                    size = next((v for n, _, v in message_fields(bytes(dim)) if n == 1), 0)
                    shape.append(_count(size, f"a dimension of {name}"))
        elif number == 7:
            raise AlbertctlError(f"{where}: {name} is a partitioned variable, which albertctl does not read")
        else:
            fields[number] = field
    dtype, shard, offset, size = (_count(fields.get(n, 0), f"field {n} of {name}") for n in (1, 3, 4, 5))
    return _Entry(dtype, tuple(shape), shard, offset, size)


def _read_index(index: Path) -> tuple[dict[str, _Entry], int]:
    """(entries by variable name, number of data shards) of a checkpoint's ``.index`` table; any
    malformed byte is one clear error (the table is parsed with bounds and type checks)."""
    data = index.read_bytes()
    if len(data) < _FOOTER_SIZE or int.from_bytes(data[-8:], "little") != _TABLE_MAGIC:
        raise AlbertctlError(f"{index} is not a TensorFlow checkpoint index (bad magic number)")
    try:
        footer = data[-_FOOTER_SIZE:]
        _, pos = read_varint(footer, 0)  # metaindex handle: offset
        _, pos = read_varint(footer, pos)  # and size (unused)
        index_offset, pos = read_varint(footer, pos)
        index_size, _ = read_varint(footer, pos)
        entries: dict[str, _Entry] = {}
        num_shards = 1
        for _, handle in _entries(_block(data, index_offset, index_size, index)):
            for key, value in _entries(_block(data, *_handle(handle), index)):
                if key == b"":  # BundleHeaderProto { int32 num_shards = 1; ... }
                    num_shards = next((v for n, _, v in message_fields(value) if n == 1), 1)
                    if not isinstance(num_shards, int) or not 1 <= num_shards < 100_000:
                        raise ValueError(f"the header says {num_shards!r} data shards")
                    continue
                name = key.decode("utf-8")
                entries[name] = _parse_entry(value, name, index)
    except (IndexError, ValueError, TypeError, OverflowError) as exc:
        if isinstance(exc, AlbertctlError):
            raise
        raise AlbertctlError(
            f"{index} is corrupt ({type(exc).__name__}: {exc})",
            hint="copy the checkpoint again (every .index and .data-* file of one prefix)",
        ) from None
    for name, entry in entries.items():
        if entry.shard >= num_shards:
            raise AlbertctlError(
                f"{index} is corrupt ({name} names data shard {entry.shard} of {num_shards})"
            )
    return entries, num_shards


def read_tf_checkpoint(prefix: Path) -> dict[str, np.ndarray]:
    """Every numeric tensor of the TF checkpoint ``prefix`` (``PREFIX.index`` + data shards)."""
    index = Path(f"{prefix}.index")
    if not index.is_file():
        raise AlbertctlError(
            f"{index} does not exist", hint="pass the checkpoint prefix, e.g. DIR/model.ckpt-1000"
        )
    entries, num_shards = _read_index(index)
    shards: dict[int, np.ndarray] = {}  # memory maps: optimizer slots are never read into memory
    out: dict[str, np.ndarray] = {}
    for name, entry in entries.items():
        if entry.dtype not in _DTYPES:
            continue  # strings and other non-numeric state
        if entry.shard not in shards:
            path = Path(f"{prefix}.data-{entry.shard:05d}-of-{num_shards:05d}")
            if not path.is_file():
                raise AlbertctlError(
                    f"{path} is missing (named by {index})", hint="copy every file of the checkpoint"
                )
            shards[entry.shard] = (
                np.memmap(path, dtype=np.uint8, mode="r") if path.stat().st_size else np.zeros(0, np.uint8)
            )
        shard = shards[entry.shard]
        dtype = _dtype(_DTYPES[entry.dtype])
        count = math.prod(entry.shape)
        if entry.size != count * dtype.itemsize or entry.offset + entry.size > len(shard):
            raise AlbertctlError(
                f"{index}: {name} does not fit its data shard (truncated or corrupt checkpoint)"
            )
        out[name] = shard[entry.offset : entry.offset + entry.size].view(dtype).reshape(entry.shape)
    return out


def _dtype(name: str) -> np.dtype:
    if name == "bfloat16":
        raise AlbertctlError(
            "bfloat16 TF checkpoints are not supported", hint="save the checkpoint in float32"
        )
    return np.dtype(name)


def _strip_hub(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The tensors without TF-Hub's ``module/`` prefix (a Hub export puts every variable under it)."""
    if tensors and all(name.startswith("module/") for name in tensors):
        return {name.removeprefix("module/"): array for name, array in tensors.items()}
    return tensors


def tf_layout(tensors: dict[str, np.ndarray], *, where: str = "the checkpoint") -> str:
    """Which embedding layout a TF checkpoint's variables are in: ``"brightmart"`` when it has
    albert_zh's ``word_embeddings_2`` or ``layer_shared`` variables, else ``"google"``; a
    checkpoint with variables of both is refused (``where`` names it in the error)."""
    names = [n for n in _strip_hub(tensors) if not _SKIPPED.search(n)]
    brightmart = next((n for n in names if _BRIGHTMART_ONLY.search(n)), None)
    google = next((n for n in names if _GOOGLE_ONLY.search(n)), None)
    if brightmart is not None and google is not None:
        raise AlbertctlError(
            f"{where} mixes google-research/albert's variables ({google}) with "
            f"brightmart/albert_zh's ({brightmart})",
            hint="import a checkpoint saved by one of the two codebases, unmodified",
        )
    return "brightmart" if brightmart is not None else "google"


def tf_to_hf_state_dict(
    tensors: dict[str, np.ndarray], *, layout: str | None = None
) -> tuple[dict[str, Any], list[str]]:
    """TF variable names -> transformers-style keys (torch tensors, kernels transposed); returns
    (state, names neither mapped nor known optimizer state).

    ``layout`` is ``"google"`` (google-research/albert) or ``"brightmart"`` (albert_zh's own,
    whose ``word_embeddings_2`` becomes ``albert.embeddings.word_embeddings_2.weight``, [H, E]);
    by default :func:`tf_layout` decides from the names.
    """
    import torch

    tensors = _strip_hub(tensors)
    layout = tf_layout(tensors) if layout is None else layout
    rules = _BRIGHTMART_RULES if layout == "brightmart" else _TF_RULES
    state: dict[str, Any] = {}
    unknown: list[str] = []
    for name, array in sorted(tensors.items()):
        if _SKIPPED.search(name):
            continue
        key = None
        for pattern, replacement in rules:
            key, count = re.subn(pattern, replacement, name)
            if count:
                break
        else:
            unknown.append(name)
            continue
        transpose = False
        head, _, last = key.rpartition(".")
        if last in _SUFFIXES and head:
            suffix, transpose = _SUFFIXES[last]
            key = f"{head}.{suffix}"
        tensor = torch.from_numpy(np.array(array.T if transpose else array, dtype=np.float32, order="C"))
        state[key] = tensor
    return state, unknown


def tf_config_to_hf(tf_config: dict[str, Any]) -> dict[str, Any]:
    """A TF ``albert_config.json`` -> a transformers-style config dict (``gelu`` is the tanh form)."""
    for field, neutral in _UNSUPPORTED.items():
        if tf_config.get(field, neutral) != neutral:
            raise AlbertctlError(
                f"albert_config.json sets {field} = {tf_config[field]!r}, a variant albertctl lacks",
                hint=f"only the standard ALBERT ({field} = {neutral}) is supported",
            )
    if tf_config.get("ln_type", "postln") != "postln":  # albert_zh's pre-LN variant
        raise AlbertctlError(
            f"albert_config.json sets ln_type {tf_config['ln_type']!r}; only 'postln' is supported"
        )
    act = tf_config.get("hidden_act", "gelu")
    return {**tf_config, "model_type": "albert", "hidden_act": "gelu_new" if act == "gelu" else act}


@dataclass(frozen=True)
class ImportReport:
    """What ``import_tf`` read and wrote."""

    prefix: Path
    """The checkpoint prefix read (``DIR/model.ckpt-N``)."""
    out_dir: Path
    head: str
    """pretraining, classification or backbone (from the variables present)."""
    num_parameters: int
    skipped: int
    """Optimizer tensors and ``global_step``, not imported."""
    vocabulary: Path | None
    """The vocabulary copied in (``vocab.txt`` or a ``.model``), None when there was none."""


def find_checkpoint(source: Path) -> Path:
    """The checkpoint prefix: ``source`` itself, or in a directory the one its ``checkpoint`` file
    names (the newest), else its only ``*.index``."""
    source = Path(source)
    if Path(f"{source}.index").is_file():
        return source
    if not source.is_dir():
        raise AlbertctlError(
            f"{source} is neither a TF checkpoint prefix nor a directory", hint="check the path"
        )
    state = source / "checkpoint"
    if state.is_file():
        match = re.search(r'^model_checkpoint_path:\s*"(.*)"', read_utf8(state), re.MULTILINE)
        if match:
            named = Path(match.group(1))
            for prefix in (named if named.is_absolute() else source / named, source / named.name):
                if Path(f"{prefix}.index").is_file():
                    return prefix
    indexes = sorted(source.glob("*.index"))
    if len(indexes) == 1:
        return indexes[0].with_suffix("")
    if not indexes:
        raise AlbertctlError(f"no TF checkpoint (*.index) in {source}", hint="pass the checkpoint prefix")
    names = ", ".join(p.with_suffix("").name for p in indexes)
    raise AlbertctlError(
        f"{source} holds several checkpoints ({names})", hint="pass one prefix, e.g. DIR/model.ckpt-1000"
    )


def _find_one(directory: Path, patterns: tuple[str, ...], what: str, flag: str) -> Path | None:
    for pattern in patterns:
        found = sorted(directory.glob(pattern))
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise AlbertctlError(
                f"{directory} holds several {what} files ({', '.join(p.name for p in found)})",
                hint=f"choose one with {flag}",
            )
    return None


@locks_output("out_dir")
def import_tf(
    source: Path,
    out_dir: Path,
    *,
    config_file: Path | None = None,
    vocab: Path | None = None,
    overwrite: bool = False,
) -> ImportReport:
    """Write ``out_dir`` as an albertctl model folder from a TF ALBERT checkpoint (module docstring)."""
    import torch

    from albertctl.model import hf
    from albertctl.model.checkpoint import build_model, save_model
    from albertctl.vocab import load_tokenizer

    prefix = find_checkpoint(source)
    directory = prefix.parent
    config_file = config_file or _find_one(
        directory, ("albert_config*.json", "*config*.json"), "config", "--config"
    )
    if config_file is None or not config_file.is_file():
        raise AlbertctlError(
            f"no albert_config.json beside {prefix}", hint="pass the model's config with --config FILE"
        )
    raw_config = read_json(config_file)
    if not isinstance(raw_config, dict):
        raise AlbertctlError(
            f"{config_file} must hold a JSON object (an albert_config.json), "
            f"not a {type(raw_config).__name__}"
        )
    try:
        config, _ = hf.from_hf_config(tf_config_to_hf(raw_config))
    except AlbertctlError as exc:
        raise AlbertctlError(f"{config_file}: {exc.message}", hint=exc.hint) from None
    tensors = read_tf_checkpoint(prefix)
    layout = tf_layout(tensors, where=str(prefix))
    stated = raw_config.get("embedding_layout", layout)
    if stated != layout:
        raise AlbertctlError(
            f"{config_file} says embedding_layout {stated!r}, but {prefix} has {layout}'s variables",
            hint="drop embedding_layout from the config: the checkpoint's variable names decide it",
        )
    config = dataclasses.replace(config, embedding_layout=layout)
    hf_state, unknown = tf_to_hf_state_dict(tensors, layout=layout)
    state, unknown_hf = hf.from_hf_state_dict(hf_state)
    unknown += unknown_hf
    if unknown:
        codebase = "brightmart/albert_zh's" if layout == "brightmart" else "google-research/albert's"
        raise AlbertctlError(
            f"{prefix}: {len(unknown)} variables are not {codebase} ({', '.join(unknown[:3])}, ...)",
            hint="albertctl reads google-research/albert's checkpoints and albert_zh's (both layouts, "
            "post-LN, one shared layer)",
        )
    if "albert.embeddings.word_embeddings.weight" not in state:
        raise AlbertctlError(f"{prefix} holds no ALBERT embeddings (bert/embeddings/word_embeddings)")
    if (
        layout == "google"
        and "albert.embedding_hidden_mapping_in.weight" not in state
        and config.embedding_size == config.hidden_size
    ):
        # TF ALBERT has no E -> H projection when E == H; ours always does: the identity.
        state["albert.embedding_hidden_mapping_in.weight"] = torch.eye(config.hidden_size)
        state["albert.embedding_hidden_mapping_in.bias"] = torch.zeros(config.hidden_size)
    if any(k.startswith("mlm_head.") for k in state):
        head, num_labels = "pretraining", None
    elif "classifier.weight" in state:
        head, num_labels = "classification", int(state["classifier.weight"].shape[0])
    else:
        head, num_labels = "backbone", None
        state = {k.removeprefix("albert."): v for k, v in state.items() if k.startswith("albert.")}
    # Shapes are compared on the meta device first: a config that does not belong to the
    # checkpoint (vocab_size 10**9, say) is refused before its model is allocated.
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in build_model(config, head, num_labels).state_dict().items()}
    wrong = next((k for k, v in state.items() if k in shapes and tuple(v.shape) != shapes[k]), None)
    missing, extra = sorted(set(shapes) - set(state)), sorted(set(state) - set(shapes))
    if wrong is not None or missing or extra:
        if wrong is not None:
            got, want = list(state[wrong].shape), list(shapes[wrong])
            what = f"{wrong} is {got} in the checkpoint, {want} by the config"
        else:
            what = f"it lacks {', '.join(missing[:3])}" if missing else f"{', '.join(extra[:3])} are extra"
        raise AlbertctlError(
            f"{prefix} does not match its config {config_file.name}: {what}",
            hint="check that --config belongs to this checkpoint",
        )
    model = build_model(config, head, num_labels)
    model.load_state_dict(state, strict=True)
    if vocab is None:
        vocab = _find_one(directory, ("vocab.txt", "*.model"), "vocabulary", "--vocab")
    tokenizer = load_tokenizer(vocab) if vocab is not None else None
    if tokenizer is not None and tokenizer.vocab_size != config.vocab_size:
        raise AlbertctlError(
            f"{vocab} has {tokenizer.vocab_size} pieces; the checkpoint's vocab_size is {config.vocab_size}",
            hint="pass the vocabulary the model was trained with (--vocab)",
        )
    save_model(model, out_dir, tokenizer=tokenizer, overwrite=overwrite)
    return ImportReport(
        prefix=prefix,
        out_dir=Path(out_dir),
        head=head,
        num_parameters=sum(p.numel() for p in model.parameters()),
        skipped=len(tensors) - len(hf_state) - len(unknown),
        vocabulary=vocab,
    )
