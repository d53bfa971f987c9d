"""What benchmarks/squad.py and benchmarks/race.py share: the machine line, the step-0 model of a
task head, and the transformers side's inputs and optimizer. Imported as ``_heads`` (the scripts
run from benchmarks/, as ``_peak`` is)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


def machine_line(threads: int, device: torch.device) -> str:
    """CPU model, its bf16 matmul flags, the allocator and the thread count, in one line."""
    from albertctl.train.runtime import cpu_flags

    name = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                name = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    flags = cpu_flags()
    bf16 = ", ".join(f for f in ("amx_bf16", "avx512_bf16") if f in flags) or "no AMX / avx512_bf16"
    allocator = "tcmalloc" if "tcmalloc" in os.environ.get("LD_PRELOAD", "") else "glibc malloc"
    return f"{name} ({bf16}), {allocator}, {threads} torch threads, {device}, torch {torch.__version__}"


def initial_checkpoint(
    head: str,
    model_class: type[torch.nn.Module],
    overrides: dict[str, float],
    *,
    flavor: str,
    model: Path | None,
    vocab: Path | None,
    seed: int,
    out: Path,
) -> Path:
    """Our ``head`` model (a ``model_class``) at step 0 (pretrained backbone + new head, or all
    random), saved as a model folder; ``overrides`` are the task preset's dropouts, so both sides
    run the same graph."""
    from albertctl.model import AlbertConfig, get_config, resolve_checkpoint, save_model
    from albertctl.model.checkpoint import load_model
    from albertctl.vocab import load_tokenizer

    generator = torch.Generator().manual_seed(seed)
    if model is not None:
        ckpt = resolve_checkpoint(model)
        built, _ = load_model(ckpt, head=head, overrides=overrides, generator=generator)
        tokenizer = load_tokenizer(ckpt)
    else:
        assert vocab is not None
        tokenizer = load_tokenizer(vocab)
        base = get_config(flavor, vocab_size=tokenizer.vocab_size)
        config = AlbertConfig.from_dict({**base.to_dict(), **overrides})
        built = model_class(config, generator=generator)  # type: ignore[call-arg]
    return save_model(built, out, tokenizer=tokenizer)


def hf_inputs(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Our batch keys -> transformers' (``input_mask`` is ``attention_mask`` there); (B, L) or
    (B, C, L) alike."""
    return {
        "input_ids": batch["input_ids"].to(device),
        "token_type_ids": batch["token_type_ids"].to(device),
        "attention_mask": batch["input_mask"].to(device),
    }


def hf_optimizer(model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    """``torch.optim.AdamW`` with our settings: decay 0.01 except biases and LayerNorm, eps 1e-6."""
    no_decay = [p for n, p in model.named_parameters() if "bias" in n or "LayerNorm" in n]
    decay = [p for n, p in model.named_parameters() if not ("bias" in n or "LayerNorm" in n)]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=lr, eps=1e-6
    )


def best_of(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One side's rounds -> the first round's metrics with the best throughput of each kind."""
    return {**rounds[0], **{k: max(r[k] for r in rounds) for k in ("train_eps", "eval_eps")}}
