"""The settings of ``albertctl finetune race``: the shared fine-tuning settings plus RACE's own.

Kept apart from the training code so the command line reads it without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from albertctl.errors import AlbertctlError
from albertctl.glue.config import FinetuneConfig
from albertctl.glue.tasks import Preset
from albertctl.settings import setting

PRESET = Preset(lr=2e-5, batch_size=32, dropout=0.1, max_steps=12000, warmup_steps=1000)
"""Paper Table 14's RACE row (classifier dropout 0.1, max_seq_length 512)."""


@dataclass(frozen=True, kw_only=True)
class RaceOptions:
    """How RACE questions become option rows (fine-tuning, predict and eval alike)."""

    max_seq_length: int = setting(512, min=16, max=4096)
    """Tokens per option row: [CLS] article [SEP] question+option [SEP]."""
    max_qa_length: int = setting(128, min=1)
    """Question+option tokens kept; the article is cut to fit the rest."""

    def __post_init__(self) -> None:
        if self.max_qa_length + 3 >= self.max_seq_length:
            raise AlbertctlError(
                f"--max-qa-length {self.max_qa_length} leaves no room for the article in "
                f"--max-seq-length {self.max_seq_length}",
                hint="lower --max-qa-length or raise --max-seq-length",
            )


@dataclass(frozen=True, kw_only=True)
class RaceFinetuneConfig(RaceOptions, FinetuneConfig):
    """Settings of one ``finetune race`` run: the shared fine-tuning settings (None means "the
    preset", paper Table 14) and RACE's row layout."""

    max_seq_length: int = setting(512, min=16, max=4096)
    """Tokens per option row: [CLS] article [SEP] question+option [SEP]."""
    eval_batch_size: int = 8
    """Questions (of four option rows each) per evaluation batch."""

    def __post_init__(self) -> None:
        FinetuneConfig.__post_init__(self)
        RaceOptions.__post_init__(self)
