"""The settings of ``albertctl finetune glue``: one frozen dataclass, every field its flag.

Kept apart from :mod:`albertctl.glue.finetune` so the command line reads it without importing
the training code (numpy, torch).
"""

from __future__ import annotations

from dataclasses import dataclass

from albertctl.errors import AlbertctlError
from albertctl.settings import check_ranges, setting


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"1,2,3"`` -> (1, 2, 3), with a clear error for anything else."""
    try:
        seeds = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise AlbertctlError(
            f"--seeds {text!r} is not a comma list of integers", hint="e.g. --seeds 1,2,3"
        ) from None
    if not seeds:
        raise AlbertctlError("--seeds is empty", hint="e.g. --seeds 1,2,3")
    return seeds


PRESETS = ("auto", "reference", "small")
SMALL_HIDDEN = 768
"""Models narrower than this get the ``small`` preset under ``--preset auto``."""


@dataclass(frozen=True, kw_only=True)
class FinetuneConfig:
    """Settings of one ``finetune glue`` run; None means "the task's preset". Each field is its
    command-line flag (:mod:`albertctl.settings`)."""

    preset: str = "auto"
    """reference (paper Table 14), small, or auto (by model width). See docs/glue.md."""
    lr: float | None = setting(None, above=0, default_text="the preset")
    """Peak learning rate."""
    batch_size: int | None = setting(None, default_text="the preset")
    """Training sequences per step."""
    max_steps: int | None = setting(None, default_text="the preset")
    """Optimizer steps (not together with --epochs)."""
    epochs: float | None = None
    """Epochs (instead of --max-steps), converted to steps with the train set size."""
    warmup_steps: int | None = setting(None, default_text="the preset, or 10% of the steps")
    """Linear warm-up steps."""
    dropout: float | None = setting(None, default_text="the preset")
    """ALBERT hidden/attention dropout during fine-tuning."""
    classifier_dropout: float = 0.1
    """Dropout before the classifier (the reference: 0.1)."""
    weight_decay: float = setting(0.01, min=0, below=1)
    """AdamW weight decay (LayerNorm and biases excluded)."""
    clip_norm: float = setting(1.0, above=0)
    """Global gradient-norm clip (the reference: 1.0)."""
    max_nonfinite: int = setting(5, min=1)
    """Stop after this many non-finite steps in a row (each one's update is skipped)."""
    max_seq_length: int = setting(128, min=8, max=4096)
    """Tokens per example. After truncation; the reference uses 512, and batches are padded only
    to their longest."""
    eval_every: int | None = setting(None, default_text="10 per run")
    """Dev evaluation every N steps (and always at the end)."""
    eval_batch_size: int = 64
    """Sequences per evaluation batch."""
    seeds: tuple[int, ...] = setting((1,), parse=parse_seeds)
    """One run per seed, e.g. 1,2,3. Results give mean ± std and each seed."""
    random_init: bool = False
    """Fresh weights, same config and tokenizer: the baseline."""
    max_train_examples: int | None = None
    """Use only the first N training examples (quick runs, demos)."""
    max_eval_examples: int | None = None
    """Use only the first N examples of each dev split."""
    device: str = "auto"
    """auto (CUDA when present, else CPU), cpu, cuda, cuda:N."""
    precision: str = "fp32"
    """fp32, bf16 (autocast) or auto (bf16 where the CPU/GPU runs it fast)."""

    def __post_init__(self) -> None:
        check_ranges(self)
        if self.preset not in PRESETS:
            raise AlbertctlError(f"preset must be one of {', '.join(PRESETS)}, got {self.preset!r}")
        if self.max_steps is not None and self.epochs is not None:
            raise AlbertctlError(
                f"--max-steps {self.max_steps} and --epochs {self.epochs:g} both set the run's length",
                hint="pass one of them",
            )
        positive = {
            "batch_size": self.batch_size,
            "max_steps": self.max_steps,
            "epochs": self.epochs,
            "eval_every": self.eval_every,
            "max_train_examples": self.max_train_examples,
            "max_eval_examples": self.max_eval_examples,
        }
        for name, value in positive.items():
            if value is not None and not value > 0:
                raise AlbertctlError(f"{name} must be > 0, got {value}")
        if self.warmup_steps is not None and self.warmup_steps < 0:
            raise AlbertctlError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        for name, value in (("dropout", self.dropout), ("classifier_dropout", self.classifier_dropout)):
            if value is not None and not 0.0 <= value < 1.0:
                raise AlbertctlError(f"{name} must be in [0, 1), got {value}")
        if self.eval_batch_size < 1:
            raise AlbertctlError(f"eval_batch_size must be >= 1, got {self.eval_batch_size}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise AlbertctlError(f"seeds must be distinct and non-empty, got {self.seeds}")
