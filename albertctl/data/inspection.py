"""Statistics and decoded examples of a make-data output (what ``albertctl inspect-data`` shows).

Reads ``DATA_DIR/manifest.json``, every shard (memory-mapped; only lengths and labels are
computed over all rows) and ``DATA_DIR/vocab/`` to turn the first rows back into pieces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from albertctl.data.build import read_manifest
from albertctl.errors import AlbertctlError


@dataclass(frozen=True)
class ShownToken:
    """One position of a decoded instance."""

    piece: str
    """The piece on disk (``[MASK]``, a random piece, or the original)."""
    original: str | None
    """The original piece when the position carries an MLM label, else None."""
    segment: int


@dataclass
class DataInspection:
    """What ``inspect_data`` found."""

    manifest: dict[str, Any]
    rows: int = 0
    tokens: int = 0
    length_histogram: list[tuple[int, int, int]] = field(default_factory=list)
    """(low, high, rows) with low <= length < high."""
    sop_counts: tuple[int, int] = (0, 0)
    """(in order, swapped)."""
    masks_per_instance: tuple[float, int, int] = (0.0, 0, 0)
    """(mean, min, max) number of masked positions."""
    mask_kinds: tuple[int, int, int] = (0, 0, 0)
    """Masked positions shown as ([MASK], kept, random) in the examined rows."""
    examples: list[tuple[int, list[ShownToken]]] = field(default_factory=list)
    """(sentence_order_label, tokens) of the first rows."""


def inspect_data(
    data_dir: str | Path, *, num_examples: int = 3, num_bins: int = 8, verify: bool = True
) -> DataInspection:
    """Totals, length histogram, SOP balance, masks per instance and decoded first rows."""
    import pyarrow.compute as pc

    from albertctl.data.shards import read_shard, verify_shards, verify_vocab_copy
    from albertctl.vocab import load_tokenizer

    data_dir = Path(data_dir)
    manifest = read_manifest(data_dir)
    verify_vocab_copy(
        data_dir,
        vocab_size=int(manifest["vocab_size"]),
        fingerprint=str(manifest.get("vocab_fingerprint", "")),
    )
    if verify:
        verify_shards(data_dir, manifest["shards"], vocab_size=int(manifest["vocab_size"]))
    lengths, masks, labels = [], [], []
    first_table = None
    for shard in manifest["shards"]:
        path = data_dir / shard["file"]
        if not path.is_file():
            raise AlbertctlError(
                f"{path} is listed in the manifest but missing", hint="rebuild with make-data"
            )
        table = read_shard(path)
        first_table = first_table if first_table is not None else table
        lengths.append(pc.list_value_length(table["input_ids"]).to_numpy())
        masks.append(pc.list_value_length(table["masked_lm_positions"]).to_numpy())
        labels.append(table["sentence_order_label"].to_numpy())
    length = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)
    mask = np.concatenate(masks) if masks else np.zeros(0, np.int64)
    label = np.concatenate(labels) if labels else np.zeros(0, np.uint8)
    report = DataInspection(manifest=manifest, rows=int(length.size), tokens=int(length.sum()))
    if length.size:
        edges = np.linspace(0, manifest["max_seq_length"] + 1, num_bins + 1).round().astype(int)
        counts, _ = np.histogram(length, bins=edges)
        report.length_histogram = [
            (int(a), int(b), int(c)) for a, b, c in zip(edges[:-1], edges[1:], counts, strict=True)
        ]
        report.sop_counts = (int((label == 0).sum()), int((label == 1).sum()))
        report.masks_per_instance = (float(mask.mean()), int(mask.min()), int(mask.max()))
    if first_table is not None and num_examples > 0:
        tokenizer = load_tokenizer(data_dir / "vocab")
        rows = first_table.slice(0, num_examples).to_pylist()
        kinds = [0, 0, 0]
        for row in rows:
            originals = dict(zip(row["masked_lm_positions"], row["masked_lm_ids"], strict=True))
            shown = []
            for pos, (token, segment) in enumerate(zip(row["input_ids"], row["token_type_ids"], strict=True)):
                original = originals.get(pos)
                if original is not None:
                    kinds[0 if token == tokenizer.mask_id else 1 if token == original else 2] += 1
                shown.append(
                    ShownToken(
                        tokenizer.id_to_piece(token),
                        None if original is None else tokenizer.id_to_piece(original),
                        segment,
                    )
                )
            report.examples.append((row["sentence_order_label"], shown))
        report.mask_kinds = (kinds[0], kinds[1], kinds[2])
    return report
