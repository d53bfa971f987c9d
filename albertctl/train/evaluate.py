"""Held-out evaluation of a pretraining checkpoint: the library behind ``albertctl eval pretrain``.

:func:`evaluate_pretraining` computes what a pretraining run's evaluation records in
``metrics.jsonl`` (``--eval-data``), for any checkpoint and any ``make-data`` output, without
training: the data is opened as pretraining opens it (manifest, shard hashes with ``verify``,
the model's vocabulary against the manifest's fingerprint), the model runs in eval mode (no
dropout) over the first ``max_sequences`` rows in file order, ``batch_size`` rows per batch,
and the metrics have the trainer's definitions, summed over the whole set:

- MLM loss = Σ w·CE / (Σ w + 1e-5) over the masked positions, MLM accuracy = Σ w·[argmax = id] / Σ w;
- SOP loss = Σ CE / sequences, SOP accuracy = correct / sequences; loss = MLM loss + SOP loss.

With the run's eval batch (its micro-batch: ``--batch-size`` / (``--grad-accum`` x processes)),
``--eval-max-sequences`` and precision, the numbers equal the run's own evaluation of that
checkpoint (``tests/test_eval_pretrain.py`` checks the final one to 1e-6 in fp32).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from albertctl.errors import AlbertctlError

DEFAULT_BATCH_SIZE = 256
"""Rows per held-out batch: the tiny recipe's micro-batch, what its runs evaluate with."""
DEFAULT_MAX_SEQUENCES = 2048
"""Held-out rows evaluated: ``pretrain --eval-max-sequences``' default."""


@dataclass(frozen=True)
class HeldoutReport:
    """Held-out MLM and SOP metrics of one checkpoint (the fields of a run's eval record)."""

    loss: float
    """mlm_loss + sop_loss."""
    mlm_loss: float
    """Σ w·CE / (Σ w + 1e-5) over every masked position of the set."""
    sop_loss: float
    """Mean SOP cross entropy over the sequences."""
    mlm_acc: float
    """Masked positions predicted right / masked positions."""
    sop_acc: float
    """Sequences whose order was predicted right / sequences."""
    sequences: int
    """Held-out sequences evaluated."""
    masked_tokens: int
    """Masked positions over those sequences (the MLM denominator)."""
    seconds: float
    """Wall time of the evaluation loop (loading not included)."""
    checkpoint: Path
    """The model folder evaluated (a run directory resolves to its newest checkpoint)."""
    precision: str
    """fp32 or bf16 (auto resolved)."""
    device: str
    """The device it ran on."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (the path as a string)."""
        out = dataclasses.asdict(self)
        out["checkpoint"] = str(self.checkpoint)
        return out


def evaluate_pretraining(
    checkpoint: Path,
    data: Sequence[Path],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_sequences: int | None = DEFAULT_MAX_SEQUENCES,
    device: str = "auto",
    precision: str = "auto",
    verify: bool = True,
) -> HeldoutReport:
    """Held-out MLM/SOP loss and accuracy of ``checkpoint`` (a model folder, or a pretraining run
    directory: its newest checkpoint) on the pretraining data directories ``data`` (same
    vocabulary; their rows in order). ``max_sequences=None`` evaluates every row. See the module
    docstring for the definitions."""
    import torch

    from albertctl.data.loader import (
        ShardSet,
        held_out_masking,
        iter_eval_batches,
        merge_data_infos,
        read_data_info,
    )
    from albertctl.model.checkpoint import HEAD_PREFIXES, load_checkpoint, resolve_checkpoint
    from albertctl.train.distributed import DistContext
    from albertctl.train.runtime import resolve_device, resolve_precision
    from albertctl.train.trainer import PretrainingObjective, evaluate

    for name, value in (("batch_size", batch_size), ("max_sequences", max_sequences)):
        if value is None and name == "max_sequences":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise AlbertctlError(f"{name} must be an integer >= 1, got {value!r}")
    if not data:
        raise AlbertctlError("no held-out data given", hint="pass --data DIR (a make-data output)")
    torch_device = resolve_device(device)
    resolved_precision = resolve_precision(precision, torch_device)
    model_dir = resolve_checkpoint(Path(checkpoint))
    info = merge_data_infos([read_data_info(Path(d), verify=verify) for d in data])
    _check_vocabulary(model_dir, info)

    loaded = load_checkpoint(model_dir, head="pretraining", generator=torch.Generator().manual_seed(0))
    head = HEAD_PREFIXES["pretraining"]
    fresh = [name for name in loaded.initialized if name.startswith(head)]
    if fresh:
        raise AlbertctlError(
            f"{model_dir} has no pretraining head (no {', '.join(sorted({n.split('.')[0] for n in fresh}))} "
            "weights), so its MLM/SOP predictions would come from random weights",
            hint="evaluate a pretraining checkpoint (a pretrain run dir or one of its checkpoints)",
        )
    config = loaded.config
    if config.vocab_size != info.vocab_size:
        raise AlbertctlError(
            f"the model's vocab_size {config.vocab_size} != the data's {info.vocab_size} "
            f"({info.data_dir / 'manifest.json'})",
            hint="evaluate on data built with the model's vocabulary (make-data --vocab MODEL_DIR)",
        )
    if info.max_seq_length > config.max_position_embeddings:
        raise AlbertctlError(
            f"the data's rows reach {info.max_seq_length} tokens but the model has "
            f"{config.max_position_embeddings} positions",
            hint="rebuild the held-out data with a smaller --max-seq-length",
        )
    shards = ShardSet(info.shards, vocab_size=info.vocab_size)
    model = loaded.model.to(torch_device)
    model.eval()

    t0 = time.perf_counter()
    stats = evaluate(
        model,
        PretrainingObjective(),
        iter_eval_batches(
            shards, batch_size=batch_size, max_rows=max_sequences, masking=held_out_masking(info)
        ),
        ctx=DistContext(),
        device=torch_device,
        precision=resolved_precision,
    )
    if torch_device.type == "cuda":
        torch.cuda.synchronize(torch_device)
    seconds = time.perf_counter() - t0
    mlm_loss, sop_loss = PretrainingObjective.mlm_loss(stats), PretrainingObjective.sop_loss(stats)
    return HeldoutReport(
        loss=mlm_loss + sop_loss,
        mlm_loss=mlm_loss,
        sop_loss=sop_loss,
        mlm_acc=stats["mlm_correct"] / max(stats["mlm_count"], 1.0),
        sop_acc=stats["sop_correct"] / max(stats["sop_count"], 1.0),
        sequences=int(stats["sop_count"]),
        masked_tokens=int(stats["mlm_count"]),
        seconds=seconds,
        checkpoint=model_dir,
        precision=resolved_precision,
        device=str(torch_device),
    )


def _check_vocabulary(model_dir: Path, info: Any) -> None:
    """The model's vocabulary (when its folder has one) must be the one the data was built with."""
    from albertctl.vocab import check_same_vocabulary, has_vocabulary, load_tokenizer

    if not has_vocabulary(model_dir):
        return  # a bare weights folder: only vocab_size can be compared
    check_same_vocabulary(
        (load_tokenizer(model_dir).fingerprint(), f"the model {model_dir}"),
        (info.vocab_fingerprint, f"the data {info.data_dir / 'manifest.json'}"),
        hint="evaluate on held-out data built with the model's vocabulary (make-data --vocab MODEL_DIR)",
    )
