"""The Arrow schema of pretraining shards, and writing/reading one shard file.

A shard is an Arrow IPC *file* (``shard-00000.arrow``), one row per instance, no padding:

=======================  ======================  =============================================
column                   type                    content
=======================  ======================  =============================================
``input_ids``            list<uint16|uint32>     piece ids, masks applied (uint16 if V <= 65536)
``token_type_ids``       list<uint8>             0 for ``[CLS] A [SEP]``, 1 for ``B [SEP]``
``token_boundary``       list<uint8>             1 where a whole word starts (and specials)
``masked_lm_positions``  list<uint16>            sorted positions carrying an MLM label
``masked_lm_ids``        list<uint16|uint32>     original ids at those positions
``sentence_order_label`` uint8                   0 in order, 1 swapped
=======================  ======================  =============================================

The bytes depend only on the rows (no timestamps, no compression), so a shard's sha256 is a
fingerprint of its content. See docs/data-format.md.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from albertctl.data.columns import InstanceColumns
from albertctl.data.sop import Instance
from albertctl.errors import AlbertctlError
from albertctl.fsutil import sha256_file
from albertctl.vocab import has_vocabulary, load_tokenizer

LIST_COLUMNS = ("input_ids", "token_type_ids", "token_boundary", "masked_lm_positions", "masked_lm_ids")
COLUMNS = (*LIST_COLUMNS, "sentence_order_label")
# Rows per record batch: small enough for a loader to stream, large enough to be cheap.
BATCH_ROWS = 1024


_NUMPY_TYPES = {pa.uint8(): np.uint8, pa.uint16(): np.uint16, pa.uint32(): np.uint32}


def id_dtype(vocab_size: int) -> np.dtype:
    """The narrowest unsigned type holding every id of a ``vocab_size`` vocabulary."""
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)


def shard_schema(vocab_size: int) -> pa.Schema:
    """The fixed shard schema for a vocabulary of ``vocab_size`` pieces."""
    ids = pa.from_numpy_dtype(id_dtype(vocab_size))
    return pa.schema(
        [
            pa.field("input_ids", pa.list_(ids), nullable=False),
            pa.field("token_type_ids", pa.list_(pa.uint8()), nullable=False),
            pa.field("token_boundary", pa.list_(pa.uint8()), nullable=False),
            pa.field("masked_lm_positions", pa.list_(pa.uint16()), nullable=False),
            pa.field("masked_lm_ids", pa.list_(ids), nullable=False),
            pa.field("sentence_order_label", pa.uint8(), nullable=False),
        ]
    )


def _list_array(values: np.ndarray, offsets: np.ndarray, value_type: pa.DataType) -> pa.ListArray:
    """A list array from one flat column and its row offsets (no per-row objects)."""
    # Not value_type.to_pandas_dtype(): that imports pandas (~0.2 s per process).
    flat = np.ascontiguousarray(values, dtype=_NUMPY_TYPES[value_type])
    return pa.ListArray.from_arrays(
        _array(np.ascontiguousarray(offsets, dtype=np.int32), pa.int32()), _array(flat, value_type)
    )


def _array(values: np.ndarray, value_type: pa.DataType) -> pa.Array:
    """A zero-copy view of a contiguous numpy array; ``pa.array(ndarray)`` would import pandas
    (~0.2 s per make-data process) to check for pandas objects."""
    return pa.Array.from_buffers(value_type, len(values), [None, pa.py_buffer(values)])


def columns_to_table(columns: InstanceColumns, vocab_size: int) -> pa.Table:
    """The rows of ``columns`` as a table with :func:`shard_schema`."""
    schema = shard_schema(vocab_size)

    def value_type(column: str) -> pa.DataType:
        return schema.field(column).type.value_type

    arrays = [
        _list_array(columns.input_ids, columns.offsets, value_type("input_ids")),
        _list_array(columns.token_type_ids, columns.offsets, value_type("token_type_ids")),
        _list_array(columns.token_boundary, columns.offsets, value_type("token_boundary")),
        _list_array(columns.masked_lm_positions, columns.mask_offsets, value_type("masked_lm_positions")),
        _list_array(columns.masked_lm_ids, columns.mask_offsets, value_type("masked_lm_ids")),
        _array(np.ascontiguousarray(columns.sentence_order_label, dtype=np.uint8), pa.uint8()),
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def instances_to_table(instances: Sequence[Instance], vocab_size: int) -> pa.Table:
    """The rows of ``instances`` as a table with :func:`shard_schema`."""
    return columns_to_table(InstanceColumns.from_instances(instances), vocab_size)


def write_shard(path: Path, table: pa.Table) -> None:
    """Write ``table`` in the Arrow IPC stream format atomically (``path.tmp``, fsync, rename).

    The stream format is what ``datasets`` writes and what ``datasets.Dataset.from_file`` reads;
    read from a memory map it is as zero-copy as the IPC file format (:func:`iter_shard_batches`).
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=BATCH_ROWS)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)


_FILE_MAGIC = b"ARROW1"


def _open_shard(path: Path) -> pa.ipc.RecordBatchFileReader | pa.ipc.RecordBatchStreamReader:
    """A reader over a memory map of ``path``: the IPC stream format we write, or the IPC file
    format (older shards, or ones written by other tools). Its batches keep the map alive."""
    source = pa.memory_map(str(path), "r")
    if source.read(len(_FILE_MAGIC)) == _FILE_MAGIC:
        return pa.ipc.open_file(source)
    source.seek(0)
    return pa.ipc.open_stream(source)


