"""SentencePiece vocabularies for ALBERT: training (``build_vocab``) and the ``Tokenizer``.

``load_tokenizer(dir)`` is what every later stage calls; ``build_vocab`` is what
``albertctl build-vocab`` calls. See docs/vocab.md.
"""

from __future__ import annotations

from albertctl.vocab.build import REFERENCE_USER_SYMBOLS, BuildVocabConfig, BuildVocabReport, build_vocab
from albertctl.vocab.normalize import NormalizationConfig, normalize_text
from albertctl.vocab.tokenizer import (
    EncodedPair,
    Tokenizer,
    WordStartRule,
    load_tokenizer,
    reference_word_start,
    truncate_pair,
)

__all__ = [
    "REFERENCE_USER_SYMBOLS",
    "BuildVocabConfig",
    "BuildVocabReport",
    "EncodedPair",
    "NormalizationConfig",
    "Tokenizer",
    "WordStartRule",
    "build_vocab",
    "load_tokenizer",
    "normalize_text",
    "reference_word_start",
    "truncate_pair",
]
