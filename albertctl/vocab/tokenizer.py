"""The ``Tokenizer`` contract every stage uses, and its SentencePiece implementation.

:class:`Tokenizer` holds what is common to every vocabulary kind (pairs, word starts,
fingerprints; defined in :mod:`albertctl.vocab.base` and re-exported here);
:func:`load_tokenizer` picks the kind from the directory: ``spiece.model``
(:class:`SentencePieceTokenizer`, what ``build-vocab`` writes and every released English
ALBERT uses) or a WordPiece ``vocab.txt`` (:class:`albertctl.vocab.wordpiece.WordPieceTokenizer`,
what albert_zh and the Chinese BERTs use).

The SentencePiece kind reads ``DIR/spiece.model`` and ``DIR/vocab_config.json`` (normalization
settings). A directory with only ``spiece.model`` (a Hugging Face model folder, a released
ALBERT) gets the released models' defaults: lower-case, accents stripped, quotes mapped,
digit-comma fix.

Ids follow the released models: ``<pad>`` 0, ``<unk>`` 1, ``[CLS]`` 2, ``[SEP]`` 3, ``[MASK]`` 4.
Pairs are ``[CLS] A [SEP] B [SEP]`` with token types 0 through the first ``[SEP]``, 1 after;
the longer side loses its last token until the pair fits (B on a tie), as the reference
classifier does. ``word_starts`` is the reference whole-word rule, replaceable by another
:class:`WordStartRule` (a Chinese word segmenter, say).
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from albertctl.errors import AlbertctlError
from albertctl.fsutil import read_json, write_json

# The shared contract lives in base (wordpiece and hf_export import it from there, so imports
# between the vocabulary modules go one way); its names are re-exported here, where callers
# have always imported them.
from albertctl.vocab.base import (
    CLS,
    CONFIG_FILE,
    MASK,
    MODEL_FILE,
    PAD,
    SEP,
    SPECIAL_IDS,
    SPIECE_UNDERLINE,
    UNK,
    VOCAB_FILE,
    WORDPIECE_FILE,
    EncodedPair,
    Tokenizer,
    WordStartRule,
    truncate_pair,
)
from albertctl.vocab.hf_export import write_hf_files
from albertctl.vocab.normalize import NormalizationConfig, batch_normalizer, normalize_batch, normalize_text
from albertctl.vocab.offsets import align_normalization, map_spans
from albertctl.vocab.spm_proto import (
    USER_DEFINED,
    has_ascii_rule,
    has_space_rule,
    inert_chars,
    piece_types,
    precompiled_charsmap,
    removes_extra_whitespaces,
)
from albertctl.vocab.wordpiece import WordPieceConfig, WordPieceTokenizer, wordpiece_word_start

if TYPE_CHECKING:
    import sentencepiece

__all__ = [
    "ALLOW_VOCAB_MISMATCH",
    "CLS",
    "CONFIG_FILE",
    "MASK",
    "MODEL_FILE",
    "PAD",
    "SEP",
    "SPECIAL_IDS",
    "SPIECE_UNDERLINE",
    "UNK",
    "VOCAB_FILE",
    "WORDPIECE_FILE",
    "EncodedPair",
    "SentencePieceTokenizer",
    "Tokenizer",
    "WordStartRule",
    "check_same_vocabulary",
    "has_vocabulary",
    "load_tokenizer",
    "reference_word_start",
    "truncate_pair",
]

# Reference create_pretraining_data.py `_is_start_piece_sp`: ASCII punctuation is its own word. Its
# set spells '"' twice and has no apostrophe, so a piece holding "'" always starts a word; kept as is.
_PUNCTUATION = frozenset('!"#$%&"()*+,-./:;?@[\\]^_`{|}~')
_ENGLISH_OR_PUNCT = frozenset("abcdefghijklmnopqrstuvwxyz") | _PUNCTUATION


def reference_word_start(piece: str) -> bool:
    """The reference SentencePiece word-start rule (docs/reference.md §2 step 8).

    A piece starts a word when it begins with ``▁`` or ``<``, is one ASCII punctuation mark, or
    holds any character outside a-z and punctuation (so digits and non-English text always
    count, albert#161).
    """
    if piece.startswith(SPIECE_UNDERLINE) or piece.startswith("<") or piece in _PUNCTUATION:
        return True
    return not all(c.lower() in _ENGLISH_OR_PUNCT for c in piece)


class SentencePieceTokenizer(Tokenizer):
    """A SentencePiece ALBERT vocabulary with the reference normalization and special ids."""

    def __init__(
        self,
        model_file: Path,
        normalization: NormalizationConfig | None = None,
        *,
        word_start_rule: WordStartRule = reference_word_start,
        num_threads: int = 1,
    ) -> None:
        import sentencepiece as spm

        self.model_file = Path(model_file)
        if not self.model_file.is_file():
            raise AlbertctlError(
                f"{self.model_file} does not exist", hint="build it with `albertctl build-vocab`"
            )
        self.normalization = normalization or NormalizationConfig()
        self.word_start_rule = word_start_rule
        self.num_threads = num_threads
        self._sp: sentencepiece.SentencePieceProcessor = spm.SentencePieceProcessor()
        try:
            self._sp.Load(str(self.model_file))
        except (OSError, RuntimeError) as exc:
            raise AlbertctlError(f"{self.model_file} is not a SentencePiece model ({exc})") from None
        self.vocab_size: int = self._sp.GetPieceSize()
        for piece, expected in SPECIAL_IDS.items():
            found = self._sp.PieceToId(piece)
            if found != expected or self._sp.IdToPiece(expected) != piece:
                raise AlbertctlError(
                    f"{self.model_file} does not have ALBERT's id layout: "
                    f"{piece} is id {found}, expected {expected}",
                    hint="rebuild the vocabulary with `albertctl build-vocab`",
                )
        self.pad_id: int = SPECIAL_IDS[PAD]
        self.unk_id: int = SPECIAL_IDS[UNK]
        self.cls_id: int = SPECIAL_IDS[CLS]
        self.sep_id: int = SPECIAL_IDS[SEP]
        self.mask_id: int = SPECIAL_IDS[MASK]
        self._pieces: list[str] = list(self._sp.IdToPiece(list(range(self.vocab_size))))
        # Ids whose piece ends in digit + "," get the digit-comma fix; precomputed so the common
        # case (no such id in a text) costs one set lookup per id.
        self._digit_comma_ids = frozenset(
            i for i, p in enumerate(self._pieces) if len(p) > 1 and p[-1] == "," and p[-2].isdigit()
        )
        self._comma_id: int = self._sp.PieceToId(",")
        # Read from spiece.model's bytes on first use (parsing every piece in Python costs more than
        # the rest of loading, and data workers never ask for either).
        self._user_symbol_ids: frozenset[int] | None = None
        self._normalizer_facts: tuple[bool, bool, str] | None = None
        self._normalize_one: Callable[[Sequence[str]], tuple[list[bytes | str], list[int]]] | None = None
        self._word_starts: list[bool] | None = None
        self._fingerprint: str | None = None

    # -- encoding -------------------------------------------------------------------------------

    def normalize(self, text: str) -> str:
        """The text SentencePiece sees (see :mod:`albertctl.vocab.normalize`)."""
        return normalize_text(text, self.normalization)

    def _fix_digit_comma(self, ids: list[int]) -> list[int]:
        if not self.normalization.digit_comma_fix or self._digit_comma_ids.isdisjoint(ids):
            return ids
        fixed: list[int] = []
        for i in ids:
            if i not in self._digit_comma_ids:
                fixed.append(i)
                continue
            piece = self._pieces[i]
            sub = self._sp.EncodeAsPieces(piece[:-1].replace(SPIECE_UNDERLINE, ""))
            if piece[0] != SPIECE_UNDERLINE and sub and sub[0][0] == SPIECE_UNDERLINE:
                sub = sub[1:] if len(sub[0]) == 1 else [sub[0][1:], *sub[1:]]
            fixed.extend(self._sp.PieceToId(p) for p in sub)
            fixed.append(self._comma_id)
        return fixed

    def encode(self, text: str) -> list[int]:
        """Ids of one text, without special tokens (:meth:`encode_batch`'s fast paths, one text)."""
        if self._normalize_one is None:
            _, collapses_spaces, inert = self._normalizer_facts_of_model()
            self._normalize_one = batch_normalizer(
                self.normalization, spm_collapses_spaces=collapses_spaces, inert=inert
            )
        (normalized,), flagged = self._normalize_one([text])
        ids: list[int] = self._sp.EncodeAsIds(normalized)
        return self._fix_digit_comma(ids) if flagged or not self._normalizer_facts_of_model()[0] else ids

    def encode_batch(self, texts: Sequence[str], *, num_threads: int | None = None) -> list[list[int]]:
        """Ids of many texts (exactly :meth:`encode`'s), by SentencePiece's threaded batch encoder.

        Texts the fast normalization check passes go to SentencePiece as UTF-8 bytes; runs of
        spaces are left to SentencePiece where it provably removes them the same way. The
        digit-comma fix looks only at texts holding a digit or a non-ASCII or control character
        when SentencePiece leaves printable ASCII as it is: a piece of the others cannot end in
        digit + ``,`` (see :meth:`_normalizer_facts_of_model`).
        """
        keeps_ascii, collapses_spaces, inert = self._normalizer_facts_of_model()
        normalized, flagged = normalize_batch(
            texts, self.normalization, spm_collapses_spaces=collapses_spaces, inert=inert
        )
        threads = self.num_threads if num_threads is None else num_threads
        batch: list[list[int]] = self._sp.Encode(normalized, out_type=int, num_threads=threads)
        if not self.normalization.digit_comma_fix or not self._digit_comma_ids:
            return batch
        digit_comma = self._digit_comma_ids
        for index in flagged if keeps_ascii else range(len(batch)):
            ids = batch[index]
            if not digit_comma.isdisjoint(ids):
                batch[index] = self._fix_digit_comma(ids)
        return batch

    def _normalizer_facts_of_model(self) -> tuple[bool, bool, str]:
        """What SentencePiece's own normalizer (in the model) does, read once (~5 ms):

        - whether it leaves printable ASCII unchanged but for spaces (no rule of its character map
          rewrites printable ASCII alone): then a printable ASCII text without digits has no piece
          ending in digit + ``,``;
        - whether it collapses runs of spaces exactly as ``remove_space`` does: it removes extra
          whitespace, no rule source and no piece (user symbols match before the rules) holds a
          space, so each space is a unit of its own, and after one space the next ones add nothing
          (SentencePiece also drops leading and trailing ones);
        - the non-ASCII characters known to be in no rule's source (common punctuation, for the
          built-in ``nmt_nfkc``): a text of them and printable ASCII, without digits, is left as it
          is too.
        """
        if self._normalizer_facts is None:
            model = self._sp.serialized_model_proto()
            charsmap = precompiled_charsmap(model)
            collapses = (
                removes_extra_whitespaces(model)
                and not has_space_rule(charsmap)
                and not any(" " in piece for piece in self._pieces)
            )
            keeps_ascii = not has_ascii_rule(charsmap)
            self._normalizer_facts = (keeps_ascii, collapses, inert_chars(charsmap) if keeps_ascii else "")
        return self._normalizer_facts

    def encode_with_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Ids of one text (exactly :meth:`encode`'s) and each token's span of the original text.

        SentencePiece reports each piece's span in the text it was given; the spans go back
        through the alignment :func:`~albertctl.vocab.offsets.align_normalization` builds while
        normalizing. A ``▁word`` piece covers ``word``; a lone ``▁`` is zero-width at the next
        character; pieces the digit-comma fix splits get the split spans.
        """
        return self.encode_batch_with_offsets([text])[0]

    def encode_batch_with_offsets(
        self, texts: Sequence[str], *, num_threads: int | None = None
    ) -> list[tuple[list[int], list[tuple[int, int]]]]:
        """:meth:`encode_with_offsets` of many texts, SentencePiece's threaded batch encoder inside."""

        alignments = [align_normalization(t, self.normalization) for t in texts]
        threads = self.num_threads if num_threads is None else num_threads
        encoded = self._encode_spans([a.text for a in alignments], threads)
        out: list[tuple[list[int], list[tuple[int, int]]]] = []
        for alignment, (ids, pieces, spans) in zip(alignments, encoded, strict=True):
            ids, spans = self._fix_digit_comma_spans(ids, pieces, spans)
            out.append((ids, map_spans(alignment, [b for b, _ in spans], [e for _, e in spans])))
        return out

    def _encode_spans(
        self, normalized: list[str], num_threads: int
    ) -> list[tuple[list[int], list[str], list[tuple[int, int]]]]:
        """Ids, pieces and ``[begin, end)`` character spans (in the given text) of each text."""
        try:
            batch = self._sp.Encode(normalized, out_type="offset_mapping", num_threads=num_threads)
        except (ValueError, RuntimeError):
            # sentencepiece < 0.2.3 has no offset_mapping; its immutable proto has the character
            # spans (the Python wrapper converts them from bytes).
            protos = self._sp.Encode(normalized, out_type="immutable_proto", num_threads=num_threads)
            return [
                ([p.id for p in t.pieces], [p.piece for p in t.pieces], [(p.begin, p.end) for p in t.pieces])
                for t in protos
            ]
        return [(r["ids"], r["pieces"], r["offsets"]) for r in batch]

    def _fix_digit_comma_spans(
        self, ids: list[int], pieces: list[str], spans: list[tuple[int, int]]
    ) -> tuple[list[int], list[tuple[int, int]]]:
        """:meth:`_fix_digit_comma` keeping spans: the comma gets the piece's last character, the
        re-encoded digits the characters before it."""
        if not self.normalization.digit_comma_fix or self._digit_comma_ids.isdisjoint(ids):
            return ids, spans
        fixed: list[int] = []
        fixed_spans: list[tuple[int, int]] = []
        for token_id, piece, (begin, end) in zip(ids, pieces, spans, strict=True):
            if token_id not in self._digit_comma_ids:
                fixed.append(token_id)
                fixed_spans.append((begin, end))
                continue
            digits = piece[:-1].replace(SPIECE_UNDERLINE, "")
            _, sub_pieces, sub_spans = self._encode_spans([digits], 1)[0]
            sub_pieces, sub_spans = list(sub_pieces), list(sub_spans)
            # As in _fix_digit_comma: a piece that did not start a word must not gain a "▁".
            if piece[0] != SPIECE_UNDERLINE and sub_pieces and sub_pieces[0][0] == SPIECE_UNDERLINE:
                if len(sub_pieces[0]) == 1:
                    sub_pieces, sub_spans = sub_pieces[1:], sub_spans[1:]
                else:
                    sub_pieces[0] = sub_pieces[0][1:]
            # The digits are the characters just before the comma (the piece's last character).
            base = max(begin, end - 1 - len(digits))
            fixed.extend(self._sp.PieceToId(p) for p in sub_pieces)
            fixed_spans.extend((min(base + b, end - 1), min(base + e, end - 1)) for b, e in sub_spans)
            fixed.append(self._comma_id)
            fixed_spans.append((max(begin, end - 1), end))
        return fixed, fixed_spans

    # -- inspection -----------------------------------------------------------------------------

    def piece_to_id(self, piece: str) -> int:
        return self._sp.PieceToId(piece)

    def _is_special(self, token_id: int) -> bool:
        return bool(self._sp.IsControl(token_id) or self._sp.IsUnknown(token_id))

    def is_user_symbol(self, token_id: int) -> bool:
        """Whether ``token_id`` is a user symbol (always split out, e.g. ``-`` and ``.``)."""
        if self._user_symbol_ids is None:
            types = piece_types(self._sp.serialized_model_proto())
            self._user_symbol_ids = frozenset(i for i, kind in enumerate(types) if kind == USER_DEFINED)
        return token_id in self._user_symbol_ids

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = True) -> str:
        """Text of ``ids`` (normalized: lower-cased, accents stripped as at encoding)."""
        if skip_special_tokens:
            ids = [i for i in ids if not self._sp.IsControl(i) and i != self.pad_id]
        return self._sp.DecodeIds(list(ids))

    def fingerprint(self) -> str:
        """Hex sha256 of ``spiece.model``."""
        if self._fingerprint is None:
            self._fingerprint = hashlib.sha256(self.model_file.read_bytes()).hexdigest()
        return self._fingerprint

    def vocab_config(self) -> dict[str, Any]:
        """What ``vocab_config.json`` holds for this tokenizer."""
        return {
            "kind": "sentencepiece",
            "model_file": MODEL_FILE,
            "vocab_size": self.vocab_size,
            "special_ids": dict(SPECIAL_IDS),
            "normalization": self.normalization.to_dict(),
        }

    def save(self, out_dir: Path) -> None:
        """Copy ``spiece.model`` (and ``spiece.vocab`` when present), write ``vocab_config.json``, and
        ``tokenizer.json`` + ``tokenizer_config.json`` so transformers tokenizes as we do."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / MODEL_FILE
        if target.resolve() != self.model_file.resolve():
            shutil.copyfile(self.model_file, target)
        vocab = self.model_file.with_name(VOCAB_FILE)
        if vocab.is_file() and (out_dir / VOCAB_FILE).resolve() != vocab.resolve():
            shutil.copyfile(vocab, out_dir / VOCAB_FILE)
        write_hf_files(target, out_dir, self.normalization)
        write_json(out_dir / CONFIG_FILE, self.vocab_config())

    def __repr__(self) -> str:
        return f"SentencePieceTokenizer({str(self.model_file)!r}, vocab_size={self.vocab_size})"


def _hf_normalization(hf: dict[str, Any]) -> NormalizationConfig:
    """The released defaults, overridden by a transformers ``tokenizer_config.json``'s settings."""
    return NormalizationConfig(
        lower=bool(hf.get("do_lower_case", True)),
        keep_accents=bool(hf.get("keep_accents", False)),
        remove_space=bool(hf.get("remove_space", True)),
    )


def _read_object(path: Path) -> dict[str, Any]:
    data = read_json(path)
    if not isinstance(data, dict):
        raise AlbertctlError(f"{path} must hold a JSON object", hint="fix or remove the file")
    return data


def has_vocabulary(directory: Path) -> bool:
    """Whether ``directory`` holds a vocabulary :func:`load_tokenizer` can read."""
    return any((Path(directory) / name).is_file() for name in (MODEL_FILE, WORDPIECE_FILE))


ALLOW_VOCAB_MISMATCH = "--allow-vocab-mismatch"
"""The flag that lets two artifacts of different vocabularies meet, where a user can mean it."""


def check_same_vocabulary(
    first: tuple[str, str], second: tuple[str, str], *, allow: bool | None = None, hint: str
) -> bool:
    """Refuse to join two artifacts whose vocabularies differ: each is ``(fingerprint, source)``,
    the source saying where its fingerprint comes from. An empty fingerprint (an artifact written
    before fingerprints were recorded) is not compared. ``allow=None``: a mismatch is always an
    error; ``False``: an error whose hint names :data:`ALLOW_VOCAB_MISMATCH`; ``True``: allowed.
    Returns whether the vocabularies differ."""
    (fingerprint_a, source_a), (fingerprint_b, source_b) = first, second
    if not fingerprint_a or not fingerprint_b or fingerprint_a == fingerprint_b:
        return False
    if allow:
        return True
    if allow is False:
        hint = f"{hint}; {ALLOW_VOCAB_MISMATCH} if the change is meant"
    raise AlbertctlError(
        f"vocabularies differ: {fingerprint_a[:12]} ({source_a}) vs {fingerprint_b[:12]} ({source_b})",
        hint=hint,
    )


# Vocabulary kind -> (its file's default name, the vocab_config.json key that may rename it).
_KIND_FILES = {"sentencepiece": (MODEL_FILE, "model_file"), "wordpiece": (WORDPIECE_FILE, "vocab_file")}


def load_tokenizer(path: str | Path, *, word_start_rule: WordStartRule | None = None) -> Tokenizer:
    """Load the tokenizer in ``path``: our vocab dir, a directory holding ``spiece.model``
    (SentencePiece) or ``vocab.txt`` (WordPiece), or one of those two files.

    ``vocab_config.json``, when present, names the kind and its settings. Without it a
    ``spiece.model`` gets the released models' normalization defaults (lower-case, strip accents,
    map quotes, digit-comma fix) and a ``vocab.txt`` BERT's (lower-case, strip accents, split CJK
    ideographs), each overridden by a transformers ``tokenizer_config.json`` when the directory
    has one (a cased model says so there). ``word_start_rule`` replaces the kind's whole-word rule.
    """
    path = Path(path)
    file: Path | None = None
    if path.is_file() and path.suffix in (".model", ".txt"):
        directory, file = path.parent, path
        kind = "sentencepiece" if path.suffix == ".model" else "wordpiece"
    elif path.is_dir():
        directory = path
        only_wordpiece = (path / WORDPIECE_FILE).is_file() and not (path / MODEL_FILE).is_file()
        kind = "wordpiece" if only_wordpiece else "sentencepiece"
    else:
        raise AlbertctlError(
            f"vocabulary {path} does not exist", hint="build one with `albertctl build-vocab`"
        )
    config: dict[str, Any] = {}
    if (directory / CONFIG_FILE).is_file():
        config = _read_object(directory / CONFIG_FILE)
        named = config.get("kind", "sentencepiece")
        if named not in _KIND_FILES:
            raise AlbertctlError(
                f"{directory / CONFIG_FILE} names vocabulary kind {named!r}",
                hint="this albertctl reads 'sentencepiece' and 'wordpiece'",
            )
        if file is not None and named != kind:
            config = {}  # it describes the directory's other vocabulary, not this file
        kind = named if file is None else kind
    default_name, key = _KIND_FILES[kind]
    file = file or directory / config.get(key, default_name)
    if not file.is_file():
        raise AlbertctlError(
            f"{directory} has no {file.name}",
            hint="build one with `albertctl build-vocab`, or pass a directory with spiece.model or vocab.txt",
        )
    hf_file = directory / "tokenizer_config.json"
    hf = _read_object(hf_file) if hf_file.is_file() else {}
    settings = config.get("normalization", {}) if config else None
    if kind == "wordpiece":
        wordpiece = (
            WordPieceConfig.from_dict(settings) if settings is not None else WordPieceConfig.from_hf(hf)
        )
        return WordPieceTokenizer(file, wordpiece, word_start_rule=word_start_rule or wordpiece_word_start)
    normalization = NormalizationConfig.from_dict(settings) if settings is not None else _hf_normalization(hf)
    return SentencePieceTokenizer(
        file, normalization, word_start_rule=word_start_rule or reference_word_start
    )
