"""``albertctl finetune glue`` / ``eval glue`` / ``predict glue`` through the real CLI entry point:
tables, files, and one ``error:`` line with exit code 1 for user mistakes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_glue_finetune import checkpoint, write_sentiment_dir  # noqa: F401  (checkpoint is a fixture)

from albertctl.cli import main


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main([*args])
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err


def test_finetune_eval_predict_commands(
    checkpoint: Path,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    glue = write_sentiment_dir(tmp_path / "glue", train=32, dev=16)
    out = tmp_path / "ft"
    common = ["--data-dir", str(glue), "--model", str(checkpoint), "--device", "cpu"]
    flags = ["--max-steps", "4", "--batch-size", "8", "--eval-every", "2", "--seeds", "1,2"]
    code, stdout, _ = _run(["finetune", "glue", "--task", "sst2", *common, "--out", str(out), *flags], capsys)
    assert code == 0, stdout
    assert "GLUE dev" in stdout and "best" in stdout and "final" in stdout and "±" in stdout
    results = json.loads((out / "results.json").read_text())
    assert [s["seed"] for s in results["tasks"]["sst2"]["seeds"]] == [1, 2]

    code, stdout, _ = _run(
        ["eval", "glue", "--model", str(out), "--data-dir", str(glue), "--device", "cpu"], capsys
    )
    assert code == 0 and "SST-2 dev" in stdout

    sub = tmp_path / "sub"
    args = [
        "predict",
        "glue",
        "--model",
        str(out),
        "--data-dir",
        str(glue),
        "--out",
        str(sub),
        "--device",
        "cpu",
    ]
    code, stdout, _ = _run(args, capsys)
    assert code == 0 and (sub / "SST-2.tsv").is_file() and "not written" in stdout

    code, _, stderr = _run(["finetune", "glue", "--task", "sst2", *common, "--out", str(out), *flags], capsys)
    assert code == 1 and stderr.startswith("error:") and "--overwrite" in stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--task", "squad"], "unknown task 'squad'"),
        (["--task", "cola"], "no CoLA data"),
        (["--task", "sst2", "--seeds", "1,x"], "--seeds '1,x' is not a comma list"),
        (["--task", "sst2", "--lr", "0"], "lr must be > 0"),
    ],
)
def test_user_mistakes_are_one_error_line(
    checkpoint: Path,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    glue = write_sentiment_dir(tmp_path / "glue", train=8, dev=4)
    args = [
        "finetune",
        "glue",
        "--data-dir",
        str(glue),
        "--model",
        str(checkpoint),
        "--out",
        str(tmp_path / "o"),
    ]
    code, _, stderr = _run([*args, *extra], capsys)
    assert code == 1
    assert stderr.startswith("error:") and message in stderr and len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
