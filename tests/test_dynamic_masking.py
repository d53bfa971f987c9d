"""Dynamic masking: ``make-data --masking none`` and the loader drawing make-data's masks per epoch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from albertctl.data.build import MakeDataConfig, build_pretraining_data
from albertctl.data.loader import (
    BOUNDARY,
    PretrainingLoader,
    ShardSet,
    draw_masks,
    draw_rows,
    iter_eval_batches,
    read_data_info,
    resolve_masking,
)
from albertctl.data.masking import mask_row
from albertctl.data.shards import read_shard
from albertctl.data.sop import swap_pair
from albertctl.errors import AlbertctlError
from albertctl.model.checkpoint import load_checkpoint
from albertctl.train.checkpoint import list_checkpoints
from albertctl.train.metrics import read_metrics
from albertctl.train.pretrain import PretrainConfig, pretrain
from albertctl.vocab import load_tokenizer

REPO = Path(__file__).resolve().parents[1]
SMALL = dict(max_seq_length=64, dupe_factor=1, shard_size_mb=0.05)


def _build(corpus: Path, vocab: Path, out: Path, **kwargs: object) -> Path:
    build_pretraining_data([corpus], vocab, out, MakeDataConfig(**{**SMALL, **kwargs}))  # type: ignore[arg-type]
    return out


@pytest.fixture(scope="module")
def unmasked(tiny_corpus: Path, tiny_vocab: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tiny_corpus, tiny_vocab, tmp_path_factory.mktemp("none") / "data", masking="none")


@pytest.fixture(scope="module")
def static(tiny_corpus: Path, tiny_vocab: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tiny_corpus, tiny_vocab, tmp_path_factory.mktemp("static") / "data")


def _loader(data: Path, **kwargs: object) -> PretrainingLoader:
    info = read_data_info(data)
    settings = {"global_batch_size": 8, "seed": 3, "prefetch": False, **kwargs}
    return PretrainingLoader(
        ShardSet(info.shards), dynamic_masking=resolve_masking("dynamic", info), **settings
    )  # type: ignore[arg-type]


def test_masking_none_writes_unmasked_rows_and_the_settings(unmasked: Path, tiny_vocab: Path) -> None:
    info = read_data_info(unmasked)
    tokenizer = load_tokenizer(tiny_vocab)
    assert info.masking == "none"
    spec = info.masking_spec
    assert spec is not None and (spec.masked_lm_prob, spec.max_predictions, spec.ngram) == (0.15, 20, 3)
    assert spec.mask_id == tokenizer.mask_id and spec.vocab_size == tokenizer.vocab_size
    assert set(spec.special_ids) == {tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id}
    for shard in info.shards:
        table = read_shard(shard)
        assert all(len(p) == 0 for p in table["masked_lm_positions"].to_pylist())
        ids = np.concatenate([np.asarray(r) for r in table["input_ids"].to_pylist()])
        assert tokenizer.mask_id not in ids


def test_loader_draws_make_datas_masks_from_seed_epoch_row(unmasked: Path) -> None:
    loader = _loader(unmasked)
    shards, spec = loader.shards, loader.dynamic_masking
    assert spec is not None
    indices = loader.global_indices(0)
    batch = loader.build_step(0).micro_batches[0]
    total = 0
    for b, row in enumerate(indices.tolist()):
        piece, i = shards.locate(row)
        expected = mask_row(
            piece.row("input_ids", i).tolist(),
            piece.row("token_boundary", i).tolist(),
            spec,
            np.random.default_rng([3, 0, row]),
        )
        n, k = len(expected.input_ids), len(expected.masked_lm_positions)
        assert batch["input_ids"][b, :n].tolist() == expected.input_ids
        assert batch["masked_lm_positions"][b, :k].tolist() == expected.masked_lm_positions
        assert batch["masked_lm_ids"][b, :k].tolist() == expected.masked_lm_ids
        assert batch["masked_lm_weights"][b].sum().item() == k
        total += k
    assert loader.build_step(0).global_num_masked == total


def test_dynamic_masks_keep_make_datas_statistics(unmasked: Path) -> None:
    # The reference statistics make-data's own masks pass: the budget is reached, 80/10/10.
    shards, spec = _loader(unmasked).shards, read_data_info(unmasked).masking_spec
    assert spec is not None
    rows = list(range(shards.num_rows))
    masks = draw_masks(shards, rows, [(5, 0, r) for r in rows], spec)
    lengths = np.array([len(m.input_ids) for m in masks])
    counts = np.array([len(m.masked_lm_positions) for m in masks])
    budget = np.minimum(20, np.maximum(1, np.round(lengths * 0.15)))
    assert (counts <= budget).all() and (counts == budget).mean() > 0.9
    kinds = np.zeros(3)
    for m in masks:
        for p, original in zip(m.masked_lm_positions, m.masked_lm_ids, strict=True):
            token = m.input_ids[p]
            kinds[0 if token == spec.mask_id else 1 if token == original else 2] += 1
    share = kinds / kinds.sum()
    assert abs(share[0] - 0.8) < 0.04 and abs(share[1] - 0.1) < 0.04 and abs(share[2] - 0.1) < 0.04


def test_fresh_masks_per_epoch_same_masks_per_run(unmasked: Path) -> None:
    a, b = _loader(unmasked), _loader(unmasked)
    for step in (0, 3):
        for key, value in a.build_step(step).micro_batches[0].items():
            assert torch.equal(value, b.build_step(step).micro_batches[0][key]), key
    shards, spec = a.shards, a.dynamic_masking
    assert spec is not None
    rows = list(range(min(40, shards.num_rows)))
    first = draw_masks(shards, rows, [(3, 0, r) for r in rows], spec)
    second = draw_masks(shards, rows, [(3, 1, r) for r in rows], spec)
    differ = sum(x.masked_lm_positions != y.masked_lm_positions for x, y in zip(first, second, strict=True))
    assert differ > 0.8 * len(rows)


def test_ranks_and_accumulation_see_the_same_dynamic_batch(unmasked: Path) -> None:
    single = _loader(unmasked, grad_accum=2).build_step(4)
    ranks = [_loader(unmasked, world_size=2, rank=r).build_step(4) for r in (0, 1)]
    assert single.global_num_masked == ranks[0].global_num_masked == ranks[1].global_num_masked
    for key in ("input_ids", "masked_lm_positions", "masked_lm_ids"):
        for a in range(2):
            assert torch.equal(single.micro_batches[a][key], ranks[a].micro_batches[0][key]), key


def test_dynamic_on_static_data_masks_the_original_ids(static: Path) -> None:
    info = read_data_info(static)
    shards, spec = ShardSet(info.shards), resolve_masking("dynamic", info)
    assert spec is not None and resolve_masking("auto", info) is None
    for row in range(20):
        piece, i = shards.locate(row)
        original = piece.row("input_ids", i).astype(np.int64)
        original[piece.row("masked_lm_positions", i)] = piece.row("masked_lm_ids", i)
        masked = draw_masks(shards, [row], [(1, 0, row)], spec)[0]
        assert masked.masked_lm_ids == [int(original[p]) for p in masked.masked_lm_positions]
        untouched = np.setdiff1d(np.arange(len(original)), masked.masked_lm_positions)
        assert (np.asarray(masked.input_ids)[untouched] == original[untouched]).all()


def test_held_out_masks_are_fixed_and_static_on_unmasked_data_is_refused(unmasked: Path) -> None:
    info = read_data_info(unmasked)
    shards, spec = ShardSet(info.shards), info.masking_spec
    first = list(iter_eval_batches(shards, batch_size=8, max_rows=16, masking=spec))
    again = list(iter_eval_batches(shards, batch_size=8, max_rows=16, masking=spec))
    assert all(torch.equal(a["input_ids"], b["input_ids"]) for a, b in zip(first, again, strict=True))
    assert first[0]["masked_lm_weights"].sum() > 0
    with pytest.raises(AlbertctlError, match="has no masks"):
        resolve_masking("static", info)


def test_swap_pair_trades_the_segments_and_keeps_each_pieces_boundary() -> None:
    ids = np.array([2, 10, 11, 3, 20, 21, 22, 3])  # [CLS] A [SEP] B [SEP]
    types = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    boundary = np.array([1, 1, 0, 1, 1, 0, 1, 1])
    swapped = swap_pair(ids, types, boundary)
    assert swapped is not None
    assert swapped[0].tolist() == [2, 20, 21, 22, 3, 10, 11, 3]
    assert swapped[1].tolist() == [0, 0, 0, 0, 0, 1, 1, 1]
    assert swapped[2].tolist() == [1, 1, 0, 1, 1, 1, 0, 1]
    back = swap_pair(*swapped)
    assert back is not None and all((x == y).all() for x, y in zip(back, (ids, types, boundary), strict=True))
    assert swap_pair(np.array([2, 10, 3]), np.zeros(3, dtype=int), np.ones(3, dtype=int)) is None


def test_dynamic_sop_order_redraws_each_rows_order_per_epoch(unmasked: Path) -> None:
    """Half the two-segment rows trade segments (label flipped), per epoch, deterministically;
    the masks are drawn on the row as reordered, from the same generator."""
    loader = _loader(unmasked, sop_order="dynamic")
    shards, spec = loader.shards, loader.dynamic_masking
    assert spec is not None
    rows = list(range(min(300, shards.num_rows)))
    draws = [draw_rows(shards, rows, [(3, e, r) for r in rows], spec, redraw_order=True) for e in (0, 1, 0)]
    (masks, orders), (_, orders_1), (masks_again, orders_again) = draws
    assert orders is not None and orders_1 is not None and orders_again is not None
    assert [m.input_ids for m in masks] == [m.input_ids for m in masks_again]
    assert [o.sentence_order_label for o in orders] == [o.sentence_order_label for o in orders_again]
    flipped, two_segments, changed = 0, 0, 0
    for row, mask, order, order_1 in zip(rows, masks, orders, orders_1, strict=True):
        piece, i = shards.locate(row)
        stored = (piece.row("input_ids", i), piece.row("token_type_ids", i), piece.row(BOUNDARY, i))
        ids = np.asarray(mask.input_ids)
        ids[mask.masked_lm_positions] = mask.masked_lm_ids  # the row before its masks
        swapped = swap_pair(*stored)
        if swapped is None:
            assert order.sentence_order_label == int(piece.sop[i]) and (ids == stored[0]).all()
            continue
        two_segments += 1
        flip = order.sentence_order_label != int(piece.sop[i])
        flipped += flip
        changed += order.sentence_order_label != order_1.sentence_order_label
        expected = swapped if flip else stored
        assert (ids == expected[0]).all() and (order.token_type_ids == expected[1]).all()
    assert two_segments > 100
    assert 0.35 < flipped / two_segments < 0.65
    assert 0.3 < changed / two_segments < 0.7  # epoch 1 draws its own order
    batch = loader.build_step(0).micro_batches[0]
    indices, epochs = loader._global_rows(0)
    _, step_orders = draw_rows(
        shards,
        indices.tolist(),
        [(3, int(e), int(r)) for e, r in zip(epochs, indices, strict=True)],
        spec,
        redraw_order=True,
    )
    assert step_orders is not None
    assert batch["sentence_order_label"].tolist() == [o.sentence_order_label for o in step_orders]


def test_dynamic_sop_order_needs_dynamic_masks_and_is_kept_on_resume(static: Path, unmasked: Path) -> None:
    with pytest.raises(AlbertctlError, match="needs dynamic masks"):
        PretrainingLoader(ShardSet(read_data_info(static).shards), global_batch_size=8, sop_order="dynamic")
    state = _loader(unmasked, sop_order="dynamic").state_dict()
    with pytest.raises(AlbertctlError, match="--sop-order dynamic"):
        _loader(unmasked).load_state_dict(state)
    _loader(unmasked, sop_order="dynamic").load_state_dict(state)


def _config(data: Path, out: Path, **overrides: object) -> PretrainConfig:
    values: dict[str, object] = dict(
        data=(data,), out=out, model="debug", batch_size=4, max_steps=40, warmup_steps=4, lr=5e-3,
        log_every=2, save_every=5, eval_every=0, threads=1, tensorboard=False, precision="fp32",
    )  # fmt: skip
    values.update(overrides)
    return PretrainConfig(**values)  # type: ignore[arg-type]


def _curves(run: Path) -> list[dict]:
    timing = {"tokens_per_s", "seqs_per_s", "step_s", "data_s", "seconds"}
    return [{k: v for k, v in r.items() if k not in timing} for r in read_metrics(run)]


def test_sigkill_then_resume_in_dynamic_mode_equals_uninterrupted(unmasked: Path, tmp_path: Path) -> None:
    """Dynamic masks and sentence order: a killed run resumed equals one never killed."""
    pretrain(_config(unmasked, tmp_path / "straight", sop_order="dynamic"))
    args = [
        sys.executable, "-m", "albertctl", "pretrain", "--data", str(unmasked),
        "--out", str(tmp_path / "killed"),
        "--model", "debug", "--batch-size", "4", "--max-steps", "40", "--warmup-steps", "4", "--lr", "5e-3",
        "--log-every", "2", "--save-every", "5", "--eval-every", "0", "--threads", "1", "--precision", "fp32",
        "--masking", "dynamic", "--sop-order", "dynamic", "--no-tensorboard",
    ]  # fmt: skip
    proc = subprocess.Popen(
        args, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    metrics = tmp_path / "killed" / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.is_file() and metrics.read_text().count("\n") >= 8:  # past step 16
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run ended before the kill"
    assert list_checkpoints(tmp_path / "killed")[-1][0] < 40
    pretrain(_config(unmasked, tmp_path / "killed", resume=True, sop_order="dynamic"))  # auto: dynamic
    assert _curves(tmp_path / "killed") == _curves(tmp_path / "straight")
    a, b = load_checkpoint(tmp_path / "killed").model, load_checkpoint(tmp_path / "straight").model
    for (key, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y), key
