"""The settings of ``albertctl make-data``: one frozen dataclass, every field its flag.

Kept apart from :mod:`albertctl.data.build` so the command line reads it without importing
the builder (numpy, the tokenizers): ``albertctl --help`` stays fast.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from albertctl.errors import AlbertctlError
from albertctl.settings import check_ranges, setting

MASKING_MODES = ("static", "none")
"""make-data --masking: masks written into the shards, or left to the loader."""

# ALBERT's position embeddings stop at 512 (max_position_embeddings in every released config).
MAX_POSITIONS = 512


@dataclass(frozen=True, kw_only=True)
class MakeDataConfig:
    """Options of ``albertctl make-data``; reference defaults (docs/reference.md §2) except where noted.

    Each field is its command-line flag (:mod:`albertctl.settings`): the docstring's first
    sentence is the ``--help`` line."""

    max_seq_length: int = setting(512, min=5, max=MAX_POSITIONS)
    """Tokens per instance including [CLS] and two [SEP]. ALBERT has 512 position embeddings."""
    max_predictions: int = setting(20, min=1)
    """Most masked positions per instance, at most max_seq_length."""
    masked_lm_prob: float = setting(0.15, min=0, max=1)
    """Share of tokens masked (before the max_predictions cap)."""
    short_seq_prob: float = setting(0.1, min=0, max=1)
    """Chance that a document's target length is drawn uniformly in [2, max_seq_length-3]."""
    dupe_factor: int = setting(10, min=1, max=999)
    """Passes over the corpus, each with new chunking and masks (reference: 40). Ours is 10:
    RoBERTa's static-masking baseline used 10 copies; 40 quadruples disk for little new signal."""
    masking: str = "static"
    """static: masks drawn here, one set per pass (the reference); none: no masks, for pretrain
    --masking dynamic, which draws fresh masks per epoch in the loader with these same settings
    (then --dupe-factor 1 is enough). Both keep token_boundary, which is what the loader needs.
    See docs/data-format.md."""
    ngram: int = setting(3, min=1, max=10)
    """Longest masked n-gram, in whole words; P(n) ∝ 1/n."""
    whole_word: bool = True
    """Mask all pieces of a word or none."""
    favor_shorter_ngram: bool = True
    """P(n) ∝ 1/n (the reference), or reversed with --no-favor-shorter-ngram."""
    single_segment: str = "split"
    """A chunk of one segment: split (cut at a word, then SOP), reference (B from a random
    document, labelled swapped: albert#234) or drop. See docs/data-format.md."""
    split_sentences: bool = False
    """Split lines into sentences first (needs `pip install 'albertctl[sentences]'`). For corpora
    of one paragraph per line."""
    sentence_splitter: str = "sentencex"
    """Backend for --split-sentences (see albertctl.data.sentences)."""
    word_segmenter: str | None = None
    """Mask Chinese whole words: join CJK pieces into the words this segmenter finds (jieba; needs
    `pip install 'albertctl[zh]'`). None: the tokenizer's per-piece rule only (see
    :mod:`albertctl.data.words`)."""
    shard_size_mb: float = setting(4.0, flag="--shard-size")
    """Millions of characters (~MB) of text per group; each pass over a group is one shard.
    Bounds memory."""
    seed: int = 12345
    """Seed of every random draw; the same seed gives the same output (reference 12345)."""
    num_parts: int = setting(1, min=1, max=100_000)
    """Build the data in this many parts (groups g with g % num_parts == part_index)."""
    part_index: int = setting(0, min=0)
    """Which part this run builds (0-based), in [0, num_parts)."""
    text_field: str = "text"
    """JSON field with the text (.jsonl)."""
    text_column: str = "text"
    """Column with the text (.parquet)."""

    def __post_init__(self) -> None:
        from albertctl.data.sop import SINGLE_SEGMENT_POLICIES

        check_ranges(self)

        def check(name: str, ok: bool, allowed: str, hint: str | None = None) -> None:
            if not ok:
                value = getattr(self, name)
                raise AlbertctlError(f"{name} must be {allowed}, got {value!r}", hint=hint)

        check("max_predictions", self.max_predictions <= self.max_seq_length, "in [1, max_seq_length]")
        check(
            "single_segment",
            self.single_segment in SINGLE_SEGMENT_POLICIES,
            f"one of {SINGLE_SEGMENT_POLICIES}",
        )
        check("masking", self.masking in MASKING_MODES, f"one of {MASKING_MODES}")
        check("shard_size_mb", 0.0 < self.shard_size_mb <= 4096, "in (0, 4096]")
        check("part_index", self.part_index < self.num_parts, f"in [0, {self.num_parts})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
