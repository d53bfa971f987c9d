"""Vocabularies for ALBERT: SentencePiece training (``build_vocab``) and the ``Tokenizer``s
(SentencePiece, and WordPiece ``vocab.txt`` in :mod:`albertctl.vocab.wordpiece`).

``load_tokenizer(dir)`` is what every later stage calls; ``build_vocab`` is what
``albertctl build-vocab`` calls. See docs/vocab.md.
"""

from __future__ import annotations

from albertctl.vocab.build import REFERENCE_USER_SYMBOLS, BuildVocabConfig, BuildVocabReport, build_vocab
from albertctl.vocab.normalize import NormalizationConfig, normalize_text
from albertctl.vocab.tokenizer import (
    ALLOW_VOCAB_MISMATCH,
    EncodedPair,
    SentencePieceTokenizer,
    Tokenizer,
    WordStartRule,
    check_same_vocabulary,
    has_vocabulary,
    load_tokenizer,
    reference_word_start,
    truncate_pair,
)

__all__ = [
    "ALLOW_VOCAB_MISMATCH",
    "REFERENCE_USER_SYMBOLS",
    "BuildVocabConfig",
    "BuildVocabReport",
    "EncodedPair",
    "NormalizationConfig",
    "SentencePieceTokenizer",
    "Tokenizer",
    "WordStartRule",
    "build_vocab",
    "check_same_vocabulary",
    "has_vocabulary",
    "load_tokenizer",
    "normalize_text",
    "reference_word_start",
    "truncate_pair",
]
