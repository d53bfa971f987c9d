"""Train a BERT-Chinese style WordPiece ``vocab.txt`` with Hugging Face ``tokenizers``.

``build-vocab --kind wordpiece`` (:func:`albertctl.vocab.build.build_vocab`) samples the corpus
and calls :func:`train_wordpiece` here; what comes back is the list of pieces, id = position,
which :func:`write_wordpiece_vocab` writes one per line. The layout is bert-base-chinese's::

    0        [PAD]
    1..99    [unused1] .. [unused99]   (free slots, as in BERT, for tokens added later)
    100      [UNK]
    101      [CLS]
    102      [SEP]
    103      [MASK]
    104..    learned pieces: the alphabet (every CJK ideograph alone), then ``##`` pieces and
             whole words of other scripts in the order the trainer learned them

The trainer sees text split as :class:`albertctl.vocab.wordpiece.WordPieceTokenizer` splits it
(``tokenizers``' ``BertNormalizer`` + ``BertPreTokenizer``, the Rust twins of BERT's basic
tokenizer, with the same lower-case / accent / CJK settings), so every piece is one our
tokenizer and transformers' ``BertTokenizer`` can reach.

``tokenizers`` is an optional dependency (``pip install 'albertctl[zh]'``): it is imported only
here, inside the functions, and its absence is one :class:`~albertctl.errors.AlbertctlError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType

from albertctl.errors import AlbertctlError
from albertctl.vocab.wordpiece import BERT_SPECIALS, CONTINUATION, WordPieceConfig

PAD, UNK, CLS, SEP, MASK = BERT_SPECIALS
NUM_UNUSED = 99
# bert-base-chinese's first 104 lines: the special ids every Chinese BERT/ALBERT checkpoint expects.
BERT_CHINESE_SPECIALS: tuple[str, ...] = (
    PAD,
    *(f"[unused{i}]" for i in range(1, NUM_UNUSED + 1)),
    UNK,
    CLS,
    SEP,
    MASK,
)
INSTALL_HINT = "pip install 'albertctl[zh]'  (or: pip install 'tokenizers>=0.15')"


def require_tokenizers() -> ModuleType:
    """The ``tokenizers`` module, or an :class:`AlbertctlError` saying how to install it."""
    try:
        import tokenizers
    except ImportError:
        raise AlbertctlError(
            "--kind wordpiece needs the Hugging Face `tokenizers` library, which is not installed",
            hint=INSTALL_HINT,
        ) from None
    return tokenizers


def strip_accents_for(lower: bool, keep_accents: bool) -> bool | None:
    """``WordPieceConfig.strip_accents`` for build-vocab's ``--lower`` / ``--keep-accents``.

    None ("follow lower", BERT's default and what bert-base-chinese's config says) where that
    already gives the asked behaviour; an explicit bool otherwise (``--no-lower`` without
    ``--keep-accents`` still strips accents, as it does for the SentencePiece kind)."""
    strip = not keep_accents
    return None if strip == lower else strip


def order_pieces(trained: dict[str, int]) -> list[str]:
    """The trained ``piece -> id`` map laid out as bert-base-chinese: the 104 special lines,
    then every other piece in the trainer's id order."""
    specials = set(BERT_CHINESE_SPECIALS)
    learned = sorted((i, piece) for piece, i in trained.items() if piece not in specials)
    return [*BERT_CHINESE_SPECIALS, *(piece for _, piece in learned)]


def train_wordpiece(
    sentences: Iterable[str], *, vocab_size: int, normalization: WordPieceConfig
) -> list[str]:
    """Train WordPiece on raw ``sentences`` (the trainer splits them, see the module docstring);
    returns the vocabulary, id = index, exactly ``vocab_size`` pieces long or shorter when the
    text holds fewer. A corpus with more distinct characters than ``vocab_size`` can hold is an
    :class:`AlbertctlError` naming the least size that works (every character must stay a piece,
    or words holding it would all become ``[UNK]``)."""
    tokenizers = require_tokenizers()
    from tokenizers import models, normalizers, pre_tokenizers, trainers

    if vocab_size <= len(BERT_CHINESE_SPECIALS):
        raise AlbertctlError(
            f"vocab_size must be > {len(BERT_CHINESE_SPECIALS)} for --kind wordpiece "
            f"([PAD], 99 [unused], [UNK], [CLS], [SEP], [MASK]), got {vocab_size}"
        )
    tokenizer = tokenizers.Tokenizer(models.WordPiece(unk_token=UNK, continuing_subword_prefix=CONTINUATION))
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True,
        handle_chinese_chars=normalization.tokenize_chinese_chars,
        strip_accents=normalization.strip_accents,  # None follows lowercase, as ours
        lowercase=normalization.lower,
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        special_tokens=list(BERT_CHINESE_SPECIALS),
        continuing_subword_prefix=CONTINUATION,
        show_progress=False,
    )
    tokenizer.train_from_iterator(sentences, trainer)
    pieces = order_pieces(tokenizer.get_vocab())
    if len(pieces) > vocab_size:
        # The trainer keeps every character (and its ## form) even past vocab_size.
        raise AlbertctlError(
            f"vocab size {vocab_size} cannot hold this corpus's characters: "
            f"the alphabet alone needs {len(pieces)} pieces",
            hint=f"raise --vocab-size to at least {len(pieces)} (bert-base-chinese: 21128)",
        )
    return pieces


def write_wordpiece_vocab(pieces: Sequence[str], path: Path) -> None:
    """Write ``vocab.txt``: one piece per line, id = line number, UTF-8, LF, final newline."""
    bad = [p for p in pieces if not p or "\n" in p or "\r" in p or p != p.strip()]
    # An internal invariant: the trainer's pieces come from whitespace-split words.
    assert not bad, f"pieces that cannot be one vocab.txt line: {bad[:3]!r}"
    Path(path).write_text("".join(f"{piece}\n" for piece in pieces), encoding="utf-8", newline="\n")
