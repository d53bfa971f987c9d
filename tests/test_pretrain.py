"""Pretraining end to end on the debug flavor and synthetic shards: loss, accumulation, DDP,
exact resume after SIGKILL, signals, non-finite steps, checkpoints, config resolution, CLI."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from albertctl.errors import AlbertctlError
from albertctl.model.albert import AlbertForPreTraining, pretraining_loss
from albertctl.model.checkpoint import load_checkpoint, resolve_checkpoint
from albertctl.model.config import get_config
from albertctl.train.checkpoint import list_checkpoints, load_trainer_state
from albertctl.train.metrics import read_metrics
from albertctl.train.pretrain import (
    PretrainConfig,
    TrainEvent,
    pretrain,
    read_toml_config,
    resolve_pretrain_config,
)
from albertctl.train.synthetic import write_synthetic_data

REPO = Path(__file__).resolve().parents[1]
TIMING_KEYS = {"tokens_per_s", "seqs_per_s", "step_s", "data_s", "seconds"}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("pretrain-data")
    train = write_synthetic_data(root / "train", shards=2, rows_per_shard=48, seed=0)
    held_out = write_synthetic_data(root / "eval", shards=1, rows_per_shard=24, seed=7)
    return train, held_out


def _config(data: tuple[Path, Path], out: Path, **overrides: object) -> PretrainConfig:
    values: dict[str, object] = {
        "data": (data[0],),
        "out": out,
        "model": "debug",
        "batch_size": 8,
        "max_steps": 6,
        "warmup_steps": 2,
        "lr": 5e-3,
        "log_every": 1,
        "save_every": 3,
        "eval_every": 0,
        "threads": 1,
        "tensorboard": False,
        "precision": "fp32",  # parity and resume checks stay fp32 whatever the CPU
    }
    values.update(overrides)
    return PretrainConfig(**values)  # type: ignore[arg-type]


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run_dir).model.state_dict()


def _curves(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in read_metrics(run_dir)]


def test_step_loss_is_the_reference_loss(data: tuple[Path, Path], tmp_path: Path) -> None:
    """One process, one micro-batch: the global-batch loss equals the model's pretraining_loss."""
    seen: list[float] = []
    pretrain(
        _config(data, tmp_path / "run", max_steps=1, warmup_steps=0),
        on_event=lambda e: seen.append(e.values["loss"]) if e.kind == "train" else None,
    )
    from albertctl.data.loader import PretrainingLoader, ShardSet, read_data_info

    config = get_config("debug", vocab_size=128)
    model = AlbertForPreTraining(config, generator=torch.Generator().manual_seed(12345))
    loader = PretrainingLoader(
        ShardSet(read_data_info(data[0]).shards), global_batch_size=8, seed=12345, prefetch=False
    )
    batch = loader.build_step(0).micro_batches[0]
    with torch.no_grad():
        out = model(
            batch["input_ids"], batch["token_type_ids"], batch["input_mask"], batch["masked_lm_positions"]
        )
        ref = pretraining_loss(
            out, batch["masked_lm_ids"], batch["masked_lm_weights"], batch["sentence_order_label"]
        )
    assert seen == pytest.approx([float(ref.loss)], rel=1e-6)


def test_grad_accumulation_matches_one_big_batch(data: tuple[Path, Path], tmp_path: Path) -> None:
    pretrain(_config(data, tmp_path / "one"))
    pretrain(_config(data, tmp_path / "accum", grad_accum=2))
    a, b = _curves(tmp_path / "one"), _curves(tmp_path / "accum")
    assert [r["step"] for r in a] == [r["step"] for r in b] == [1, 2, 3, 4, 5, 6]
    for ra, rb in zip(a, b, strict=True):
        assert ra["loss"] == pytest.approx(rb["loss"], rel=1e-5)
    wa, wb = _weights(tmp_path / "one"), _weights(tmp_path / "accum")
    for key in wa:
        assert torch.allclose(wa[key], wb[key], atol=1e-5), key


