"""Write ``tokenizer.json`` and ``tokenizer_config.json`` so transformers tokenizes exactly as we do.

transformers 5 has only the ``tokenizers``-backed ``AlbertTokenizer``. Converting a bare
``spiece.model`` gives it two differences from SentencePiece and the TF reference
(docs/reference.md §1): user symbols become "added tokens" that split the text, so the word after
``-`` or ``.`` gets a new ``▁`` (``well-known`` -> ``▁well - ▁known``), and pieces ending in
digit + ``,`` are kept (``▁1,`` instead of ``▁1 ,``). The ``tokenizer.json`` written here fixes both:

- user symbols stay ordinary Unigram pieces (SentencePiece never learns a piece that contains
  one, so the lattice still isolates them, as SentencePiece does);
- whitespace becomes ``▁`` plus a dummy ``▁`` prefix in the normalizer, as in SentencePiece,
  instead of a per-word pre-tokenizer;
- pieces ending in digit + ``,`` get score - 100, the transformers converter's stand-in for the
  reference digit-comma fix (it can differ from the fix in rare cases, see docs/vocab.md).

Pure JSON: no ``tokenizers`` or ``protobuf`` import; the normalizer's precompiled character map
is read from ``spiece.model`` by :mod:`albertctl.vocab.spm_proto`.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from albertctl.fsutil import write_json
from albertctl.vocab.base import SPECIAL_IDS
from albertctl.vocab.normalize import NormalizationConfig
from albertctl.vocab.spm_proto import is_unigram, precompiled_charsmap

HF_TOKENIZER_FILE = "tokenizer.json"
HF_CONFIG_FILE = "tokenizer_config.json"
DIGIT_COMMA_PENALTY = 100.0


def _is_digit_comma(piece: str) -> bool:
    return len(piece) > 1 and piece[-1] == "," and piece[-2].isdigit()


def hf_tokenizer_json(
    pieces: list[tuple[str, float]],
    special_ids: dict[str, int],
    normalization: NormalizationConfig,
    charsmap: bytes,
) -> dict[str, Any]:
    """The ``tokenizer.json`` document for a Unigram SentencePiece vocabulary (pure function)."""
    normalizers: list[dict[str, Any]] = []
    if normalization.remove_space:
        normalizers += [
            {"type": "Replace", "pattern": {"Regex": r"\s+"}, "content": " "},
            {"type": "Strip", "strip_left": True, "strip_right": True},
        ]
    if normalization.map_quotes:
        normalizers += [
            {"type": "Replace", "pattern": {"String": "``"}, "content": '"'},
            {"type": "Replace", "pattern": {"String": "''"}, "content": '"'},
        ]
    if not normalization.keep_accents:
        normalizers += [{"type": "NFKD"}, {"type": "StripAccents"}]
    if normalization.lower:
        normalizers.append({"type": "Lowercase"})
    if charsmap:
        normalizers.append(
            {"type": "Precompiled", "precompiled_charsmap": base64.b64encode(charsmap).decode()}
        )
    # SentencePiece's own whitespace handling: collapse, strip, "▁" for spaces, dummy prefix.
    normalizers += [
        {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
        {"type": "Strip", "strip_left": True, "strip_right": True},
        {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
        {"type": "Prepend", "prepend": "\u2581"},
    ]
    penalty = DIGIT_COMMA_PENALTY if normalization.digit_comma_fix else 0.0
    vocab = [[piece, score - penalty if _is_digit_comma(piece) else score] for piece, score in pieces]
    cls, sep = "[CLS]", "[SEP]"
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": token_id,
                "content": piece,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
            for piece, token_id in special_ids.items()
        ],
        "normalizer": {"type": "Sequence", "normalizers": normalizers},
        "pre_tokenizer": None,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": cls, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": sep, "type_id": 0}},
            ],
            "pair": [
                {"SpecialToken": {"id": cls, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": sep, "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 1}},
                {"SpecialToken": {"id": sep, "type_id": 1}},
            ],
            "special_tokens": {
                cls: {"id": cls, "ids": [special_ids[cls]], "tokens": [cls]},
                sep: {"id": sep, "ids": [special_ids[sep]], "tokens": [sep]},
            },
        },
        "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        "model": {"type": "Unigram", "unk_id": special_ids["<unk>"], "vocab": vocab, "byte_fallback": False},
    }


def hf_tokenizer_config(normalization: NormalizationConfig) -> dict[str, Any]:
    """``tokenizer_config.json``: the class and the settings a sentencepiece-based (slow)
    transformers ``AlbertTokenizer`` reads (it always maps quotes and fixes digit-commas)."""
    return {
        "tokenizer_class": "AlbertTokenizer",
        "do_lower_case": normalization.lower,
        "keep_accents": normalization.keep_accents,
        "remove_space": normalization.remove_space,
        "bos_token": "[CLS]",
        "eos_token": "[SEP]",
        "unk_token": "<unk>",
        "sep_token": "[SEP]",
        "pad_token": "<pad>",
        "cls_token": "[CLS]",
        "mask_token": "[MASK]",
        "model_max_length": 512,
    }


def write_hf_files(model_file: Path, out_dir: Path, normalization: NormalizationConfig) -> list[str]:
    """Write ``tokenizer.json`` (Unigram models only) and ``tokenizer_config.json`` into ``out_dir``.

    Returns the names written.
    """
    import sentencepiece as spm

    model_bytes = Path(model_file).read_bytes()
    written = [HF_CONFIG_FILE]
    write_json(out_dir / HF_CONFIG_FILE, hf_tokenizer_config(normalization))
    if not is_unigram(model_bytes):
        return written  # transformers' AlbertTokenizer is Unigram; a BPE vocab has no HF twin
    sp = spm.SentencePieceProcessor(model_proto=model_bytes)
    pieces = [(sp.IdToPiece(i), sp.GetScore(i)) for i in range(sp.GetPieceSize())]
    document = hf_tokenizer_json(pieces, SPECIAL_IDS, normalization, precompiled_charsmap(model_bytes))
    tmp = out_dir / (HF_TOKENIZER_FILE + ".tmp")
    tmp.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    tmp.replace(out_dir / HF_TOKENIZER_FILE)
    written.append(HF_TOKENIZER_FILE)
    return written
