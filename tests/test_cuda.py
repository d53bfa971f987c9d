"""The same code on a CUDA device: model parity with the CPU, pretraining (bf16 autocast, resume),
fine-tuning. Skipped where torch sees no GPU (CI, laptops); nothing in the project needs one."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch
from test_glue_finetune import write_sentiment_dir

from albertctl.model.albert import AlbertForPreTraining
from albertctl.model.checkpoint import load_checkpoint
from albertctl.model.config import get_config
from albertctl.train.metrics import read_metrics
from albertctl.train.pretrain import PretrainConfig, TrainEvent, pretrain
from albertctl.train.synthetic import write_synthetic_data

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.fixture(autouse=True)
def _exact_fp32() -> None:
    """fp32 on the GPU means fp32: no TF32 in matmuls or convolutions during these tests."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_data(tmp_path_factory.mktemp("cuda-data") / "train", shards=2, rows_per_shard=64)


def test_pretraining_logits_match_cpu() -> None:
    config = get_config("tiny", vocab_size=1000)
    model = AlbertForPreTraining(config, generator=torch.Generator().manual_seed(0)).eval()
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 1000, (3, 40), generator=gen)
    mask = torch.ones_like(ids)
    mask[1, 25:] = 0  # a padded row: the mask must be honoured the same way on both devices
    types = (torch.arange(40) >= 20).long().expand(3, -1).contiguous()
    positions = torch.randint(0, 25, (3, 6), generator=gen)
    with torch.no_grad():
        cpu = model(ids, types, mask, positions)
        gpu = model.cuda()(ids.cuda(), types.cuda(), mask.cuda(), positions.cuda())
    torch.testing.assert_close(gpu.mlm_logits.cpu(), cpu.mlm_logits, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(gpu.sop_logits.cpu(), cpu.sop_logits, atol=1e-4, rtol=1e-4)


def _config(data: Path, out: Path, **overrides: object) -> PretrainConfig:
    values: dict[str, object] = {
        "data": (data,),
        "out": out,
        "model": "debug",
        "batch_size": 16,
        "max_steps": 8,
        "warmup_steps": 2,
        "lr": 5e-3,
        "log_every": 1,
        "save_every": 4,
        "eval_every": 0,
        "tensorboard": False,
        "device": "cuda",
    }
    values.update(overrides)
    return PretrainConfig(**values)  # type: ignore[arg-type]


def test_pretrain_on_cuda_auto_is_bf16_and_checkpoint_loads_on_cpu(data: Path, tmp_path: Path) -> None:
    report = pretrain(_config(data, tmp_path / "run", precision="auto", max_steps=30, lr=1e-2))
    assert report.precision == "bf16"
    losses = [r["loss"] for r in read_metrics(tmp_path / "run") if r["split"] == "train"]
    assert len(losses) == 30 and all(map(torch.isfinite, torch.tensor(losses)))
    assert sum(losses[-5:]) < sum(losses[:5])
    loaded = load_checkpoint(tmp_path / "run").model  # written on the GPU, read on the CPU
    assert all(t.device.type == "cpu" and t.dtype == torch.float32 for t in loaded.state_dict().values())


def test_cuda_fp32_run_matches_cpu_run(data: Path, tmp_path: Path) -> None:
    """Same seed, same batches: the GPU's losses follow the CPU's (summation order differs only)."""
    gpu = pretrain(_config(data, tmp_path / "gpu", precision="fp32"))
    cpu = pretrain(_config(data, tmp_path / "cpu", precision="fp32", device="cpu"))
    assert gpu.final_step == cpu.final_step == 8

    def losses(run: Path) -> torch.Tensor:
        return torch.tensor([r["loss"] for r in read_metrics(run) if r["split"] == "train"])

    torch.testing.assert_close(losses(tmp_path / "gpu"), losses(tmp_path / "cpu"), atol=1e-3, rtol=1e-3)


def test_resume_on_cuda_continues_the_same_run(data: Path, tmp_path: Path) -> None:
    whole = pretrain(_config(data, tmp_path / "whole", precision="fp32"))

    def stop_at_four(event: TrainEvent) -> None:
        if event.kind == "train" and event.step == 4:
            os.kill(os.getpid(), signal.SIGTERM)  # the Ctrl-C path: finish the step, save, stop

    stopped = pretrain(_config(data, tmp_path / "parts", precision="fp32"), on_event=stop_at_four)
    assert stopped.stopped_early and stopped.final_step == 4
    resumed = pretrain(_config(data, tmp_path / "parts", precision="fp32", resume=True))
    assert whole.final_step == resumed.final_step == 8
    a = load_checkpoint(tmp_path / "whole").model.state_dict()
    b = load_checkpoint(tmp_path / "parts").model.state_dict()
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=1e-5, rtol=1e-4)


def test_finetune_on_cuda(tiny_vocab: Path, tmp_path: Path) -> None:
    from albertctl.glue.finetune import FinetuneConfig, finetune_glue
    from albertctl.glue.tasks import parse_tasks
    from albertctl.model import save_model
    from albertctl.vocab import load_tokenizer

    tokenizer = load_tokenizer(tiny_vocab)
    model = AlbertForPreTraining(
        get_config("debug", vocab_size=tokenizer.vocab_size), generator=torch.Generator().manual_seed(0)
    )
    save_model(model, tmp_path / "model", tokenizer=tokenizer)
    glue = write_sentiment_dir(tmp_path / "glue")
    config = FinetuneConfig(
        lr=3e-3,
        batch_size=16,
        max_steps=40,
        eval_every=20,
        max_seq_length=32,
        device="cuda",
        precision="auto",
    )
    finetune_glue(
        config, tasks=parse_tasks("sst2"), data_dir=glue, model_path=tmp_path / "model", out=tmp_path / "ft"
    )
    seed = json.loads((tmp_path / "ft" / "results.json").read_text())["tasks"]["sst2"]["seeds"][0]
    assert seed["best"]["metrics"]["accuracy"] >= 0.9
