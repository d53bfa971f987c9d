"""Text normalization applied before SentencePiece, identically at training and at encoding.

This is the reference ``preprocess_text`` (google-research/albert ``tokenization.py``, and the
slow transformers ``AlbertTokenizer``): collapse runs of whitespace to one space and strip the
ends, map the LaTeX-style quotes ``\\`\\``` and ``''`` to ``"`` (transformers does this; TF ALBERT does
not, so it is a setting), NFKD then drop combining marks (accent stripping), and lower-case.
SentencePiece then applies its own ``nmt_nfkc`` rules inside the model.

The digit-comma fix (a piece ending in digit + ``,`` is re-encoded with the comma split off) acts
on pieces after SentencePiece and lives in :mod:`albertctl.vocab.tokenizer`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass
from typing import Any

from albertctl.errors import AlbertctlError


@dataclass(frozen=True, kw_only=True)
class NormalizationConfig:
    """How text is normalized before SentencePiece; saved in ``vocab_config.json``."""

    lower: bool = True
    """Lower-case the text (True for every released English ALBERT)."""
    keep_accents: bool = False
    """Keep accents; when False, NFKD-decompose and drop combining marks."""
    remove_space: bool = True
    """Collapse every run of whitespace to one space and strip both ends."""
    map_quotes: bool = True
    """Map ``\\`\\``` and ``''`` to ``"`` as transformers does (TF ALBERT does not)."""
    digit_comma_fix: bool = True
    """Split the comma off pieces that end in digit + ``,`` (reference ``encode_pieces``)."""

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, bool):
                raise AlbertctlError(f"normalization.{name} must be true or false, got {value!r}")

    def to_dict(self) -> dict[str, bool]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NormalizationConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise AlbertctlError(
                f"unknown normalization settings {unknown} in vocab_config.json",
                hint=f"known settings: {sorted(known)}; the vocabulary was written by a newer albertctl?",
            )
        return cls(**data)


def normalize_text(text: str, config: NormalizationConfig) -> str:
    """Apply the reference pre-SentencePiece normalization to one string."""
    if config.remove_space:
        text = " ".join(text.split())
    if config.map_quotes:
        text = text.replace("``", '"').replace("''", '"')
    # ASCII text has nothing to decompose; skipping NFKD there keeps encoding near raw spm speed.
    if not config.keep_accents and not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    if config.lower:
        text = text.lower()
    return text
