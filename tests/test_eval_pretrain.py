"""``albertctl eval pretrain`` and ``evaluate_pretraining``: the trainer's own held-out numbers,
the table and the JSON, and one error line for bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from albertctl.errors import AlbertctlError
from albertctl.train.evaluate import HeldoutReport, evaluate_pretraining
from albertctl.train.metrics import read_metrics
from albertctl.train.pretrain import PretrainConfig, pretrain
from albertctl.train.synthetic import write_synthetic_data

METRICS = ("loss", "mlm_loss", "sop_loss", "mlm_acc", "sop_acc")
# The run's held-out evaluation: micro-batch 8 / grad_accum 2 = 4 rows per batch, 20 of 24 rows.
EVAL_BATCH = 4
EVAL_MAX = 20


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(run dir of a tiny fp32 pretraining run that evaluated at the end, its held-out data)."""
    root = tmp_path_factory.mktemp("eval-pretrain")
    train = write_synthetic_data(root / "train", shards=2, rows_per_shard=48, seed=0)
    held_out = write_synthetic_data(root / "eval", shards=1, rows_per_shard=24, seed=7)
    config = PretrainConfig(
        data=(train,),
        out=root / "run",
        model="debug",
        batch_size=8,
        grad_accum=2,
        max_steps=6,
        warmup_steps=2,
        lr=5e-3,
        log_every=3,
        save_every=6,
        eval_data=(held_out,),
        eval_every=0,
        eval_max_sequences=EVAL_MAX,
        threads=1,
        tensorboard=False,
        precision="fp32",
    )
    pretrain(config)
    return root / "run", held_out


def _evaluate(run_dir: Path, data: list[Path], **kwargs: object) -> HeldoutReport:
    values: dict[str, object] = {
        "batch_size": EVAL_BATCH,
        "max_sequences": EVAL_MAX,
        "device": "cpu",
        "precision": "fp32",
    }
    values.update(kwargs)
    return evaluate_pretraining(run_dir, data, **values)  # type: ignore[arg-type]


def test_matches_the_trainers_final_evaluation(run: tuple[Path, Path]) -> None:
    run_dir, held_out = run
    records = [r for r in read_metrics(run_dir) if r["split"] == "eval"]
    final = records[-1]
    assert final["step"] == 6
    report = _evaluate(run_dir, [held_out])
    assert report.checkpoint.name == "step-000006"
    assert report.sequences == final["sequences"] == EVAL_MAX
    assert report.masked_tokens > 0
    diffs = {name: abs(getattr(report, name) - final[name]) for name in METRICS}
    assert max(diffs.values()) <= 1e-6, diffs
    assert report.loss == pytest.approx(report.mlm_loss + report.sop_loss, abs=1e-12)


def test_several_data_dirs_are_read_in_order(run: tuple[Path, Path]) -> None:
    run_dir, held_out = run
    both = _evaluate(run_dir, [held_out, held_out], max_sequences=None)
    one = _evaluate(run_dir, [held_out], max_sequences=None)
    assert both.sequences == 2 * one.sequences == 48
    assert both.masked_tokens == 2 * one.masked_tokens
    assert both.mlm_loss == pytest.approx(one.mlm_loss, abs=1e-6)


def test_cli_prints_the_numbers(run: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    from albertctl.cli import main

    run_dir, held_out = run
    report = _evaluate(run_dir, [held_out])
    argv = ["eval", "pretrain", str(run_dir), "--data", str(held_out), "--batch-size", str(EVAL_BATCH)]
    argv += ["--max-sequences", str(EVAL_MAX), "--device", "cpu", "--precision", "fp32"]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    table = out.splitlines()[1:]  # the first line names the checkpoint (a long path)
    assert max(len(line) for line in table) <= 80
    for label, value in (
        ("MLM loss", f"{report.mlm_loss:.4f}"),
        ("SOP loss", f"{report.sop_loss:.4f}"),
        ("total loss", f"{report.loss:.4f}"),
        ("MLM accuracy", f"{report.mlm_acc:.2%}"),
        ("SOP accuracy", f"{report.sop_acc:.2%}"),
        ("sequences", f"{EVAL_MAX}"),
    ):
        assert any(label in line and value in line for line in table), (label, value, out)

    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--json"])
    assert exit_info.value.code == 0
    payload = json.loads(capsys.readouterr().out)
    for name in (*METRICS, "sequences", "masked_tokens"):
        assert payload[name] == pytest.approx(getattr(report, name), abs=1e-9), name
    assert payload["checkpoint"] == str(report.checkpoint)
    assert payload["data"] == [str(held_out)]


def _with_vocabulary(run_dir: Path, out: Path) -> Path:
    """A copy of the run's checkpoint carrying its own (WordPiece) vocabulary, not the data's."""
    from albertctl.model.checkpoint import resolve_checkpoint

    shutil.copytree(resolve_checkpoint(run_dir), out)
    pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"piece{i}" for i in range(123)]
    (out / "vocab.txt").write_text("\n".join(pieces) + "\n", encoding="utf-8")
    return out


def test_vocabulary_mismatch_is_refused_with_one_line(
    run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from conftest import run_cli_error

    run_dir, held_out = run
    model = _with_vocabulary(run_dir, tmp_path / "model")
    with pytest.raises(AlbertctlError, match="vocabularies differ"):
        _evaluate(model, [held_out])
    line = run_cli_error(["eval", "pretrain", str(model), "--data", str(held_out)], capsys)
    assert line.startswith("error: vocabularies differ")
    assert str(model) in line and "manifest.json" in line and "make-data --vocab" in line


def test_missing_checkpoint_is_one_line(
    run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from conftest import run_cli_error

    _, held_out = run
    line = run_cli_error(["eval", "pretrain", str(tmp_path / "nope"), "--data", str(held_out)], capsys)
    assert line.startswith("error: checkpoint") and "does not exist" in line


def test_a_model_without_pretraining_head_is_refused(run: tuple[Path, Path], tmp_path: Path) -> None:
    from albertctl.model.checkpoint import load_checkpoint, save_model

    run_dir, held_out = run
    classifier = load_checkpoint(run_dir, head="classification", num_labels=2).model
    save_model(classifier, tmp_path / "classifier")
    with pytest.raises(AlbertctlError, match="no pretraining head"):
        _evaluate(tmp_path / "classifier", [held_out])
