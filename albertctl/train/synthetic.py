"""Small synthetic pretraining data directories for tests and benchmarks.

Writes shards with :func:`albertctl.data.shards.shard_schema` (the one declaration of the schema
of docs/design.md, "Pretraining shards") through its writer, and a ``manifest.json`` with the
fields the loader reads, so the trainer can be tested without the vocabulary and data builders.
Rows look like real instances: ``[CLS] A [SEP] B [SEP]``, about 15% of the pieces masked (80%
``[MASK]``), a random SOP label.
The token stream has structure (each piece tends to follow from the previous one), so a model
can learn from it and losses go down.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from albertctl.fsutil import sha256_file

CLS_ID, SEP_ID, MASK_ID = 2, 3, 4
FIRST_PIECE = 13  # ids 0..12 are special or user-defined symbols (docs/reference.md §1)


def synthetic_rows(
    rng: np.random.Generator, *, rows: int, vocab_size: int, max_seq_length: int, max_predictions: int
) -> dict[str, list]:
    """Column-wise rows of pretraining instances (lists of python ints), without padding."""
    cols: dict[str, list] = {
        k: []
        for k in (
            "input_ids",
            "token_type_ids",
            "token_boundary",
            "masked_lm_positions",
            "masked_lm_ids",
            "sentence_order_label",
        )
    }
    for _ in range(rows):
        length = int(rng.integers(max(8, max_seq_length // 4), max_seq_length + 1))
        pieces = length - 3
        len_a = int(rng.integers(1, pieces))
        # A walk over the vocabulary: small steps, so neighbours predict each other.
        walk = np.cumsum(rng.integers(-3, 4, size=pieces)) + int(rng.integers(0, vocab_size))
        body = FIRST_PIECE + np.mod(walk, vocab_size - FIRST_PIECE)
        label = int(rng.integers(0, 2))
        a, b = body[:len_a], body[len_a:]
        if label:
            a, b = b, a
        tokens = np.concatenate([[CLS_ID], a, [SEP_ID], b, [SEP_ID]]).astype(np.int64)
        types = np.concatenate([np.zeros(len(a) + 2), np.ones(len(b) + 1)]).astype(np.int64)
        candidates = np.flatnonzero((tokens != CLS_ID) & (tokens != SEP_ID))
        count = min(max_predictions, max(1, round(length * 0.15)))
        positions = np.sort(rng.choice(candidates, size=min(count, len(candidates)), replace=False))
        originals = tokens[positions].copy()
        masked = tokens.copy()
        roll = rng.random(len(positions))
        masked[positions[roll < 0.8]] = MASK_ID
        random_slots = positions[roll >= 0.9]
        masked[random_slots] = rng.integers(0, vocab_size, size=len(random_slots))
        cols["input_ids"].append(masked.tolist())
        cols["token_type_ids"].append(types.tolist())
        cols["token_boundary"].append([1] * length)
        cols["masked_lm_positions"].append(positions.tolist())
        cols["masked_lm_ids"].append(originals.tolist())
        cols["sentence_order_label"].append(label)
    return cols


def write_synthetic_data(
    out_dir: Path,
    *,
    shards: int = 2,
    rows_per_shard: int = 64,
    vocab_size: int = 128,
    max_seq_length: int = 32,
    max_predictions: int = 5,
    seed: int = 0,
    batch_rows: int | None = None,
) -> Path:
    """Write ``out_dir/shard-0000N.arrow`` + ``manifest.json``; ``batch_rows`` splits record batches
    (default: as make-data does, ``albertctl.data.shards.BATCH_ROWS`` rows each)."""
    import pyarrow as pa

    from albertctl.data.shards import shard_schema, write_shard

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    schema = shard_schema(vocab_size)
    entries = []
    for s in range(shards):
        rng = np.random.default_rng([seed, s])
        cols = synthetic_rows(
            rng,
            rows=rows_per_shard,
            vocab_size=vocab_size,
            max_seq_length=max_seq_length,
            max_predictions=max_predictions,
        )
        table = pa.table(cols, schema=schema)
        path = out_dir / f"shard-{s:05d}.arrow"
        if batch_rows is None:
            write_shard(path, table)
        else:  # the make-data writer has one batch size; a test asks for another
            with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
                writer.write_table(table, max_chunksize=batch_rows)
        tokens = sum(len(r) for r in cols["input_ids"])
        entries.append(
            {"file": path.name, "rows": rows_per_shard, "tokens": tokens, "sha256": sha256_file(path)}
        )
    manifest = {
        "vocab_size": vocab_size,
        "vocab_fingerprint": "synthetic",
        "max_seq_length": max_seq_length,
        "max_predictions": max_predictions,
        "options": {"synthetic": True, "seed": seed},
        "shards": entries,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return out_dir
