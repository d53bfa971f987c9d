"""The pipeline's skip/rerun logic with fake stages, its TOML handling, and the chain it builds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli_error

from albertctl import pipeline as pl
from albertctl.cli import main
from albertctl.errors import AlbertctlError


class FakeCommands:
    """Stands in for ``albertctl.cli.main``: writes ``argv.json`` into the directory after ``--out``."""

    def __init__(self, fail: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.fail = fail

    def __call__(self, argv: list[str]) -> None:
        self.calls.append(argv)
        if self.fail is not None and self.fail in argv:
            raise AlbertctlError(f"{self.fail} failed")
        out = Path(argv[argv.index("--out") + 1])
        if out.exists() and "--overwrite" not in argv:
            raise AssertionError(f"{out} exists and --overwrite was not passed")
        out.mkdir(parents=True, exist_ok=True)
        (out / "argv.json").write_text(json.dumps(argv))

    def names(self) -> list[str]:
        return [argv[0] for argv in self.calls]


def chain(tmp_path: Path, *, vocab_size: int = 100, corpus: Path | None = None) -> list[pl.Stage]:
    corpus = corpus or tmp_path / "corpus.txt"
    return [
        pl.Stage(name="a", argv=("a", "--out", str(tmp_path / "a")), out=tmp_path / "a", inputs=(corpus,)),
        pl.Stage(
            name="b",
            argv=("b", "--size", str(vocab_size), "--out", str(tmp_path / "b")),
            out=tmp_path / "b",
            deps=("a",),
        ),
        pl.Stage(name="c", argv=("c", "--out", str(tmp_path / "c")), out=tmp_path / "c", deps=("b",)),
        pl.Stage(name="d", argv=("d", "--out", str(tmp_path / "d")), out=tmp_path / "d", deps=("a",)),
    ]


def actions(results: list[pl.StageResult]) -> dict[str, str]:
    return {r.name: r.action for r in results}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text("one line\nanother\n\nsecond document\nline\n\n")
    return path


def test_first_run_runs_everything_then_everything_is_skipped(tmp_path: Path, corpus: Path) -> None:
    fake = FakeCommands()
    assert set(actions(pl.run_stages(chain(tmp_path), fake)).values()) == {"run"}
    assert fake.names() == ["a", "b", "c", "d"]
    assert all("--overwrite" not in argv for argv in fake.calls)
    again = FakeCommands()
    assert set(actions(pl.run_stages(chain(tmp_path), again)).values()) == {"skip"}
    assert again.calls == []
    assert (
        pl.read_marker(tmp_path / "b")["fingerprint"] == pl.run_stages(chain(tmp_path), again)[1].fingerprint
    )


def test_changed_option_reruns_that_stage_and_its_descendants_only(tmp_path: Path, corpus: Path) -> None:
    pl.run_stages(chain(tmp_path), FakeCommands())
    fake = FakeCommands()
    results = pl.run_stages(chain(tmp_path, vocab_size=200), fake)
    assert actions(results) == {"a": "skip", "b": "rerun", "c": "rerun", "d": "skip"}
    assert fake.names() == ["b", "c"]
    assert all(argv[-1] == "--overwrite" for argv in fake.calls)
    assert set(actions(pl.run_stages(chain(tmp_path, vocab_size=200), FakeCommands())).values()) == {"skip"}


def test_changed_input_content_reruns_the_whole_chain(tmp_path: Path, corpus: Path) -> None:
    pl.run_stages(chain(tmp_path), FakeCommands())
    corpus.write_text(corpus.read_text() + "a third document\nwith two lines\n\n")
    assert set(actions(pl.run_stages(chain(tmp_path), FakeCommands())).values()) == {"rerun"}


def test_a_deleted_or_changed_output_file_reruns_its_stage(tmp_path: Path, corpus: Path) -> None:
    pl.run_stages(chain(tmp_path), FakeCommands())
    assert pl.read_marker(tmp_path / "b")["files"] == {
        "argv.json": (tmp_path / "b" / "argv.json").stat().st_size
    }
    (tmp_path / "b" / "argv.json").unlink()  # e.g. a shard deleted by hand
    (tmp_path / "d" / "argv.json").write_text("[]")  # or truncated
    fake = FakeCommands()
    assert actions(pl.run_stages(chain(tmp_path), fake)) == {
        "a": "skip",
        "b": "rerun",
        "c": "skip",
        "d": "rerun",
    }
    assert fake.names() == ["b", "d"]  # same fingerprints: what depends on them is still up to date


def test_output_without_a_matching_record_is_rebuilt(tmp_path: Path, corpus: Path) -> None:
    pl.run_stages(chain(tmp_path), FakeCommands())
    (tmp_path / "c" / pl.MARKER).unlink()  # e.g. killed after the command, before the record
    record = json.loads((tmp_path / "d" / pl.MARKER).read_text())
    (tmp_path / "d" / pl.MARKER).write_text(json.dumps(record | {"fingerprint": "0" * 64}))
    assert actions(pl.run_stages(chain(tmp_path), FakeCommands())) == {
        "a": "skip",
        "b": "skip",
        "c": "rerun",
        "d": "rerun",
    }


def test_a_failed_stage_leaves_no_record_and_the_next_run_resumes_there(tmp_path: Path, corpus: Path) -> None:
    with pytest.raises(AlbertctlError, match="c failed"):
        pl.run_stages(chain(tmp_path), FakeCommands(fail="c"))
    assert not (tmp_path / "c").exists() and not (tmp_path / "d").exists()
    fake = FakeCommands()
    assert actions(pl.run_stages(chain(tmp_path), fake)) == {"a": "skip", "b": "skip", "c": "run", "d": "run"}


def test_force_and_dry_run(tmp_path: Path, corpus: Path) -> None:
    dry = FakeCommands()
    assert set(actions(pl.run_stages(chain(tmp_path), dry, dry_run=True)).values()) == {"run"}
    assert dry.calls == [] and not (tmp_path / "a").exists()
    pl.run_stages(chain(tmp_path), FakeCommands())
    fake = FakeCommands()
    assert actions(pl.run_stages(chain(tmp_path), fake, force=["b"]))["b"] == "rerun"
    assert fake.names() == ["b"]  # forcing does not change b's fingerprint, so c stays up to date
    with pytest.raises(AlbertctlError, match="--force x: no such stage"):
        pl.run_stages(chain(tmp_path), fake, force=["x"])


def test_dependencies_must_come_first(tmp_path: Path, corpus: Path) -> None:
    stages = chain(tmp_path)
    with pytest.raises(AlbertctlError, match="depends on"):
        pl.run_stages([stages[1], stages[0]], FakeCommands())
    with pytest.raises(AlbertctlError, match="pipeline input .* does not exist"):
        pl.run_stages(chain(tmp_path, corpus=tmp_path / "missing.txt"), FakeCommands())


def test_directory_fingerprint_follows_content(tmp_path: Path) -> None:
    (tmp_path / "g" / "CoLA").mkdir(parents=True)
    (tmp_path / "g" / "CoLA" / "dev.tsv").write_text("x\t1\t\tA sentence.\n")
    before = pl.fingerprint_path(tmp_path / "g")
    assert pl.fingerprint_path(tmp_path / "g") == before
    (tmp_path / "g" / "CoLA" / "dev.tsv").write_text("x\t0\t*\tA sentence.\n")
    assert pl.fingerprint_path(tmp_path / "g") != before


def test_latest_checkpoint_placeholder(tmp_path: Path) -> None:
    for step in ("step-000010", "step-000200", "step-000030"):
        (tmp_path / "run" / "checkpoints" / step).mkdir(parents=True)
    argv = pl.resolve_argv(["x", pl.LATEST_CHECKPOINT + str(tmp_path / "run")])
    assert argv == ["x", str(tmp_path / "run" / "checkpoints" / "step-000200")]
    with pytest.raises(AlbertctlError, match="no checkpoints"):
        pl.latest_checkpoint(tmp_path)


def test_flags_and_overrides() -> None:
    flags = pl.flags_from_table({"vocab-size": 8000, "lower": True, "whole-word": False, "seeds": [1, 2]})
    assert flags == ["--vocab-size", "8000", "--lower", "--no-whole-word", "--seeds", "1", "--seeds", "2"]
    config = {"vocab": {"vocab-size": 8000}}
    merged = pl.apply_overrides(config, ["vocab.vocab-size=500", "pretrain.precision=bf16", 'run.out="x y"'])
    assert merged == {"vocab": {"vocab-size": 500}, "pretrain": {"precision": "bf16"}, "run": {"out": "x y"}}
    assert config == {"vocab": {"vocab-size": 8000}}
    with pytest.raises(AlbertctlError, match="TABLE.KEY=VALUE"):
        pl.apply_overrides(config, ["vocab-size=3"])


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"vocabulary": {}}, "unknown table"),
        ({"inputs": {"corpora": []}}, "unknown \\[inputs\\] keys"),
        ({"vocab": {"out": "x"}}, "sets \\['out'\\], which the pipeline sets itself"),
        ({"pretrain": {"max-step": 3}}, "unknown flags \\['max-step'\\]"),
        ({"vocab": 3}, "must be a table"),
        ({"run": {"out": "x", "outdir": "y"}}, "unknown \\[run\\] keys \\['outdir'\\]"),
        ({"inputs": {"baseline": "no"}}, "inputs.baseline must be true or false, got 'no'"),
        ({"inputs": {"tasks": ["cola", 3]}}, "inputs.tasks must be a task name or a list"),
        ({"inputs": {"corpus": 5}}, "inputs.corpus must be a path or a list of paths"),
        ({"run": {"out": 1}}, "run.out must be a path"),
        ({"inputs": {"tasks": ["cola", "colaa"]}}, "unknown task 'colaa'"),
        ({"pretrain": {"model": "huge"}}, "unknown model 'huge'"),
    ],
)
def test_validate_config_errors(config: dict, message: str) -> None:
    with pytest.raises(AlbertctlError, match=message):
        pl.validate_config(config, {"pretrain": {"max-steps", "out"}})


def test_validate_accepts_negated_booleans() -> None:
    pl.validate_config({"vocab": {"lower": False}}, {"vocab": {"lower", "no-lower"}})


def test_the_chain_built_from_a_config(tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = {"run": {"out": str(out)}, "inputs": {"tasks": ["cola"]}, "vocab": {"vocab-size": 900}}
    stages = pl.build_stages(config, source_fingerprint="abc")
    names = [s.name for s in stages]
    assert names == [
        "demo-data",
        "vocab",
        "data",
        "eval-data",
        "pretrain",
        "finetune-cola",
        "baseline-cola",
    ]
    by_name = {s.name: s for s in stages}
    assert by_name["vocab"].argv[-2:] == ("--vocab-size", "900")
    assert by_name["demo-data"].extra == {"source": "abc"}
    assert by_name["finetune-cola"].deps == ("demo-data", "pretrain")
    assert str(out / "demo-data" / "glue") in by_name["finetune-cola"].argv
    assert (
        "--random-init" in by_name["baseline-cola"].argv
        and "--random-init" not in by_name["finetune-cola"].argv
    )
    assert by_name["baseline-cola"].deps == ("demo-data", "pretrain")
    # Real GLUE data: an input fingerprinted by content, not derived from the corpus.
    glue = tmp_path / "glue"
    glue.mkdir()
    config["inputs"] = {
        "tasks": "mrpc",
        "glue_dir": str(glue),
        "baseline": False,
        "corpus": [str(tmp_path / "c.txt")],
    }
    stages = {s.name: s for s in pl.build_stages(config)}
    assert "baseline-mrpc" not in stages
    assert stages["finetune-mrpc"].inputs == (glue,) and stages["finetune-mrpc"].deps == ("pretrain",)
    assert stages["demo-data"].inputs == (tmp_path / "c.txt",) and stages["demo-data"].extra == {}


def test_result_readers_read_what_the_stages_write(tmp_path: Path) -> None:
    (tmp_path / "pretrain").mkdir()
    lines = [
        {"step": 10, "loss": 3.0},
        {"step": 20, "split": "eval", "mlm_acc": 0.25, "sop_acc": 0.6},
        {"step": 30, "split": "train", "mlm_acc": 0.5, "sop_acc": 0.9},
    ]
    (tmp_path / "pretrain" / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert pl.read_heldout_metrics(tmp_path / "pretrain") == {"mlm_accuracy": 0.25, "sop_accuracy": 0.6}
    (tmp_path / "ft").mkdir()
    results = {"tasks": {"cola": {"metrics": ["mcc"], "best": {"mcc": {"mean": 0.31}}, "final": {}}}}
    (tmp_path / "ft" / "results.json").write_text(json.dumps(results))  # glue/finetune.py's layout
    assert pl.read_finetune_metric(tmp_path / "ft", "cola") == ("mcc", 0.31)
    assert pl.read_finetune_metric(tmp_path / "missing", "cola") is None


def test_pipeline_cli_dry_run_and_config_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "p.toml"
    config.write_text('[run]\nout = "unused"\n[vocab]\nvocab-size = 500\n')
    with pytest.raises(SystemExit) as exit_info:
        main(["pipeline", str(config), "--out", str(tmp_path / "run"), "--dry-run"])
    assert exit_info.value.code in (0, None)
    out = capsys.readouterr().out
    assert "demo-data: run" in out and "finetune-cola: run" in out
    assert not (tmp_path / "run").exists()
    config.write_text("[vocab\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["pipeline", str(config)])
    assert exit_info.value.code == 1
    assert "is not valid TOML" in capsys.readouterr().err
    config.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")  # a binary file passed by mistake
    with pytest.raises(SystemExit) as exit_info:
        main(["pipeline", str(config)])
    assert exit_info.value.code == 1
    assert f"error: {config} is not UTF-8 text (line 1, byte 0" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("toml", "sets", "message"),
    [
        ('[vocab]\nvocab-size = "big"\n', [], "stage vocab: Invalid value for '--vocab-size'"),
        ("[pretrain]\nmax-steps = 4.5\n", [], "stage pretrain: Invalid value for '--max-steps'"),
        ("", ["pretrain.max-steps=abc"], "stage pretrain: Invalid value for '--max-steps'"),
        ("[vocab]\nvocab-size = 0\n", [], "stage vocab: Invalid value for '--vocab-size'"),
    ],
)
def test_stage_flag_values_are_checked_before_any_stage(
    toml: str, sets: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "p.toml"
    config.write_text(toml)
    run = tmp_path / "run"
    for dry in ([], ["--dry-run"]):
        argv = ["pipeline", str(config), "--out", str(run), *[a for s in sets for a in ("--set", s)], *dry]
        line = run_cli_error(argv, capsys)
        assert message in line and "no stage has run" in line
        assert not run.exists()


def test_eval_data_flags_override_data_flags_once(tmp_path: Path) -> None:
    config = {
        "run": {"out": str(tmp_path / "run")},
        "data": {"max-seq-length": 128, "dupe-factor": 3},
        "eval_data": {"dupe-factor": 1},
    }
    stages = {s.name: s for s in pl.build_stages(config, source_fingerprint="abc")}
    eval_argv = list(stages["eval-data"].argv)
    assert eval_argv.count("--dupe-factor") == 1 and eval_argv[eval_argv.index("--dupe-factor") + 1] == "1"
    assert eval_argv[eval_argv.index("--max-seq-length") + 1] == "128"
    data_argv = list(stages["data"].argv)
    assert data_argv[data_argv.index("--dupe-factor") + 1] == "3"


def test_paired_gain_by_seed() -> None:
    pre = {1: 0.30, 2: 0.20, 3: 0.40}
    scratch = {1: 0.10, 2: 0.10, 3: 0.10, 4: 0.90}  # seed 4 has no pretrained twin: left out
    paired = pl.paired_gain(pre, scratch)
    assert paired["seeds"] == [1, 2, 3]
    assert paired["pretrained_mean"] == pytest.approx(0.30)
    assert paired["pretrained_std"] == pytest.approx(0.10)  # sample std: sqrt((0.01 + 0.01) / 2)
    assert paired["scratch_mean"] == pytest.approx(0.10) and paired["scratch_std"] == pytest.approx(0.0)
    # Differences 0.2, 0.1, 0.3: mean 0.2, sample std 0.1, s.e. 0.1 / sqrt(3) = 0.0577; 3.46 s.e.
    assert paired["gain"] == pytest.approx(0.2) and paired["gain_se"] == pytest.approx(0.1 / 3**0.5)
    assert paired["clear"]
    noisy = pl.paired_gain({1: 0.3, 2: 0.0, 3: 0.2}, {1: 0.1, 2: 0.1, 3: 0.1})
    assert noisy["gain"] == pytest.approx(0.2 / 3) and not noisy["clear"]  # 0.76 s.e.
    assert pl.paired_gain({1: 0.5}, {1: 0.4})["gain_se"] is None
    assert pl.paired_gain({1: 0.5}, {2: 0.4}) == {"seeds": []}


def test_seed_metrics_read_from_results(tmp_path: Path) -> None:
    (tmp_path / "ft").mkdir()
    seeds = [{"seed": k, "best": {"step": 5, "metrics": {"mcc": v}}} for k, v in ((1, 0.2), (2, 0.25))]
    (tmp_path / "ft" / "results.json").write_text(json.dumps({"tasks": {"cola": {"seeds": seeds}}}))
    assert pl.read_seed_metrics(tmp_path / "ft", "cola", "mcc") == {1: 0.2, 2: 0.25}
    assert pl.read_seed_metrics(tmp_path / "ft", "cola", "f1") == {}
    assert pl.read_seed_metrics(tmp_path / "missing", "cola", "mcc") == {}
