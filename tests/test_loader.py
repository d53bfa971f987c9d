"""The pretraining loader: schema reading, padding, seeded reshuffling, rank sharding, exact resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch

from albertctl.data.loader import (
    PretrainingLoader,
    ShardSet,
    collate,
    iter_eval_batches,
    read_data_info,
)
from albertctl.errors import AlbertctlError
from albertctl.train.synthetic import write_synthetic_data


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Several record batches per shard, so rows cross piece boundaries.
    return write_synthetic_data(tmp_path_factory.mktemp("data"), shards=3, rows_per_shard=20, batch_rows=7)


def _shards(data_dir: Path) -> ShardSet:
    return ShardSet(read_data_info(data_dir).shards)


def _row(data_dir: Path, global_index: int) -> dict:
    """Row ``global_index`` read independently with pyarrow (shards in order)."""
    table = pa.concat_tables(
        pa.ipc.open_stream(str(p)).read_all() for p in sorted(data_dir.glob("shard-*.arrow"))
    )
    return table.slice(global_index, 1).to_pylist()[0]


def test_manifest_fields(data_dir: Path) -> None:
    info = read_data_info(data_dir)
    assert info.vocab_size == 128 and info.max_seq_length == 32 and info.max_predictions == 5
    assert info.rows == 60 and len(info.shards) == 3
    assert _shards(data_dir).num_rows == 60


def test_collate_pads_and_matches_rows(data_dir: Path) -> None:
    shards = _shards(data_dir)
    indices = [0, 8, 45]
    batch = collate(shards, indices, pad_to_multiple_of=8)
    rows = [_row(data_dir, i) for i in indices]
    longest = max(len(r["input_ids"]) for r in rows)
    assert batch["input_ids"].shape == (3, -(-longest // 8) * 8)
    assert batch["masked_lm_positions"].shape[1] == max(len(r["masked_lm_positions"]) for r in rows)
    for b, row in enumerate(rows):
        n, k = len(row["input_ids"]), len(row["masked_lm_positions"])
        assert batch["input_ids"][b, :n].tolist() == row["input_ids"]
        assert batch["input_ids"][b, n:].eq(0).all()
        assert batch["token_type_ids"][b, :n].tolist() == row["token_type_ids"]
        assert batch["input_mask"][b].sum() == n
        assert batch["masked_lm_positions"][b, :k].tolist() == row["masked_lm_positions"]
        assert batch["masked_lm_ids"][b, :k].tolist() == row["masked_lm_ids"]
        assert batch["masked_lm_weights"][b].tolist() == [1.0] * k + [0.0] * (
            batch["masked_lm_weights"].shape[1] - k
        )
        assert batch["sentence_order_label"][b] == row["sentence_order_label"]
    assert all(t.dtype == torch.int64 for k, t in batch.items() if k != "masked_lm_weights")


def test_each_epoch_is_a_reshuffled_permutation(data_dir: Path) -> None:
    loader = PretrainingLoader(_shards(data_dir), global_batch_size=6, seed=3, prefetch=False)
    epoch0 = np.concatenate([loader.global_indices(s) for s in range(10)])  # 60 rows = one epoch
    epoch1 = np.concatenate([loader.global_indices(s) for s in range(10, 20)])
    assert sorted(epoch0) == sorted(epoch1) == list(range(60))
    assert not np.array_equal(epoch0, epoch1)
    other_seed = PretrainingLoader(_shards(data_dir), global_batch_size=6, seed=4, prefetch=False)
    assert not np.array_equal(other_seed.global_indices(0), loader.global_indices(0))


def test_step_spanning_two_epochs(data_dir: Path) -> None:
    loader = PretrainingLoader(_shards(data_dir), global_batch_size=8, seed=0, prefetch=False)
    stream = np.concatenate([loader.global_indices(s) for s in range(15)])  # 120 = two epochs
    assert sorted(stream[:60]) == sorted(stream[60:]) == list(range(60))


def test_ranks_and_accumulation_split_the_same_global_batch(data_dir: Path) -> None:
    shards = _shards(data_dir)
    single = PretrainingLoader(shards, global_batch_size=8, grad_accum=2, prefetch=False).build_step(5)
    ranks = [
        PretrainingLoader(shards, global_batch_size=8, world_size=2, rank=r, prefetch=False).build_step(5)
        for r in range(2)
    ]
    # grad_accum=2 on one process and 2 ranks see the same 8 sequences, split the same way.
    for a in range(2):
        assert torch.equal(single.micro_batches[a]["input_ids"], ranks[a].micro_batches[0]["input_ids"])
    assert single.global_num_masked == ranks[0].global_num_masked == ranks[1].global_num_masked
    total = sum(float(m["masked_lm_weights"].sum()) for m in single.micro_batches)
    assert single.global_num_masked == total


def test_resume_mid_epoch_gives_the_same_batches(data_dir: Path) -> None:
    shards = _shards(data_dir)
    full = PretrainingLoader(shards, global_batch_size=4, seed=1)
    expected = [next(full) for _ in range(20)]
    full.close()
    first = PretrainingLoader(shards, global_batch_size=4, seed=1)
    for _ in range(7):
        next(first)
    state = json.loads(json.dumps(first.state_dict()))  # survives a JSON/pickle round trip
    first.close()
    resumed = PretrainingLoader(shards, global_batch_size=4, seed=1)
    resumed.load_state_dict(state)
    for want in expected[7:]:
        got = next(resumed)
        assert got.step == want.step
        for key in want.micro_batches[0]:
            assert torch.equal(got.micro_batches[0][key], want.micro_batches[0][key])
    resumed.close()


def test_resume_refuses_other_settings(data_dir: Path) -> None:
    loader = PretrainingLoader(_shards(data_dir), global_batch_size=4, seed=1, prefetch=False)
    state = loader.state_dict()
    other = PretrainingLoader(_shards(data_dir), global_batch_size=8, seed=1, prefetch=False)
    with pytest.raises(AlbertctlError, match="global_batch_size"):
        other.load_state_dict(state)


def test_bad_batch_split(data_dir: Path) -> None:
    with pytest.raises(AlbertctlError, match="multiple"):
        PretrainingLoader(_shards(data_dir), global_batch_size=6, grad_accum=4)


def test_eval_batches_cover_rows_once_over_ranks(data_dir: Path) -> None:
    shards = _shards(data_dir)
    seen = []
    for rank in range(2):
        for batch in iter_eval_batches(shards, batch_size=7, rank=rank, world_size=2, max_rows=50):
            seen.append(int(batch["input_mask"].shape[0]))
    assert sum(seen) == 50


def test_missing_column_is_a_clear_error(tmp_path: Path) -> None:
    table = pa.table({"input_ids": pa.array([[2, 3]], type=pa.list_(pa.uint16()))})
    path = tmp_path / "shard-00000.arrow"
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    manifest = {"vocab_size": 10, "max_seq_length": 8, "max_predictions": 2, "shards": [{"file": path.name}]}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(AlbertctlError, match="lacks column"):
        ShardSet(read_data_info(tmp_path).shards)


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(AlbertctlError, match="manifest.json"):
        read_data_info(tmp_path)
