"""`albertctl pipeline CONFIG.toml`: the whole chain from one file, skipping what is up to date.

A pipeline is a list of :class:`Stage` objects. Each stage is one ``albertctl`` command (argv)
that writes one output directory. Before running a stage its fingerprint is computed:

    sha256(stage name, albertctl version, the argv (= the stage's resolved options),
           the upstream stages' fingerprints, the content sha256 of every external input)

and compared with ``OUT/<stage>/pipeline-stage.json``, which is written into the stage's output
once its command succeeded. Equal: the stage is skipped. Different, or no record: the command
runs again with ``--overwrite`` (the stage command keeps the old output until the new one is
complete). A missing output runs without ``--overwrite``. Because fingerprints chain, changing
the vocabulary options reruns vocab, data, pretraining and fine-tuning, but not the corpus.

The TOML file (see ``configs/demo.toml``) has a ``[run]`` table (``out``), an ``[inputs]`` table
(``corpus``, ``glue_dir``, ``tasks``, ``baseline``) and one table of command-line flags per stage
(``demo_data``, ``vocab``, ``data``, ``eval_data``, ``pretrain``, ``finetune``), written as the flag
names without ``--``: ``vocab-size = 8000``, ``lower = true`` (``--lower``), ``lower = false``
(``--no-lower``), a list repeats the flag. This module reads and writes only files; running a
command is the caller's ``run_argv`` callable (the CLI passes ``albertctl.cli.main``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from albertctl import __version__
from albertctl.errors import AlbertctlError
from albertctl.fsutil import read_json, read_utf8, sha256_file, sha256_json, write_json

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

MARKER = "pipeline-stage.json"
LATEST_CHECKPOINT = "@latest-checkpoint:"
"""argv prefix resolved at run time to the newest ``checkpoints/step-*`` under the path that follows."""

# The flags each stage's command gets from the pipeline itself; a TOML table may not set them.
_RESERVED: dict[str, frozenset[str]] = {
    "demo_data": frozenset({"corpus", "overwrite"}),
    "vocab": frozenset({"out", "overwrite"}),
    "data": frozenset({"vocab", "out", "overwrite"}),
    "eval_data": frozenset({"vocab", "out", "overwrite"}),
    "pretrain": frozenset({"data", "eval-data", "out", "overwrite", "resume"}),
    "finetune": frozenset({"task", "data-dir", "model", "out", "overwrite", "random-init"}),
}
_TABLES = frozenset({"run", "inputs"}) | frozenset(_RESERVED)
_INPUT_KEYS = frozenset({"corpus", "glue_dir", "tasks", "baseline"})
_RUN_KEYS = frozenset({"out"})


def _is_str_or_strs(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))


# "table.key" -> (check, what it must be), for the keys the pipeline reads itself.
_OWN_KEY_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "run.out": (lambda v: isinstance(v, str), "a path"),
    "inputs.corpus": (_is_str_or_strs, "a path or a list of paths"),
    "inputs.glue_dir": (lambda v: isinstance(v, str), "a path"),
    "inputs.tasks": (_is_str_or_strs, "a task name or a list of them"),
    "inputs.baseline": (lambda v: isinstance(v, bool), "true or false"),
}


@dataclass(frozen=True, kw_only=True)
class Stage:
    """One command of the chain and what its output depends on."""

    name: str
    """Short stage name, unique in the pipeline (``vocab``, ``finetune-cola``)."""
    argv: tuple[str, ...]
    """The ``albertctl`` command and flags, without ``--overwrite``."""
    out: Path
    """The directory the command writes; the fingerprint record goes inside it."""
    deps: tuple[str, ...] = ()
    """Upstream stage names; their fingerprints are part of this one."""
    inputs: tuple[Path, ...] = ()
    """External files or directories whose content is part of the fingerprint."""
    extra: Mapping[str, str] = field(default_factory=dict)
    """Other things the output depends on (e.g. the embedded corpus's source fingerprint)."""


@dataclass(frozen=True)
class StageResult:
    """What happened to one stage: ``skip`` (up to date), ``run`` (new) or ``rerun`` (stale)."""

    name: str
    action: str
    fingerprint: str
    seconds: float


# ----------------------------------------------------------------------------------------------
# Fingerprints and the skip/rerun decision (pure apart from reading files).


def fingerprint_path(path: Path) -> str:
    """Content sha256 of a file, or of a directory's sorted (relative path, file sha256) list."""
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return sha256_json([[p.relative_to(path).as_posix(), sha256_file(p)] for p in files])
    raise AlbertctlError(f"pipeline input {path} does not exist", hint="check the path in the [inputs] table")


def stage_fingerprint(stage: Stage, upstream: Mapping[str, str], cache: dict[Path, str] | None = None) -> str:
    """sha256 over the stage's options (argv), its upstream fingerprints and its inputs' content.

    ``cache`` maps input paths to their content fingerprints, so an input shared by several
    stages (a GLUE directory used by the fine-tuning and baseline stages) is hashed once per run.
    """
    cache = {} if cache is None else cache
    for path in stage.inputs:
        if path not in cache:
            cache[path] = fingerprint_path(path)
    return sha256_json(
        {
            "stage": stage.name,
            "albertctl": __version__,
            "argv": list(stage.argv),
            "upstream": {name: upstream[name] for name in stage.deps},
            "inputs": {str(p): cache[p] for p in stage.inputs},
            "extra": dict(stage.extra),
        }
    )


def read_marker(out: Path) -> dict[str, Any] | None:
    """The fingerprint record of a stage output, or None when absent or unreadable."""
    try:
        return json.loads((Path(out) / MARKER).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def output_files(out: Path) -> dict[str, int]:
    """Every file of a stage's output (relative path -> size), its record excepted."""
    out = Path(out)
    return {
        p.relative_to(out).as_posix(): p.stat().st_size
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != MARKER
    }


def decide(out: Path, fingerprint: str, *, force: bool = False) -> str:
    """``run`` when there is no output, ``skip`` when its record matches (same fingerprint, and
    every file the record lists still there with its size), else ``rerun``."""
    out = Path(out)
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return "run"
    marker = read_marker(out)
    if force or marker is None or marker.get("fingerprint") != fingerprint:
        return "rerun"
    recorded = marker.get("files")
    if isinstance(recorded, dict):  # records written before files were listed carry none
        for name, size in recorded.items():
            path = out / name
            if not path.is_file() or path.stat().st_size != size:
                return "rerun"  # a shard, checkpoint or result was deleted or changed
    return "skip"


def latest_checkpoint(run_dir: Path) -> Path:
    """The newest complete ``RUN_DIR/checkpoints/step-*``, by the rule resume and
    ``resolve_checkpoint`` follow (:func:`albertctl.model.checkpoint.complete_checkpoints`).

    With step folders but none complete yet, the newest of them: the stage given it then says
    what it lacks.
    """
    from albertctl.model.checkpoint import newest_checkpoint, step_folders

    newest = newest_checkpoint(run_dir)
    if newest is not None:
        return newest
    steps = step_folders(run_dir)
    if not steps:
        raise AlbertctlError(
            f"no checkpoints/step-* in {run_dir}", hint="the pretrain stage saved no checkpoint"
        )
    return steps[-1][1]


def resolve_argv(argv: Sequence[str]) -> list[str]:
    """Replace run-time placeholders (``@latest-checkpoint:DIR``) with real paths."""
    return [
        str(latest_checkpoint(Path(a[len(LATEST_CHECKPOINT) :]))) if a.startswith(LATEST_CHECKPOINT) else a
        for a in argv
    ]


def run_stages(
    stages: Sequence[Stage],
    run_argv: Callable[[list[str]], None],
    *,
    force: Sequence[str] = (),
    dry_run: bool = False,
    on_stage: Callable[[Stage, str], None] | None = None,
) -> list[StageResult]:
    """Run each stage in order unless its output is up to date; return what happened to each.

    ``run_argv`` runs one command and raises on failure. A stage named in ``force`` reruns even
    when up to date. With ``dry_run`` only the decisions are returned. ``on_stage(stage, action)``
    is called before each stage (for progress display).
    """
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise AlbertctlError(f"duplicate stage names in {names}")
    unknown = sorted(set(force) - set(names))
    if unknown:
        raise AlbertctlError(
            f"--force {', '.join(unknown)}: no such stage", hint=f"stages: {', '.join(names)}"
        )
    fingerprints: dict[str, str] = {}
    input_cache: dict[Path, str] = {}
    results = []
    for stage in stages:
        missing = [d for d in stage.deps if d not in fingerprints]
        if missing:
            raise AlbertctlError(f"stage {stage.name} depends on {missing}, which do not come before it")
        fingerprint = stage_fingerprint(stage, fingerprints, input_cache)
        fingerprints[stage.name] = fingerprint
        action = decide(stage.out, fingerprint, force=stage.name in force)
        if on_stage is not None:
            on_stage(stage, action)
        started = time.perf_counter()
        if action != "skip" and not dry_run:
            argv = resolve_argv(stage.argv) + (["--overwrite"] if action == "rerun" else [])
            run_argv(argv)
            if not Path(stage.out).is_dir():
                raise AlbertctlError(f"stage {stage.name} finished but wrote no {stage.out}")
            seconds = time.perf_counter() - started
            record = {
                "stage": stage.name,
                "fingerprint": fingerprint,
                "argv": argv,
                "seconds": round(seconds, 2),
                "files": output_files(Path(stage.out)),
            }
            write_json(Path(stage.out) / MARKER, record)
        results.append(StageResult(stage.name, action, fingerprint, round(time.perf_counter() - started, 2)))
    return results


# ----------------------------------------------------------------------------------------------
# The TOML file -> the chain's stages.


def load_config(path: Path) -> dict[str, Any]:
    """Read a pipeline TOML file, with errors that name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise AlbertctlError(
            f"pipeline config {path} does not exist", hint="see configs/demo.toml for an example"
        )
    try:
        config = tomllib.loads(read_utf8(path))
    except tomllib.TOMLDecodeError as exc:
        raise AlbertctlError(f"{path} is not valid TOML: {exc}") from exc
    return config


def apply_overrides(config: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``config`` with ``table.key=value`` overrides (value parsed as TOML, else a string)."""
    merged = {k: dict(v) if isinstance(v, dict) else v for k, v in config.items()}
    for item in overrides:
        key, sep, raw = item.partition("=")
        table, dot, name = key.strip().partition(".")
        if not sep or not dot or not name:
            raise AlbertctlError(
                f"--set {item!r} is not TABLE.KEY=VALUE", hint="e.g. --set pretrain.max-steps=100"
            )
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        merged.setdefault(table, {})[name] = value
    return merged


def flags_from_table(table: Mapping[str, Any]) -> list[str]:
    """TOML -> flags: ``k = v`` -> ``--k v``; true/false -> ``--k``/``--no-k``; a list repeats ``--k``."""
    argv: list[str] = []
    for key, value in table.items():
        flag = f"--{key}"
        if isinstance(value, bool):
            argv.append(flag if value else f"--no-{key}")
        elif isinstance(value, list):
            for item in value:
                argv += [flag, str(item)]
        else:
            argv += [flag, str(value)]
    return argv


def validate_config(config: Mapping[str, Any], known_flags: Mapping[str, set[str]] | None = None) -> None:
    """Unknown tables, input keys, reserved flags and (when ``known_flags`` is given) unknown flags."""
    for table, body in config.items():
        if table not in _TABLES:
            raise AlbertctlError(
                f"unknown table [{table}] in the pipeline config", hint=f"known: {sorted(_TABLES)}"
            )
        if not isinstance(body, dict):
            raise AlbertctlError(f"[{table}] must be a table, got {body!r}")
    unknown = set(config.get("inputs", {})) - _INPUT_KEYS
    if unknown:
        raise AlbertctlError(f"unknown [inputs] keys {sorted(unknown)}", hint=f"known: {sorted(_INPUT_KEYS)}")
    unknown = set(config.get("run", {})) - _RUN_KEYS
    if unknown:
        raise AlbertctlError(f"unknown [run] keys {sorted(unknown)}", hint=f"known: {sorted(_RUN_KEYS)}")
    # Types of the keys the pipeline reads itself (a stage's flags are checked by its command).
    for key, (check, expected) in _OWN_KEY_TYPES.items():
        table, name = key.split(".")
        body = config.get(table, {})
        if name in body and not check(body[name]):
            raise AlbertctlError(
                f"{key} must be {expected}, got {body[name]!r}", hint=f"fix {key} in the pipeline config"
            )
    # Values whose meaning only the stage's command knows, checked here so no stage runs first.
    tasks = config.get("inputs", {}).get("tasks")
    if tasks is not None:
        from albertctl.glue.tasks import parse_tasks

        parse_tasks(",".join([tasks] if isinstance(tasks, str) else tasks))
    model = config.get("pretrain", {}).get("model")
    if model is not None:
        from albertctl.model.config import get_config

        get_config(str(model))
    for table, reserved in _RESERVED.items():
        body = config.get(table, {})
        clash = sorted(set(body) & reserved)
        if clash:
            raise AlbertctlError(
                f"[{table}] sets {clash}, which the pipeline sets itself", hint="remove those keys"
            )
        if known_flags is not None and table in known_flags:
            bad = sorted(
                k for k in body if k not in known_flags[table] and f"no-{k}" not in known_flags[table]
            )
            if bad:
                raise AlbertctlError(
                    f"[{table}] has unknown flags {bad}",
                    hint=f"that command accepts: {', '.join(sorted(known_flags[table] - reserved))}",
                )


def _as_paths(value: Any) -> list[Path]:
    if value in (None, "", []):
        return []
    return [Path(v) for v in (value if isinstance(value, list) else [value])]


def build_stages(config: Mapping[str, Any], *, source_fingerprint: str = "") -> list[Stage]:
    """The chain's stages for a validated config (paths relative to the working directory).

    demo-data -> vocab -> data + eval-data -> pretrain -> finetune-TASK (+ baseline-TASK, the
    same fine-tuning from a randomly initialised model of the same architecture).
    """
    out = Path(config.get("run", {}).get("out", "pipeline-out"))
    inputs = config.get("inputs", {})
    corpus = _as_paths(inputs.get("corpus"))
    glue = _as_paths(inputs.get("glue_dir"))
    tasks = inputs.get("tasks", ["cola"])
    tasks = [tasks] if isinstance(tasks, str) else list(tasks)

    def table(name: str) -> list[str]:
        return flags_from_table(config.get(name, {}))

    corpus_dir = out / "demo-data"
    stages = [
        Stage(
            name="demo-data",
            argv=(
                "demo-data",
                str(corpus_dir),
                *[a for p in corpus for a in ("--corpus", str(p))],
                *table("demo_data"),
            ),
            out=corpus_dir,
            inputs=tuple(corpus),
            extra={} if corpus else {"source": source_fingerprint},
        ),
        Stage(
            name="vocab",
            argv=("build-vocab", str(corpus_dir / "train.txt"), "--out", str(out / "vocab"), *table("vocab")),
            out=out / "vocab",
            deps=("demo-data",),
        ),
    ]
    for name, text, flags in (
        ("data", "train.txt", table("data")),
        # [eval_data] overrides [data] key by key, so each flag appears once in the command.
        (
            "eval-data",
            "heldout.txt",
            flags_from_table({**config.get("data", {}), **config.get("eval_data", {})}),
        ),
    ):
        stages.append(
            Stage(
                name=name,
                argv=(
                    "make-data",
                    str(corpus_dir / text),
                    "--vocab",
                    str(out / "vocab"),
                    "--out",
                    str(out / name),
                    *flags,
                ),
                out=out / name,
                deps=("demo-data", "vocab"),
            )
        )
    stages.append(
        Stage(
            name="pretrain",
            argv=(
                "pretrain",
                "--data",
                str(out / "data"),
                "--eval-data",
                str(out / "eval-data"),
                "--out",
                str(out / "pretrain"),
                *table("pretrain"),
            ),
            out=out / "pretrain",
            deps=("data", "eval-data"),
        )
    )
    glue_dir = glue[0] if glue else corpus_dir / "glue"
    glue_deps: tuple[str, ...] = () if glue else ("demo-data",)
    model = LATEST_CHECKPOINT + str(out / "pretrain")
    for task in tasks:
        # The baseline fine-tunes the same architecture and tokenizer from fresh weights
        # (--random-init), with the same recipe: the gap between the two is what pretraining bought.
        runs = [("finetune", ())]
        if inputs.get("baseline", True):
            runs.append(("baseline", ("--random-init",)))
        for kind, extra_flags in runs:
            stages.append(
                Stage(
                    name=f"{kind}-{task}",
                    argv=(
                        "finetune", "glue", "--task", task, "--data-dir", str(glue_dir), "--model", model,
                        "--out", str(out / f"{kind}-{task}"), *extra_flags, *table("finetune"),
                    ),
                    out=out / f"{kind}-{task}",
                    deps=(*glue_deps, "pretrain"),
                    inputs=tuple(glue),
                )
            )  # fmt: skip
    return stages


# ----------------------------------------------------------------------------------------------
# The results a user wants to see, read back from the stages' outputs.


def read_heldout_metrics(run_dir: Path) -> dict[str, float]:
    """The last held-out MLM and SOP accuracy of a pretraining run ({} when it evaluated none):
    the ``eval`` records of ``RUN_DIR/metrics.jsonl`` as :mod:`albertctl.train.metrics` writes them."""
    from albertctl.train.metrics import read_metrics

    evals = [r for r in read_metrics(Path(run_dir)) if r.get("split") == "eval"]
    if not evals:
        return {}
    last = evals[-1]
    return {"mlm_accuracy": float(last["mlm_acc"]), "sop_accuracy": float(last["sop_acc"])}


def read_finetune_metric(ft_dir: Path, task: str) -> tuple[str, float] | None:
    """``(metric, best dev value)`` from ``FT_DIR/results.json`` (mean over seeds), or None if absent.

    The layout glue/finetune.py writes: ``tasks.<task>.best.<metric>.mean``, with
    ``tasks.<task>.metrics`` naming the metrics in order; the first is the task's headline metric
    (CoLA: MCC, MRPC: F1).
    """
    from albertctl.glue.evaluate import RESULTS

    path = Path(ft_dir) / RESULTS
    if not path.is_file():
        return None
    entry = read_json(path).get("tasks", {}).get(task)
    if not entry:
        return None
    name = entry["metrics"][0]
    return name, float(entry["best"][name]["mean"])


def read_seed_metrics(ft_dir: Path, task: str, metric: str) -> dict[int, float]:
    """``{seed: best dev value of metric}`` from ``FT_DIR/results.json`` ({} when absent)."""
    from albertctl.glue.evaluate import RESULTS

    path = Path(ft_dir) / RESULTS
    if not path.is_file():
        return {}
    seeds = read_json(path).get("tasks", {}).get(task, {}).get("seeds", [])
    return {
        int(run["seed"]): float(run["best"]["metrics"][metric])
        for run in seeds
        if metric in run.get("best", {}).get("metrics", {})
    }


# A gain is called clear when it is at least this many standard errors of the paired difference.
CLEAR_GAIN_SE = 3.0


def paired_gain(pretrained: Mapping[int, float], scratch: Mapping[int, float]) -> dict[str, Any]:
    """Mean ± sample std per side and the gain paired by seed ± its standard error.

    Only seeds run on both sides count. ``se`` is the sample std of the per-seed differences over
    the square root of their number (None with one seed); ``clear`` says the gain is at least
    ``CLEAR_GAIN_SE`` standard errors above zero.
    """
    seeds = sorted(set(pretrained) & set(scratch))
    if not seeds:
        return {"seeds": []}

    def mean_std(values: list[float]) -> tuple[float, float | None]:
        mean = sum(values) / len(values)
        if len(values) < 2:
            return mean, None
        return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))

    pre_mean, pre_std = mean_std([pretrained[k] for k in seeds])
    scratch_mean, scratch_std = mean_std([scratch[k] for k in seeds])
    gain, diff_std = mean_std([pretrained[k] - scratch[k] for k in seeds])
    se = None if diff_std is None else diff_std / math.sqrt(len(seeds))
    if se is None:
        clear = False
    elif se == 0:
        clear = gain > 0
    else:
        clear = gain >= CLEAR_GAIN_SE * se
    return {
        "seeds": seeds,
        "pretrained_mean": pre_mean,
        "pretrained_std": pre_std,
        "scratch_mean": scratch_mean,
        "scratch_std": scratch_std,
        "gain": gain,
        "gain_se": se,
        "clear": clear,
    }


