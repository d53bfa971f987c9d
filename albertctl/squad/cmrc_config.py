"""The settings of ``albertctl finetune|predict cmrc2018``: SQuAD's, with CMRC 2018's defaults.

CMRC 2018 is SQuAD 1.1 in Chinese, so the fields are :class:`~albertctl.squad.config.SquadOptions`'
(``version`` stays ``"1.1"``; the commands do not offer it). The defaults are the CMRC baseline's
(ymcui/cmrc2018 ``baseline/README.md`` and ``run_cmrc2018_drcd_baseline.py``): windows of 512
tokens, doc stride 128, questions cut to 64 tokens, answers of at most 30 tokens, 20 candidates.
Kept apart from the training code so the command line reads it without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from albertctl.errors import AlbertctlError
from albertctl.glue.tasks import Preset
from albertctl.settings import setting
from albertctl.squad.config import SquadFinetuneConfig, SquadOptions

CMRC_PRESET = Preset(lr=3e-5, batch_size=32, dropout=0.0, max_steps=782, warmup_steps=78)
"""The CMRC baseline's run: lr 3e-5, batch 32, 2 epochs, 10% warm-up. Its steps are 2 epochs of
the ~12,500 training windows cmrc2018_train.json gives at 512 tokens (one token per character);
dropout 0 as ALBERT's SQuAD rows (the BERT baseline keeps BERT's 0.1)."""


def _check_version(version: str) -> None:
    if version != "1.1":
        raise AlbertctlError(
            f"CMRC 2018 has no unanswerable questions: version must be 1.1, got {version!r}",
            hint="leave the version out (CMRC 2018 is scored as SQuAD 1.1 spans)",
        )


@dataclass(frozen=True, kw_only=True)
class CmrcOptions(SquadOptions):
    """How CMRC 2018 questions become windows and answers (predict and eval)."""

    max_seq_length: int = setting(512, min=32, max=4096)
    """Tokens per window: [CLS] question [SEP] context [SEP]."""
    skip_bad_answers: bool = False
    """Training: drop (and count) answers whose text is nowhere in the context instead of stopping."""

    def __post_init__(self) -> None:
        _check_version(self.version)
        SquadOptions.__post_init__(self)


@dataclass(frozen=True, kw_only=True)
class CmrcFinetuneConfig(SquadFinetuneConfig):
    """Settings of one ``finetune cmrc2018`` run: the shared fine-tuning settings (None means
    "the CMRC baseline's", :data:`CMRC_PRESET`) and SQuAD's windows with CMRC's defaults."""

    max_seq_length: int = setting(512, min=32, max=4096)
    """Tokens per window: [CLS] question [SEP] context [SEP]."""
    skip_bad_answers: bool = False
    """Drop (and count) training answers whose text is nowhere in the context instead of stopping
    (a misplaced answer_start is moved to the text, always)."""

    def __post_init__(self) -> None:
        _check_version(self.version)
        SquadFinetuneConfig.__post_init__(self)