def test_loss_goes_down(data: tuple[Path, Path], tmp_path: Path) -> None:
    report = pretrain(
        _config(
            data, tmp_path / "run", max_steps=40, lr=2e-2, log_every=10, save_every=40, eval_data=(data[1],)
        )
    )
    losses = [r["loss"] for r in read_metrics(tmp_path / "run") if r["split"] == "train"]
    assert losses[-1] < losses[0] - 0.2
    assert report.eval and 0.0 <= report.eval["mlm_acc"] <= 1.0 and report.eval["sequences"] == 24


def test_checkpoints_are_model_folders_and_pruned(data: tuple[Path, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    report = pretrain(_config(data, run, max_steps=7, save_every=2, keep_last=2))
    assert [step for step, _ in list_checkpoints(run)] == [6, 7]
    assert report.last_checkpoint == run / "checkpoints" / "step-000007"
    assert resolve_checkpoint(run) == report.last_checkpoint  # what finetune/export resolve
    loaded = load_checkpoint(report.last_checkpoint)
    assert loaded.source_format == "albertctl" and not loaded.initialized
    state = load_trainer_state(report.last_checkpoint)
    assert state.step == 7 and state.loader["next_step"] == 7 and state.scheduler["last_step"] == 7
    resolved = json.loads((run / "pretrain_config.json").read_text())
    assert resolved["batch_size"] == 8 and resolved["model_config"]["vocab_size"] == 128


def test_existing_run_dir_needs_resume_or_overwrite(data: tuple[Path, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    pretrain(_config(data, run, max_steps=2, warmup_steps=0))
    with pytest.raises(AlbertctlError, match="--resume"):
        pretrain(_config(data, run, max_steps=2, warmup_steps=0))
    report = pretrain(_config(data, run, max_steps=3, warmup_steps=0, overwrite=True))
    assert report.final_step == 3 and [s for s, _ in list_checkpoints(run)] == [3]
    assert not list(tmp_path.glob(".run.old-*"))
    with pytest.raises(AlbertctlError, match="no complete checkpoint"):
        pretrain(_config(data, tmp_path / "fresh", resume=True))


def test_sigterm_finishes_the_step_saves_and_resumes(data: tuple[Path, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    # Stop at step 3 (an evaluation), inside a 2-step logging window.
    settings = dict(save_every=100, log_every=2, eval_every=3, eval_data=(data[1],))

    def stop_at_three(event: TrainEvent) -> None:
        if event.kind == "eval" and event.step == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    report = pretrain(_config(data, run, **settings), on_event=stop_at_three)
    assert report.stopped_early and report.final_step == 3
    assert [s for s, _ in list_checkpoints(run)] == [3]
    # Resuming needs only --out: the rest comes from the run's pretrain_config.json.
    config = resolve_pretrain_config({"out": run, "resume": True})
    assert config == _config(data, run, **settings, resume=True)
    resumed = pretrain(config)
    assert resumed.final_step == 6 and not resumed.stopped_early
    pretrain(_config(data, tmp_path / "straight", **settings))
    assert _curves(run) == _curves(tmp_path / "straight")
    assert [r["step"] for r in _curves(run) if r["split"] == "train"] == [2, 4, 6]


def test_sigkill_at_random_step_then_resume_equals_uninterrupted(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    steps = 150
    # Checkpoints every 7 steps, records every 2: a resume starts inside a logging window.
    common = dict(max_steps=steps, warmup_steps=10, save_every=7, batch_size=4, log_every=2)
    pretrain(_config(data, tmp_path / "straight", **common))
    kill_after = random.Random().randint(20, 110)
    args = [
        sys.executable, "-m", "albertctl", "pretrain", "--data", str(data[0]),
        "--out", str(tmp_path / "killed"), "--model", "debug", "--batch-size", "4",
        "--max-steps", str(steps), "--warmup-steps", "10", "--lr", "5e-3",
        "--log-every", "2", "--save-every", "7", "--eval-every", "0", "--threads", "1", "--precision", "fp32",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    metrics = tmp_path / "killed" / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.is_file() and metrics.read_text().count("\n") >= kill_after // 2:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, (
        f"run ended before the kill at step {kill_after}: {proc.stderr}"
    )
    checkpoint_step = list_checkpoints(tmp_path / "killed")[-1][0]
    assert checkpoint_step < steps
    pretrain(_config(data, tmp_path / "killed", **common, resume=True))
    assert _curves(tmp_path / "killed") == _curves(tmp_path / "straight"), f"killed after step {kill_after}"
    a, b = _weights(tmp_path / "killed"), _weights(tmp_path / "straight")
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_two_gloo_processes_equal_one_process(data: tuple[Path, Path], tmp_path: Path) -> None:
    pretrain(_config(data, tmp_path / "one", eval_data=(data[1],)))
    args = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        "-m", "albertctl", "pretrain", "--data", str(data[0]), "--eval-data", str(data[1]),
        "--out", str(tmp_path / "two"), "--model", "debug", "--batch-size", "8", "--max-steps", "6",
        "--warmup-steps", "2", "--lr", "5e-3", "--log-every", "1", "--save-every", "3", "--eval-every", "0",
        "--threads", "1", "--device", "cpu", "--precision", "fp32",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    one, two = _curves(tmp_path / "one"), _curves(tmp_path / "two")
    assert [(r["step"], r["split"]) for r in one] == [(r["step"], r["split"]) for r in two]
    for r1, r2 in zip(one, two, strict=True):
        for key in ("loss", "mlm_loss", "sop_loss", "mlm_acc", "sop_acc", "lr"):
            if key not in r1:  # eval records have no lr
                continue
            assert r1[key] == pytest.approx(r2[key], rel=1e-5, abs=1e-7), (r1["step"], key)
    w1, w2 = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    for key in w1:
        assert torch.allclose(w1[key], w2[key], atol=1e-5), key


def test_nonfinite_steps_are_skipped_then_stop(
    data: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from albertctl.train.trainer import PretrainingObjective

    original = PretrainingObjective.__call__
    calls = []

    def poisoned(self: PretrainingObjective, *args: object) -> tuple:
        loss, sums = original(self, *args)
        calls.append(1)
        if len(calls) > 2:  # one micro-batch per step: steps 2, 3, ... are non-finite
            return loss * float("nan"), {k: v * float("nan") for k, v in sums.items()}
        return loss, sums

    monkeypatch.setattr(PretrainingObjective, "__call__", poisoned)
    with pytest.warns(RuntimeWarning, match="non-finite"), pytest.raises(AlbertctlError, match="diverged"):
        pretrain(_config(data, tmp_path / "run", max_nonfinite=3))


def test_bf16_autocast_runs(data: tuple[Path, Path], tmp_path: Path) -> None:
    report = pretrain(_config(data, tmp_path / "run", max_steps=2, warmup_steps=0, precision="bf16"))
    assert report.precision == "bf16"
    assert all(torch.isfinite(t).all() for t in _weights(tmp_path / "run").values())
    assert all(t.dtype == torch.float32 for t in _weights(tmp_path / "run").values())


def test_init_from_checkpoint(data: tuple[Path, Path], tmp_path: Path) -> None:
    first = pretrain(_config(data, tmp_path / "a", max_steps=2, warmup_steps=0))
    second = pretrain(_config(data, tmp_path / "b", max_steps=1, warmup_steps=1, init=first.run_dir))
    # warm-up step 0 has lr 0: the weights are exactly the --init weights.
    wa, wb = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert second.final_step == 1 and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_config_resolution(tmp_path: Path) -> None:
    toml = tmp_path / "run.toml"
    toml.write_text('[pretrain]\nmodel = "debug"\nbatch-size = 32\nlr = 0.01\ndata = ["d1"]\nout = "r"\n')
    values = read_toml_config(toml)
    config = resolve_pretrain_config({"lr": 0.02, "max_steps": None}, values)
    assert (config.batch_size, config.lr, config.max_steps) == (32, 0.02, 100)  # flag > file > recipe
    assert config.data == (Path("d1"),) and config.out == Path("r")
    short = resolve_pretrain_config({"data": ("d",), "out": "r", "model": "tiny", "max_steps": 50})
    assert short.warmup_steps == 5  # recipe warm-up capped at a tenth of a shortened run
    released = resolve_pretrain_config({"data": ("d",), "out": "r", "model": "base", "recipe": "released"})
    assert (released.batch_size, released.lr, released.max_steps, released.warmup_steps) == (
        4096,
        0.00176,
        125_000,
        3125,
    )
    toml.write_text("bogus = 1\n")
    with pytest.raises(AlbertctlError, match="bogus"):
        read_toml_config(toml)
    with pytest.raises(AlbertctlError, match="batch_size"):
        resolve_pretrain_config({"data": ("d",), "out": "r", "batch_size": 0})


def _cli(args: list[str]) -> int:
    """Run the CLI entry point in-process and return its exit code."""
    from albertctl.cli import main

    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_cli_pretrain_and_plot(
    data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    code = _cli(
        ["pretrain", "--data", str(data[0]), "--out", str(run), "--model", "debug", "--max-steps", "3",
         "--batch-size", "8", "--log-every", "1", "--threads", "1"]
    )  # fmt: skip
    assert code == 0 and "finished at step 3" in capsys.readouterr().out
    assert (run / "checkpoints" / "step-000003" / "model.safetensors").is_file()
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert _cli(["plot", str(run)]) == 1
        assert "matplotlib" in capsys.readouterr().err
    else:
        assert _cli(["plot", str(run)]) == 0
        assert (run / "plots" / "loss.png").is_file()


def test_cli_user_errors_are_one_line(
    data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli(["pretrain", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "run")]) == 1
    assert "error:" in capsys.readouterr().err
    assert _cli(["pretrain", "--data", str(data[0]), "--out", str(tmp_path / "r"), "--optimizer", "sgd"]) == 1
    assert "optimizer" in capsys.readouterr().err


def test_real_chain_checkpoint_is_self_contained(tiny_corpus: Path, tiny_vocab: Path, tmp_path: Path) -> None:
    """make-data output -> pretrain -> a checkpoint that carries the vocabulary and loads as a model."""
    from albertctl.data.build import MakeDataConfig, build_pretraining_data
    from albertctl.vocab import load_tokenizer

    data_dir = tmp_path / "data"
    build_pretraining_data(
        [tiny_corpus],
        tiny_vocab,
        data_dir,
        MakeDataConfig(max_seq_length=64, max_predictions=10, dupe_factor=1),
    )
    report = pretrain(
        PretrainConfig(
            data=(data_dir,), out=tmp_path / "run", model="debug", batch_size=8, max_steps=2,
            warmup_steps=0, threads=1, tensorboard=False, eval_data=(data_dir,), eval_max_sequences=16,
            precision="fp32",
        )
    )  # fmt: skip
    ckpt = report.last_checkpoint
    assert ckpt is not None
    tokenizer = load_tokenizer(ckpt)
    assert tokenizer.fingerprint() == load_tokenizer(tiny_vocab).fingerprint()
    assert load_checkpoint(ckpt).config.vocab_size == tokenizer.vocab_size
    assert report.eval["sequences"] == 16


def test_steps_within_budget() -> None:
    from albertctl.train.pretrain import steps_within_budget

    fit = dict(budget_s=60.0, elapsed_s=10.0, step_s=0.5, done=12, warmup_steps=5, max_steps=1000)
    assert steps_within_budget(**fit) == 12 + 100  # 50 s left at 0.5 s/step
    assert steps_within_budget(**{**fit, "max_steps": 80}) == 80  # never past --max-steps
    assert steps_within_budget(**{**fit, "elapsed_s": 90.0}) == 12  # over already: stop now
    assert steps_within_budget(**{**fit, "elapsed_s": 90.0, "warmup_steps": 30}) == 30  # finish warm-up


def test_time_budget_ends_the_run_as_if_max_steps_were_set(data: tuple[Path, Path], tmp_path: Path) -> None:
    from albertctl.train.pretrain import BUDGET_CALIBRATION

    # A budget already spent by the calibration steps: the run ends right after them. With the
    # warm-up as long as the calibration, nothing differs from asking for that many steps.
    steps = BUDGET_CALIBRATION
    budget = pretrain(_config(data, tmp_path / "budget", max_steps=40, warmup_steps=steps, time_budget=1e-6))
    assert budget.final_step == steps
    records = read_metrics(tmp_path / "budget")
    chosen = [r for r in records if r["split"] == "budget"]
    assert len(chosen) == 1 and chosen[0]["max_steps"] == steps and chosen[0]["step_s"] > 0
    pretrain(_config(data, tmp_path / "fixed", max_steps=steps, warmup_steps=steps))
    assert [r for r in _curves(tmp_path / "budget") if r["split"] != "budget"] == _curves(tmp_path / "fixed")
    assert torch.equal(
        torch.cat([w.flatten() for w in _weights(tmp_path / "budget").values()]),
        torch.cat([w.flatten() for w in _weights(tmp_path / "fixed").values()]),
    )
    # A generous budget changes nothing: --max-steps still ends the run.
    assert pretrain(_config(data, tmp_path / "roomy", max_steps=14, time_budget=60.0)).final_step == 14


def test_time_budget_choice_survives_resume(
    data: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import albertctl.train.pretrain as module

    monkeypatch.setattr(module, "steps_within_budget", lambda **kw: 18)
    run = tmp_path / "run"

    def stop_at_fifteen(event: TrainEvent) -> None:
        if event.kind == "train" and event.step == 15:
            os.kill(os.getpid(), signal.SIGTERM)

    settings = dict(max_steps=40, time_budget=5.0, save_every=100)
    report = pretrain(_config(data, run, **settings), on_event=stop_at_fifteen)
    assert report.stopped_early and report.final_step == 15
    # The resumed run must not time itself again: it keeps the first run's choice.
    monkeypatch.setattr(module, "steps_within_budget", lambda **kw: 30)
    resumed = pretrain(resolve_pretrain_config({"out": run, "resume": True}))
    assert resumed.final_step == 18
    assert load_trainer_state(resumed.last_checkpoint).scheduler["total_steps"] == 18


class _Planted:
    """A pickle that would write a marker file when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "ran"))


def test_resume_refuses_a_planted_pickle_and_runs_nothing(
    data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pickle

    from conftest import run_cli_error

    run = tmp_path / "run"
    pretrain(_config(data, run, max_steps=3, save_every=3))
    marker = tmp_path / "marker.txt"
    state = run / "checkpoints" / "step-000003" / "trainer_state.pt"
    state.write_bytes(pickle.dumps({"step": 3, "optimizer": _Planted(marker)}, protocol=2))
    line = run_cli_error(["pretrain", "--out", str(run), "--resume", "--max-steps", "6"], capsys)
    assert "nothing in it was run" in line and "trainer_state.pt" in line
    assert not marker.exists()
    # The genuine file of an unmodified run still resumes (weights_only reads our own state).
    pretrain(_config(data, tmp_path / "other", max_steps=3, save_every=3))
    resumed = pretrain(_config(data, tmp_path / "other", max_steps=6, save_every=3, resume=True))
    assert resumed.final_step == 6


def test_resume_with_init_is_refused(data: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(AlbertctlError, match="--init .* would be ignored"):
        _config(data, tmp_path / "run", resume=True, init=tmp_path / "weights")


def test_eval_data_of_another_vocabulary_of_the_same_size_is_refused(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    other = write_synthetic_data(tmp_path / "other", shards=1, rows_per_shard=8, seed=3)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["vocab_fingerprint"] = "another-vocabulary"  # same vocab_size, other pieces
    (other / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(AlbertctlError, match="another vocabulary than --data"):
        pretrain(_config(data, tmp_path / "run", eval_data=(other,)))
    assert not (tmp_path / "run").exists()


def test_a_changed_shard_is_refused_before_training(
    data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from conftest import flip_one_bit, run_cli_error

    from albertctl.cli import main
    from albertctl.data.shards import verify_shards

    copy = tmp_path / "data"
    shutil.copytree(data[0], copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    memo = tmp_path / "memo.json"
    assert verify_shards(copy, manifest["shards"], memo=memo) == 2  # both hashed
    assert verify_shards(copy, manifest["shards"], memo=memo) == 0  # memoized by size and mtime
    shard = copy / manifest["shards"][1]["file"]
    flip_one_bit(shard)
    argv = ["pretrain", "--data", str(copy), "--out", str(tmp_path / "run"), "--model", "debug",
            "--batch-size", "8", "--max-steps", "2", "--warmup-steps", "0", "--threads", "1"]  # fmt: skip
    assert f"shard {shard} does not match the sha256" in run_cli_error(argv, capsys)
    assert not (tmp_path / "run").exists()
    # --no-verify is the documented way past the check (the flipped bit is in the data, not the format).
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--no-verify"])
    assert exit_info.value.code in (0, None)


def test_ids_outside_the_vocabulary_are_one_clear_error(data: tuple[Path, Path], tmp_path: Path) -> None:
    """An edited vocab_size (the shards still match their sha256) is caught by verification up
    front, and without verification by the loader, before a batch reaches the model."""
    import shutil

    copy = tmp_path / "data"
    shutil.copytree(data[0], copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["vocab_size"] = 64  # the synthetic ids reach 127
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(AlbertctlError, match=r"shard .*shard-00000.arrow holds id 12\d, outside .* 64"):
        pretrain(_config((copy, data[1]), tmp_path / "run"))
    assert not (tmp_path / "run").exists()
    with pytest.raises(AlbertctlError, match=r"shard .* holds ids outside the vocabulary \(64 pieces\)"):
        pretrain(_config((copy, data[1]), tmp_path / "run", verify_data=False))


def test_init_from_another_vocabulary_is_refused_unless_allowed(
    data: tuple[Path, Path], tiny_vocab: Path, tmp_path: Path
) -> None:
    from albertctl.model import save_model
    from albertctl.vocab import load_tokenizer

    model = AlbertForPreTraining(get_config("debug", vocab_size=128))
    save_model(model, tmp_path / "model", tokenizer=load_tokenizer(tiny_vocab))  # 1000 pieces
    with pytest.raises(AlbertctlError, match=r"vocabularies differ: .*\(the model .*\) vs synthetic") as info:
        pretrain(_config(data, tmp_path / "run", init=tmp_path / "model"))
    assert "--allow-vocab-mismatch" in info.value.hint
    assert not (tmp_path / "run").exists()
    report = pretrain(
        _config(data, tmp_path / "run", init=tmp_path / "model", max_steps=2, allow_vocab_mismatch=True)
    )
    assert report.final_step == 2


def test_resume_below_the_steps_done_is_refused_and_a_new_end_is_said(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    run = tmp_path / "run"
    pretrain(_config(data, run, max_steps=4, save_every=2))
    saved = (run / "pretrain_config.json").read_bytes()
    with pytest.raises(AlbertctlError, match="--max-steps 2: the run is already at step 4"):
        pretrain(_config(data, run, max_steps=2, save_every=2, resume=True))
    assert (run / "pretrain_config.json").read_bytes() == saved  # not rewritten
    events: list = []
    report = pretrain(_config(data, run, max_steps=6, save_every=2, resume=True), on_event=events.append)
    assert report.final_step == 6
    notes = [e.values["message"] for e in events if e.kind == "notice"]
    assert notes == ["max_steps 4 -> 6: the learning-rate decay now ends at step 6, not 4 "
                     "(pretrain_config.json records the new value)"]  # fmt: skip
    assert json.loads((run / "pretrain_config.json").read_text())["max_steps"] == 6
