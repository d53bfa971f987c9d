"""Shared training pieces: device/precision choice, metrics sink, trainer checkpoints, loop guards."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch

from albertctl.errors import AlbertctlError
from albertctl.model.albert import AlbertForPreTraining
from albertctl.model.checkpoint import load_checkpoint
from albertctl.model.config import get_config
from albertctl.train.checkpoint import (
    latest_checkpoint,
    list_checkpoints,
    load_trainer_state,
    save_trainer_checkpoint,
)
from albertctl.train.distributed import DistContext, context_from_env
from albertctl.train.loop import GracefulStop, NonFiniteGuard, clip_gradients
from albertctl.train.metrics import MetricsWriter, read_metrics
from albertctl.train.optim import build_optimizer
from albertctl.train.runtime import (
    autocast,
    capture_rng,
    cpu_flags,
    cpu_has_fast_bf16,
    resolve_device,
    resolve_precision,
    restore_rng,
)
from albertctl.train.schedule import build_scheduler


def test_cpu_flags_and_bf16_detection(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor : 0\nflags : fpu sse avx512f avx512_bf16\n")
    flags = cpu_flags(info)
    assert "avx512_bf16" in flags and cpu_has_fast_bf16(flags)
    assert not cpu_has_fast_bf16(frozenset({"avx2"}))
    assert cpu_has_fast_bf16(frozenset({"amx_bf16"}))
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_device_and_precision_resolution() -> None:
    cpu = torch.device("cpu")
    assert resolve_device("cpu") == cpu
    if not torch.cuda.is_available():
        assert resolve_device("auto") == cpu
        with pytest.raises(AlbertctlError, match="CUDA"):
            resolve_device("cuda")
    with pytest.raises(AlbertctlError, match="device"):
        resolve_device("tpu")
    assert resolve_precision("fp32", cpu) == "fp32" and resolve_precision("bf16", cpu) == "bf16"
    assert resolve_precision("auto", cpu) == ("bf16" if cpu_has_fast_bf16() else "fp32")
    with pytest.raises(AlbertctlError, match="precision"):
        resolve_precision("fp16", cpu)
    with autocast(cpu, "bf16"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with autocast(cpu, "fp32"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_rng_capture_restore() -> None:
    state = capture_rng(torch.device("cpu"))
    first = torch.rand(3)
    restore_rng(state, torch.device("cpu"))
    assert torch.equal(torch.rand(3), first)


def test_metrics_writer_appends_and_truncates_on_resume(tmp_path: Path) -> None:
    with MetricsWriter(tmp_path, tensorboard=False) as writer:
        for step in (1, 2, 3, 4):
            writer.write(step, "train", {"loss": torch.tensor(1.0 / step), "bad": float("nan")})
    with open(tmp_path / "metrics.jsonl", "a") as handle:
        handle.write('{"step": 5, "spl')  # a line cut by a kill
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2, 3, 4]
    assert read_metrics(tmp_path)[0] == {"step": 1, "split": "train", "loss": 1.0, "bad": "nan"}
    with MetricsWriter(tmp_path, tensorboard=False, resume_step=2) as writer:
        writer.write(3, "eval", {"mlm_acc": 0.5})
    assert [(r["step"], r["split"]) for r in read_metrics(tmp_path)] == [
        (1, "train"),
        (2, "train"),
        (3, "eval"),
    ]
    off = MetricsWriter(tmp_path / "rank1", enabled=False)
    off.write(1, "train", {"loss": 1.0})
    off.close()
    assert not (tmp_path / "rank1").exists()


def _trainer_parts() -> tuple[AlbertForPreTraining, torch.optim.Optimizer, object]:
    model = AlbertForPreTraining(get_config("debug"), generator=torch.Generator().manual_seed(0))
    optimizer = build_optimizer(model, "lamb", lr=0.01)
    scheduler = build_scheduler(optimizer, warmup_steps=1, total_steps=10)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    optimizer.step()
    scheduler.step()
    return model, optimizer, scheduler


def test_trainer_checkpoint_roundtrip_and_keep_last(tmp_path: Path) -> None:
    model, optimizer, scheduler = _trainer_parts()
    vocab = tmp_path / "vocab"
    vocab.mkdir()
    (vocab / "spiece.model").write_bytes(b"fake")
    rng = [capture_rng(torch.device("cpu"))]
    for step in (5, 10, 15):
        save_trainer_checkpoint(
            tmp_path / "run",
            step=step,
            model=model,
            optimizer=optimizer,
            scheduler=scheduler,
            rng=rng,
            loader={"next_step": step},
            vocab_dir=vocab,
            keep_last=2,
        )
    assert [s for s, _ in list_checkpoints(tmp_path / "run")] == [10, 15]
    path = latest_checkpoint(tmp_path / "run")
    assert path is not None and path.name == "step-000015"
    assert {p.name for p in path.iterdir()} >= {
        "model.safetensors",
        "config.json",
        "spiece.model",
        "trainer.json",
    }
    state = load_trainer_state(path)
    assert state.step == 15 and state.loader == {"next_step": 15} and state.scheduler["last_step"] == 1
    fresh_model, fresh_opt, _ = _trainer_parts()
    fresh_opt.load_state_dict(state.optimizer)
    for a, b in zip(optimizer.state.values(), fresh_opt.state.values(), strict=True):
        assert torch.equal(a["exp_avg"], b["exp_avg"])
    loaded = load_checkpoint(path).model
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    assert json.loads((path / "trainer.json").read_text())["step"] == 15


def test_incomplete_checkpoints_are_ignored_and_cleaned(tmp_path: Path) -> None:
    model, optimizer, scheduler = _trainer_parts()
    root = tmp_path / "run" / "checkpoints"
    (root / ".step-000020.tmp-dead").mkdir(parents=True)  # a kill during a save
    (root / "step-000030").mkdir()  # no trainer.json: not complete
    assert latest_checkpoint(tmp_path / "run") is None
    save_trainer_checkpoint(
        tmp_path / "run", step=7, model=model, optimizer=optimizer, scheduler=scheduler, rng=[], loader={}
    )
    assert not (root / ".step-000020.tmp-dead").exists()
    assert latest_checkpoint(tmp_path / "run") == root / "step-000007"


def test_model_folder_is_not_a_trainer_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(AlbertctlError, match="--init"):
        load_trainer_state(tmp_path)


def test_nonfinite_guard() -> None:
    guard = NonFiniteGuard(limit=2)
    assert guard.check(0, 1.0, 2.0)
    with pytest.warns(RuntimeWarning, match="skipped"):
        assert not guard.check(1, float("nan"), 1.0)
    assert guard.check(2, 1.0, 1.0) and guard.consecutive == 0
    with pytest.warns(RuntimeWarning):
        assert not guard.check(3, 1.0, float("inf"))
    with pytest.warns(RuntimeWarning), pytest.raises(AlbertctlError, match="2 steps in a row"):
        guard.check(4, float("nan"), 1.0)
    restored = NonFiniteGuard(limit=2)
    restored.load_state_dict(guard.state_dict())
    assert restored.total_skipped == 3


def test_clip_gradients_to_global_norm() -> None:
    params = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(1))]
    params[0].grad = torch.tensor([3.0, 0.0])
    params[1].grad = torch.tensor([4.0])
    assert clip_gradients(params, 1.0) == pytest.approx(5.0)
    assert params[0].grad.tolist() == pytest.approx([0.6, 0.0]) and params[1].grad.tolist() == pytest.approx(
        [0.8]
    )
    assert clip_gradients(params, None) == pytest.approx(1.0)


def test_graceful_stop_catches_sigterm_and_restores_handler() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with GracefulStop() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested and stop.signal_name == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) == before


def test_dist_context_from_env() -> None:
    assert context_from_env({}) == DistContext()
    ctx = context_from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    assert ctx.is_distributed and not ctx.is_main
    with pytest.raises(AlbertctlError, match="RANK"):
        context_from_env({"RANK": "2", "WORLD_SIZE": "2"})