def summarize_run(out: Path, stages: Sequence[Stage]) -> dict[str, Any]:
    """What the results table shows, read back from what the stages wrote.

    ``corpus`` (sizes from demo-data's manifest), ``heldout`` (the last held-out MLM/SOP accuracy
    of pretraining), ``tasks`` (per task: the headline dev metric of the pretrained model and of
    the from-scratch baseline, best checkpoint, mean over seeds), ``next`` (commands to try).
    """
    out = Path(out)
    corpus: dict[str, Any] = {}
    manifest = out / "demo-data" / "manifest.json"
    if manifest.is_file():
        data = read_json(manifest)
        corpus = {
            "source": data["source"],
            "train": data["train"],
            "heldout": data["heldout"],
            "task": data["task"],
        }
    tasks = []
    for stage in stages:
        if stage.name.startswith("finetune-"):
            task = stage.name.removeprefix("finetune-")
            pretrained = read_finetune_metric(out / f"finetune-{task}", task)
            scratch = read_finetune_metric(out / f"baseline-{task}", task)
            metric = (pretrained or scratch or ("?", None))[0]
            tasks.append(
                {
                    "task": task,
                    "metric": metric,
                    "pretrained": pretrained[1] if pretrained else None,
                    "scratch": scratch[1] if scratch else None,
                    "paired": paired_gain(
                        read_seed_metrics(out / f"finetune-{task}", task, metric),
                        read_seed_metrics(out / f"baseline-{task}", task, metric),
                    ),
                }
            )
    checkpoint = next(iter(sorted((out / "pretrain" / "checkpoints").glob("step-*"))[-1:]), None)
    ckpt = str(checkpoint) if checkpoint else str(out / "pretrain" / "checkpoints" / "step-N")
    nxt = [
        f"albertctl inspect-data {out / 'data'}",
        f"albertctl plot {out / 'pretrain'}",
        f"albertctl export hf {ckpt} {out / 'hf'}",
        f"albertctl finetune glue --task mrpc --data-dir GLUE_DIR --model {ckpt} --out {out / 'mrpc'}",
        f"albertctl pipeline configs/demo.toml --corpus YOUR_TEXT.txt --out {out.parent / 'my-run'}",
    ]
    return {
        "out": str(out),
        "corpus": corpus,
        "heldout": read_heldout_metrics(out / "pretrain"),
        "tasks": tasks,
        "next": nxt,
    }


def write_summary(out: Path, summary: Mapping[str, Any]) -> None:
    """``OUT/results.json``: the summary table as JSON."""
    write_json(Path(out) / "results.json", dict(summary))
