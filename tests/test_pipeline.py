"""The pipeline's skip/rerun logic with fake stages, its TOML handling, and the chain it builds."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import run_cli_error

from albertctl import pipeline as pl
from albertctl.cli import main
from albertctl.errors import AlbertctlError


class FakeStages:
    """Stands in for the library calls: each stage's run writes ``out.json`` (its config) into its
    output and records ``(stage, overwrite)``."""

    def __init__(self, fail: str | None = None) -> None:
        self.calls: list[tuple[str, bool]] = []
        self.fail = fail

    def runner(self, name: str, out: Path, config: dict) -> Callable[[bool, pl.Hooks], dict]:
        def run(overwrite: bool, hooks: pl.Hooks) -> dict:
            self.calls.append((name, overwrite))
            if self.fail == name:
                raise AlbertctlError(f"{name} failed")
            if out.exists() and not overwrite:
                raise AssertionError(f"{out} exists and overwrite was not passed")
            out.mkdir(parents=True, exist_ok=True)
            (out / "out.json").write_text(json.dumps(config))
            return {"stage": name}

        return run

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def overwrites(self) -> list[bool]:
        return [overwrite for _, overwrite in self.calls]


def chain(
    tmp_path: Path, fake: FakeStages, *, vocab_size: int = 100, corpus: Path | None = None
) -> list[pl.Stage]:
    corpus = corpus or tmp_path / "corpus.txt"

    def stage(name: str, deps: tuple[str, ...] = (), **config: object) -> pl.Stage:
        out = tmp_path / name
        config = {"out": str(out), **config}
        inputs = (corpus,) if name == "a" else ()
        return pl.Stage(
            name=name, out=out, config=config, run=fake.runner(name, out, config), deps=deps, inputs=inputs
        )

    return [stage("a"), stage("b", ("a",), size=vocab_size), stage("c", ("b",)), stage("d", ("a",))]


def actions(results: list[pl.StageResult]) -> dict[str, str]:
    return {r.name: r.action for r in results}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text("one line\nanother\n\nsecond document\nline\n\n")
    return path


def test_first_run_runs_everything_then_everything_is_skipped(tmp_path: Path, corpus: Path) -> None:
    fake = FakeStages()
    results = pl.run_stages(chain(tmp_path, fake))
    assert set(actions(results).values()) == {"run"}
    assert fake.names() == ["a", "b", "c", "d"]
    assert not any(fake.overwrites())
    assert [r.report for r in results] == [{"stage": name} for name in "abcd"]  # what run returned
    again = FakeStages()
    assert set(actions(pl.run_stages(chain(tmp_path, again))).values()) == {"skip"}
    assert again.calls == []
    assert (
        pl.read_marker(tmp_path / "b")["fingerprint"] == pl.run_stages(chain(tmp_path, again))[1].fingerprint
    )
    assert pl.read_marker(tmp_path / "b")["config"] == {"out": str(tmp_path / "b"), "size": 100}


def test_changed_option_reruns_that_stage_and_its_descendants_only(tmp_path: Path, corpus: Path) -> None:
    pl.run_stages(chain(tmp_path, FakeStages()))
    fake = FakeStages()
    results = pl.run_stages(chain(tmp_path, fake, vocab_size=200))
    assert actions(results) == {"a": "skip", "b": "rerun", "c": "rerun", "d": "skip"}
    assert fake.names() == ["b", "c"]
    assert all(fake.overwrites())
    assert pl.read_marker(tmp_path / "b")["overwrite"] is True
    assert set(actions(pl.run_stages(chain(tmp_path, FakeStages(), vocab_size=200))).values()) == {"skip"}


def test_changed_input_content_reruns_the_whole_chain(tmp_path: Path, corpus: Path) -> None:
    pl.run_stages(chain(tmp_path, FakeStages()))
    corpus.write_text(corpus.read_text() + "a third document\nwith two lines\n\n")
    assert set(actions(pl.run_stages(chain(tmp_path, FakeStages()))).values()) == {"rerun"}


def test_a_deleted_or_changed_output_file_reruns_its_stage(tmp_path: Path, corpus: Path) -> None:
    pl.run_stages(chain(tmp_path, FakeStages()))
    assert pl.read_marker(tmp_path / "b")["files"] == {
        "out.json": (tmp_path / "b" / "out.json").stat().st_size
    }
    (tmp_path / "b" / "out.json").unlink()  # e.g. a shard deleted by hand
    (tmp_path / "d" / "out.json").write_text("[]")  # or truncated
    fake = FakeStages()
    assert actions(pl.run_stages(chain(tmp_path, fake))) == {
        "a": "skip",
        "b": "rerun",
        "c": "skip",
        "d": "rerun",
    }
    assert fake.names() == ["b", "d"]  # same fingerprints: what depends on them is still up to date


def test_output_without_a_matching_record_is_rebuilt(tmp_path: Path, corpus: Path) -> None:
    pl.run_stages(chain(tmp_path, FakeStages()))
    (tmp_path / "c" / pl.MARKER).unlink()  # e.g. killed after the run, before the record
    record = json.loads((tmp_path / "d" / pl.MARKER).read_text())
    (tmp_path / "d" / pl.MARKER).write_text(json.dumps(record | {"fingerprint": "0" * 64}))
    assert actions(pl.run_stages(chain(tmp_path, FakeStages()))) == {
        "a": "skip",
        "b": "skip",
        "c": "rerun",
        "d": "rerun",
    }


def test_a_failed_stage_leaves_no_record_and_the_next_run_resumes_there(tmp_path: Path, corpus: Path) -> None:
    with pytest.raises(AlbertctlError, match="stage c failed: c failed") as info:
        pl.run_stages(chain(tmp_path, FakeStages(fail="c")))
    assert "finished stages are skipped" in str(info.value)
    assert not (tmp_path / "c").exists() and not (tmp_path / "d").exists()
    fake = FakeStages()
    results = pl.run_stages(chain(tmp_path, fake))
    assert actions(results) == {"a": "skip", "b": "skip", "c": "run", "d": "run"}


def test_force_and_dry_run(tmp_path: Path, corpus: Path) -> None:
    dry = FakeStages()
    results = pl.run_stages(chain(tmp_path, dry), dry_run=True)
    assert set(actions(results).values()) == {"run"} and all(r.report is None for r in results)
    assert dry.calls == [] and not (tmp_path / "a").exists()
    pl.run_stages(chain(tmp_path, FakeStages()))
    fake = FakeStages()
    assert actions(pl.run_stages(chain(tmp_path, fake), force=["b"]))["b"] == "rerun"
    assert fake.names() == ["b"]  # forcing does not change b's fingerprint, so c stays up to date
    with pytest.raises(AlbertctlError, match="--force x: no such stage"):
        pl.run_stages(chain(tmp_path, fake), force=["x"])


def test_dependencies_must_come_first(tmp_path: Path, corpus: Path) -> None:
    stages = chain(tmp_path, FakeStages())
    with pytest.raises(AlbertctlError, match="depends on"):
        pl.run_stages([stages[1], stages[0]])
    with pytest.raises(AlbertctlError, match="pipeline input .* does not exist"):
        pl.run_stages(chain(tmp_path, FakeStages(), corpus=tmp_path / "missing.txt"))


def test_directory_fingerprint_follows_content(tmp_path: Path) -> None:
    (tmp_path / "g" / "CoLA").mkdir(parents=True)
    (tmp_path / "g" / "CoLA" / "dev.tsv").write_text("x\t1\t\tA sentence.\n")
    before = pl.fingerprint_path(tmp_path / "g")
    assert pl.fingerprint_path(tmp_path / "g") == before
    (tmp_path / "g" / "CoLA" / "dev.tsv").write_text("x\t0\t*\tA sentence.\n")
    assert pl.fingerprint_path(tmp_path / "g") != before


def test_latest_checkpoint_and_the_finetune_stages_model(tmp_path: Path) -> None:
    for step in ("step-000010", "step-000200", "step-000030"):
        (tmp_path / "run" / "checkpoints" / step).mkdir(parents=True)
    # None is complete: the newest folder, by step number, so the stage given it says what it lacks.
    assert pl.latest_checkpoint(tmp_path / "run") == tmp_path / "run" / "checkpoints" / "step-000200"
    with pytest.raises(AlbertctlError, match="no checkpoints"):
        pl.latest_checkpoint(tmp_path)
    # The fine-tuning stages name the pretraining run dir; its newest complete checkpoint is found
    # (resolve_checkpoint) when the stage runs, after pretraining wrote it.
    stages = {
        s.name: s for s in pl.build_stages({"run": {"out": str(tmp_path / "o")}}, source_fingerprint="a")
    }
    assert stages["finetune-cola"].config["model"] == tmp_path / "o" / "pretrain"
    assert stages["baseline-cola"].config["model"] == tmp_path / "o" / "pretrain"


def test_table_keys_become_typed_config_fields_and_overrides() -> None:
    config = {
        "run": {"out": "x"},
        "vocab": {"vocab-size": 8000, "lower": True, "user-symbols": "( ) ."},
        "data": {"whole-word": False, "shard-size": 2},  # --shard-size is the field shard_size_mb
        "finetune": {"seeds": [1, 2]},
    }
    stages = {s.name: s for s in pl.build_stages(config, source_fingerprint="abc")}
    vocab = stages["vocab"].config["config"]
    assert (vocab.vocab_size, vocab.lower, vocab.user_symbols) == (8000, True, ("(", ")", "."))
    assert stages["data"].config["config"].whole_word is False
    assert stages["data"].config["config"].shard_size_mb == 2.0
    assert stages["finetune-cola"].config["config"].seeds == (1, 2)
    negated = pl.build_stages({"vocab": {"no-lower": True}}, source_fingerprint="abc")[1]
    assert negated.config["config"].lower is False
    merged = pl.apply_overrides(config, ["vocab.vocab-size=500", "pretrain.precision=bf16", 'run.out="x y"'])
    assert merged["vocab"]["vocab-size"] == 500 and merged["pretrain"] == {"precision": "bf16"}
    assert merged["run"] == {"out": "x y"} and config["vocab"]["vocab-size"] == 8000
    # A --set value that is not TOML is a string, parsed as the flag parses it.
    seeds = pl.apply_overrides(config, ["finetune.seeds=1,2,3"])
    assert seeds["finetune"]["seeds"] == "1,2,3"
    assert pl.build_stages(seeds, source_fingerprint="abc")[5].config["config"].seeds == (1, 2, 3)
    with pytest.raises(AlbertctlError, match="TABLE.KEY=VALUE"):
        pl.apply_overrides(config, ["vocab-size=3"])


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"vocabulary": {}}, "unknown table"),
        ({"inputs": {"corpora": []}}, "unknown \\[inputs\\] keys"),
        ({"vocab": {"out": "x"}}, "sets \\['out'\\], which the pipeline sets itself"),
        ({"pretrain": {"max-step": 3}}, "\\[pretrain\\] max-step: unknown key"),
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
    pl.validate_config({"vocab": {"lower": False, "no-map-quotes": True}})


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
    assert by_name["vocab"].config["config"].vocab_size == 900
    assert by_name["vocab"].config["inputs"] == [out / "demo-data" / "train.txt"]
    assert by_name["demo-data"].extra == {"source": "abc"}
    assert by_name["finetune-cola"].deps == ("demo-data", "pretrain")
    assert by_name["finetune-cola"].config["data_dir"] == out / "demo-data" / "glue"
    assert by_name["baseline-cola"].config["config"].random_init is True
    assert by_name["finetune-cola"].config["config"].random_init is False
    assert by_name["baseline-cola"].deps == ("demo-data", "pretrain")
    pretrain = by_name["pretrain"].config["config"]
    assert pretrain.data == (out / "data",) and pretrain.eval_data == (out / "eval-data",)
    assert pretrain.out == out / "pretrain" and not pretrain.overwrite
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
    assert stages["finetune-mrpc"].config["data_dir"] == glue
    assert stages["demo-data"].inputs == (tmp_path / "c.txt",) and stages["demo-data"].extra == {}


def test_the_fingerprint_is_the_resolved_config_not_its_spelling(tmp_path: Path) -> None:
    base = {"run": {"out": str(tmp_path / "run")}}

    def fingerprints(**tables: dict) -> dict[str, str]:
        stages = pl.build_stages({**base, **tables}, source_fingerprint="abc")
        return {r.name: r.fingerprint for r in pl.run_stages(stages, dry_run=True)}

    plain = fingerprints()
    # A key set to its default, an int for a float: the same config, the same fingerprints.
    assert fingerprints(data={"dupe-factor": 10}, finetune={"seeds": "1"}) == plain
    assert fingerprints(pretrain={"time-budget": 3}) == fingerprints(pretrain={"time-budget": 3.0})
    changed = fingerprints(data={"dupe-factor": 2})
    assert [name for name in plain if changed[name] != plain[name]] == [
        "data",
        "eval-data",
        "pretrain",
        "finetune-cola",
        "baseline-cola",
    ]
    assert not (tmp_path / "run").exists()


def finetune_results(task: str, metric: str, per_seed: dict[int, float]) -> dict:
    """``results.json`` as glue/finetune.py writes it (the keys the pipeline reads)."""
    values = list(per_seed.values())
    mean = sum(values) / len(values)
    seeds = [{"seed": k, "best": {"step": 3, "metrics": {metric: v}}} for k, v in per_seed.items()]
    entry = {"metrics": [metric], "best": {metric: {"mean": mean, "std": 0.0}}, "seeds": seeds}
    return {"model": "m", "tasks": {task: entry}, "glue": None}


def test_result_readers_read_what_the_stages_write(tmp_path: Path) -> None:
    (tmp_path / "pretrain").mkdir()
    lines = [
        {"step": 10, "loss": 3.0},
        {"step": 20, "split": "eval", "mlm_acc": 0.25, "sop_acc": 0.6},
        {"step": 30, "split": "train", "mlm_acc": 0.5, "sop_acc": 0.9},
    ]
    (tmp_path / "pretrain" / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    resolved = {"precision": "auto", "resolved_precision": "fp32", "resolved_device": "cpu"}
    (tmp_path / "pretrain" / "pretrain_config.json").write_text(json.dumps(resolved))
    report = pl.read_pretrain_report(tmp_path / "pretrain")
    assert report.eval == {"mlm_acc": 0.25, "sop_acc": 0.6} and report.train == {
        "mlm_acc": 0.5,
        "sop_acc": 0.9,
    }
    assert (report.final_step, report.precision, report.device) == (30, "fp32", "cpu")
    summary = pl.summarize_run(tmp_path, [pl.StageResult("pretrain", "skip", "f", 0.0, report)])
    assert summary["heldout"] == {"mlm_accuracy": 0.25, "sop_accuracy": 0.6}
    (tmp_path / "ft").mkdir()
    results = {"tasks": {"cola": {"metrics": ["mcc"], "best": {"mcc": {"mean": 0.31}}, "final": {}}}}
    (tmp_path / "ft" / "results.json").write_text(json.dumps(results))  # glue/finetune.py's layout
    assert pl.finetune_metric(pl.read_finetune_report(tmp_path / "ft"), "cola") == ("mcc", 0.31)
    assert pl.finetune_metric(pl.read_finetune_report(tmp_path / "ft"), "mrpc") is None
    assert pl.finetune_metric(None, "cola") is None
    # Another layout is not searched for a number: it is refused, naming the file.
    (tmp_path / "ft" / "results.json").write_text(json.dumps({"cola": {"best": {"mcc": 0.31}}}))
    with pytest.raises(AlbertctlError, match="is not a finetune glue results.json"):
        pl.read_finetune_report(tmp_path / "ft")
    with pytest.raises(AlbertctlError, match="does not exist"):
        pl.read_finetune_report(tmp_path / "missing")


def test_a_skipped_finetune_stage_reports_from_its_results_json(tmp_path: Path) -> None:
    from albertctl.glue.finetune import FinetuneReport

    calls = []

    def stage(name: str, per_seed: dict[int, float]) -> pl.Stage:
        out = tmp_path / name

        def run(overwrite: bool, hooks: pl.Hooks) -> FinetuneReport:
            calls.append(name)
            out.mkdir()
            results = finetune_results("cola", "mcc", per_seed)
            (out / "results.json").write_text(json.dumps(results))
            return FinetuneReport(out=out, results=results)

        return pl.Stage(
            name=name,
            out=out,
            config={"out": out},
            run=run,
            read=lambda: pl.read_finetune_report(out),
        )

    def chain() -> list[pl.Stage]:
        return [stage("finetune-cola", {1: 0.4, 2: 0.3}), stage("baseline-cola", {1: 0.1, 2: 0.1})]

    first = pl.run_stages(chain())
    assert calls == ["finetune-cola", "baseline-cola"]
    second = pl.run_stages(chain())
    assert calls == ["finetune-cola", "baseline-cola"] and {r.action for r in second} == {"skip"}
    assert [r.report for r in second] == [r.report for r in first]  # read back, equal
    summary = pl.summarize_run(tmp_path, second)
    assert summary["tasks"] == pl.summarize_run(tmp_path, first)["tasks"]
    (task,) = summary["tasks"]
    assert (task["task"], task["metric"]) == ("cola", "mcc")
    assert task["pretrained"] == pytest.approx(0.35) and task["scratch"] == pytest.approx(0.1)
    assert task["paired"]["seeds"] == [1, 2] and task["paired"]["gain"] == pytest.approx(0.25)


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
        ('[vocab]\nvocab-size = "big"\n', [], "[vocab] vocab-size: must be an integer, got 'big'"),
        ("[pretrain]\nmax-steps = 4.5\n", [], "[pretrain] max-steps: must be an integer, got 4.5"),
        ("", ["pretrain.max-steps=abc"], "[pretrain] max-steps: must be an integer, got 'abc'"),
        ("[vocab]\nvocab-size = 0\n", [], "[vocab] vocab-size: must be"),
        ("[data]\nmasked-lm-prob = 1.5\n", [], "[data] masked-lm-prob: must be in [0, 1], got 1.5"),
        ("[eval_data]\nmax-seq-length = 4\n", [], "[eval_data] max-seq-length: must be in [5, 512], got 4"),
        ("[data]\ndupe-factr = 2\n", [], "[data] dupe-factr: unknown key (the closest key is dupe-factor"),
        ("", ["data.workers=0"], "[data] workers: must be >= 1, got 0"),
        ('[finetune]\nseeds = "1,x"\n', [], "[finetune] seeds: --seeds '1,x' is not a comma list"),
        ("[finetune]\nlower = true\n", [], "[finetune] lower: unknown key"),
        (
            "[demo_data]\nheldout-percent = 90\n",
            [],
            "[demo_data] heldout-percent: must be in [5, 50], got 90",
        ),
        ('[pretrain]\noptimizer = "sgd"\n', [], "[pretrain] optimizer: must be lamb or adamw, got 'sgd'"),
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
    eval_config, data_config = stages["eval-data"].config["config"], stages["data"].config["config"]
    assert eval_config.dupe_factor == 1 and eval_config.max_seq_length == 128
    assert data_config.dupe_factor == 3 and data_config.max_seq_length == 128
    assert dataclasses.replace(eval_config, dupe_factor=3) == data_config  # nothing else differs
    corpus = tmp_path / "run" / "demo-data"
    assert stages["data"].config["inputs"] == [corpus / "train.txt"]
    assert stages["eval-data"].config["inputs"] == [corpus / "heldout.txt"]


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
    report = pl.read_finetune_report(tmp_path / "ft")
    assert pl.seed_metrics(report, "cola", "mcc") == {1: 0.2, 2: 0.25}
    assert pl.seed_metrics(report, "cola", "f1") == {}
    assert pl.seed_metrics(report, "mrpc", "mcc") == {}
    assert pl.seed_metrics(None, "cola", "mcc") == {}
