"""The settings of ``albertctl finetune squad``: the shared fine-tuning settings plus SQuAD's own.

Kept apart from the training code so the command line reads it without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from albertctl.errors import AlbertctlError
from albertctl.glue.config import FinetuneConfig
from albertctl.glue.tasks import Preset
from albertctl.settings import setting
from albertctl.squad.data import check_version

PRESETS = {
    "1.1": Preset(lr=5e-5, batch_size=48, dropout=0.0, max_steps=3649, warmup_steps=365),
    "2.0": Preset(lr=3e-5, batch_size=48, dropout=0.0, max_steps=8144, warmup_steps=814),
}
"""Paper Table 14's SQuAD rows (classifier dropout 0.1, as every task)."""


@dataclass(frozen=True, kw_only=True)
class SquadOptions:
    """How SQuAD examples become windows and predictions (fine-tuning, predict and eval alike)."""

    version: str = "1.1"
    """SQuAD version: 1.1 (every question answerable) or 2.0 (null answers, a threshold)."""
    max_seq_length: int = setting(384, min=32, max=4096)
    """Tokens per window: [CLS] question [SEP] context [SEP]."""
    doc_stride: int = setting(128, min=1)
    """Context tokens between the starts of two windows of one paragraph."""
    max_query_length: int = setting(64, min=1)
    """Question tokens kept (the rest is cut)."""
    n_best: int = setting(20, min=1)
    """Start and end candidates per window in post-processing."""
    max_answer_length: int = setting(30, min=1)
    """Longest answer, in tokens."""
    null_threshold: float = 0.0
    """SQuAD 2.0: answer "" when null score - best span score exceeds this."""
    skip_bad_answers: bool = False
    """Drop (and count) answers whose answer_start does not match the context instead of stopping."""

    def __post_init__(self) -> None:
        check_version(self.version)
        if self.max_query_length + 3 >= self.max_seq_length:
            raise AlbertctlError(
                f"--max-query-length {self.max_query_length} leaves no room for context in "
                f"--max-seq-length {self.max_seq_length}",
                hint="lower --max-query-length or raise --max-seq-length",
            )


@dataclass(frozen=True, kw_only=True)
class SquadFinetuneConfig(SquadOptions, FinetuneConfig):
    """Settings of one ``finetune squad`` run: the shared fine-tuning settings (None means "the
    version's preset", paper Table 14) and SQuAD's windows and post-processing."""

    max_seq_length: int = setting(384, min=32, max=4096)
    """Tokens per window: [CLS] question [SEP] context [SEP]."""
    eval_batch_size: int = 32
    """Windows per evaluation batch."""

    def __post_init__(self) -> None:
        FinetuneConfig.__post_init__(self)
        SquadOptions.__post_init__(self)