def iter_shard_batches(path: Path) -> Iterator[pa.RecordBatch]:
    """The record batches of one shard, zero-copy from a memory map."""
    reader = _open_shard(path)
    if isinstance(reader, pa.ipc.RecordBatchFileReader):
        return (reader.get_batch(b) for b in range(reader.num_record_batches))
    return iter(reader)


def read_shard(path: Path) -> pa.Table:
    """Read one shard (memory-mapped, either IPC format) as a table; an unreadable or truncated
    file is one clear error naming it."""
    try:
        return _open_shard(path).read_all()
    except (OSError, pa.ArrowException) as exc:
        raise AlbertctlError(
            f"cannot read shard {path}: {exc}",
            hint="the file is damaged or truncated: rebuild the data with albertctl make-data",
        ) from exc


def max_token_id(table: pa.Table) -> int:
    """The largest id in ``input_ids`` and ``masked_lm_ids`` (-1 for an empty shard)."""
    import pyarrow.compute as pc

    highest = -1
    for name in ("input_ids", "masked_lm_ids"):
        value = pc.max(pc.list_flatten(table[name])).as_py()
        highest = max(highest, -1 if value is None else int(value))
    return highest


# -- integrity: shards checked against the sha256 their manifest records --------------------------

VERIFY_MEMO = "verified-shards.json"
"""File name of the memo of shards already checked, under the user cache directory."""


def _memo_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "albertctl" / VERIFY_MEMO


def verify_shards(
    data_dir: Path, entries: Sequence[dict], *, vocab_size: int | None = None, memo: Path | None = None
) -> int:
    """Check every shard of a data directory against the sha256 its manifest records, and its ids
    against ``vocab_size`` (the manifest's, which :func:`verify_vocab_copy` ties to ``vocab/``).

    A shard is read once: its path, size and mtime are memoized (in the user cache, or ``memo``)
    with the digest that matched and its largest id, so reopening a large dataset (a resume)
    re-reads only files that changed. Returns how many shards were read now. A mismatch, an id
    out of range or a missing file is one clear error naming the shard.
    """
    memo = memo or _memo_file()
    try:
        seen = json.loads(memo.read_text(encoding="utf-8"))
        seen = seen if isinstance(seen, dict) else {}
    except (OSError, ValueError):
        seen = {}
    hashed = 0
    for entry in entries:
        expected = entry.get("sha256") if isinstance(entry, dict) else None
        if not expected:
            continue  # written before checksums were recorded
        path = Path(data_dir) / entry["file"]
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise AlbertctlError(
                f"shard {path} is listed in {Path(data_dir) / 'manifest.json'} but missing",
                hint="rebuild the data with albertctl make-data (or restore the file)",
            ) from None
        key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:32]
        stamp = [stat.st_size, stat.st_mtime_ns, expected]
        memoized = seen.get(key)
        if isinstance(memoized, list) and len(memoized) == 4 and memoized[:3] == stamp:
            highest = int(memoized[3])
        else:
            hashed += 1
            if sha256_file(path) != expected:
                raise AlbertctlError(
                    f"shard {path} does not match the sha256 in its manifest: it was changed, "
                    "damaged or swapped after make-data wrote it",
                    hint="rebuild the data with albertctl make-data (or restore the file); "
                    "--no-verify skips this check",
                )
            highest = max_token_id(read_shard(path))
            seen[key] = [*stamp, highest]
        if vocab_size is not None and highest >= vocab_size:
            raise AlbertctlError(
                f"shard {path} holds id {highest}, outside the manifest's vocab_size {vocab_size}",
                hint="the manifest's vocab_size was edited or the shard comes from a larger "
                "vocabulary: rebuild the data with albertctl make-data",
            )
    if hashed:
        try:  # the memo is a cache: failing to write it only costs a re-hash next time
            memo.parent.mkdir(parents=True, exist_ok=True)
            tmp = memo.with_name(f"{memo.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(seen), encoding="utf-8")
            os.replace(tmp, memo)
        except OSError:
            pass
    return hashed


def verify_vocab_copy(data_dir: Path, *, vocab_size: int, fingerprint: str) -> None:
    """Check that ``DATA_DIR/vocab`` is the vocabulary the manifest says the data was built with
    (same fingerprint, same size): a replaced ``vocab/`` would ship the wrong tokenizer with every
    checkpoint trained on the data. A directory without ``vocab/`` (synthetic data) passes."""
    vocab_dir = Path(data_dir) / "vocab"
    if not has_vocabulary(vocab_dir):
        return
    manifest = Path(data_dir) / "manifest.json"
    tokenizer = load_tokenizer(vocab_dir)
    if fingerprint and tokenizer.fingerprint() != fingerprint:
        raise AlbertctlError(
            f"{vocab_dir} is not the vocabulary the data was built with (fingerprint "
            f"{tokenizer.fingerprint()[:12]}, {manifest} records {fingerprint[:12]})",
            hint="restore the vocab/ that make-data wrote, or rebuild the data with the new vocabulary",
        )
    if tokenizer.vocab_size != vocab_size:
        raise AlbertctlError(
            f"{manifest} says vocab_size {vocab_size} but {vocab_dir} has {tokenizer.vocab_size} pieces",
            hint="the manifest was edited: rebuild the data with albertctl make-data",
        )
