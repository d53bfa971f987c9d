"""The real chain on a tiny config: every stage's library call in-process, then skip and partial rerun."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from albertctl import pipeline as pl
from albertctl.cli import main

TINY = """
[run]
out = "{out}"
[inputs]
tasks = ["cola"]
[demo_data]
max-mb = 0.6
max-train-examples = 120
max-dev-examples = 60
[vocab]
vocab-size = 600
[data]
max-seq-length = 64
dupe-factor = 1
[pretrain]
model = "debug"
batch-size = 8
max-steps = 4
time-budget = 10.0
warmup-steps = 1
eval-every = 2
eval-max-sequences = 32
save-every = 4
log-every = 2
[finetune]
seeds = "1,2"
max-seq-length = 32
max-steps = 3
batch-size = 8
"""


def run(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code in (0, None)


def stage_actions_of(shown: str) -> dict[str, str]:
    lines = shown.splitlines()
    pairs = [line.split(": ", 1) for line in lines if line.endswith((": run", ": skip", ": rerun"))]
    return dict(pairs)


def stage_actions(capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    return stage_actions_of(capsys.readouterr().out)


@pytest.mark.slow
def test_tiny_chain_runs_skips_and_reruns_only_what_changed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    config = tmp_path / "tiny.toml"
    config.write_text(TINY.format(out=out.as_posix()))

    run(["pipeline", str(config)])
    shown = capsys.readouterr().out
    first = stage_actions_of(shown)
    assert "cola: " in shown and "paired by seed" in shown  # the verdict line under the table
    stages = ["demo-data", "vocab", "data", "eval-data", "pretrain", "finetune-cola", "baseline-cola"]
    assert first == {name: "run" for name in stages}
    summary = json.loads((out / "results.json").read_text())
    assert set(summary["heldout"]) == {"mlm_accuracy", "sop_accuracy"}
    assert summary["tasks"][0]["task"] == "cola" and summary["tasks"][0]["metric"] == "mcc"
    assert summary["tasks"][0]["pretrained"] is not None and summary["tasks"][0]["scratch"] is not None
    assert summary["tasks"][0]["paired"]["seeds"] == [1, 2]
    for name in stages:
        assert pl.read_marker(out / name)["stage"] == name
    assert (out / "demo-data" / "glue" / "CoLA" / "dev.tsv").is_file()

    run(["pipeline", str(config)])
    shown = capsys.readouterr().out
    assert stage_actions_of(shown) == {name: "skip" for name in stages}
    # Every stage skipped: the results come back from what the stages wrote, the same as when run.
    assert json.loads((out / "results.json").read_text()) == summary
    assert "cola dev" in shown and "paired by seed" in shown

    # A fine-tuning option changed: only the two fine-tuning stages run again.
    run(["pipeline", str(config), "--set", "finetune.max-steps=2"])
    again = stage_actions(capsys)
    assert {k for k, v in again.items() if v == "rerun"} == {"finetune-cola", "baseline-cola"}
    record = json.loads((out / "finetune-cola" / pl.MARKER).read_text())
    assert record["overwrite"] is True and record["config"]["config"]["max_steps"] == 2
    rerun = json.loads((out / "results.json").read_text())
    assert rerun["heldout"] == summary["heldout"] and rerun["tasks"][0]["paired"]["seeds"] == [1, 2]
