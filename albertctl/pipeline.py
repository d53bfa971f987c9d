"""`albertctl pipeline CONFIG.toml`: the whole chain from one file, skipping what is up to date.

A pipeline is a list of :class:`Stage` objects. Each stage holds its resolved, typed settings
(``config``: the stage's config dataclass and its job arguments -- inputs, output, vocabulary)
and a ``run`` callable that calls the library entry point in this process (``build_demo_data``,
``build_vocab``, ``build_pretraining_data``, ``pretrain``, ``finetune_glue``) and returns its
report. Before running a stage its fingerprint is computed:

    sha256(stage name, albertctl version, the resolved config as JSON (dataclasses.asdict, paths
           as strings), the upstream stages' fingerprints, the content sha256 of every input)

and compared with ``OUT/<stage>/pipeline-stage.json``, which is written into the stage's output
once its run succeeded. Equal, and every file it lists still there at its size: the stage is
skipped and its report is read back from the files its library code wrote (:func:`read_demo_report`,
:func:`read_pretrain_report`, :func:`read_finetune_report`). Different, or no record: the stage
runs again with ``overwrite=True`` (the library keeps the old output until the new one is
complete). Because fingerprints chain, changing the vocabulary settings reruns vocab, data,
pretraining and fine-tuning, but not the corpus.

The TOML file (see ``configs/demo.toml``) has a ``[run]`` table (``out``), an ``[inputs]`` table
(``corpus``, ``glue_dir``, ``tasks``, ``baseline``) and one table per stage (``demo_data``,
``vocab``, ``data``, ``eval_data``, ``pretrain``, ``finetune``) whose keys are the stage command's
flag names without ``--`` (``vocab-size = 8000``, ``lower = false``): each key is mapped to its
config field through :func:`albertctl.settings.flag_name` and converted to the field's type when
the stages are built, so an unknown key, a wrong type or an out-of-range value is one error naming
the table and key before the first stage runs. This module renders nothing: progress goes to the
caller's :class:`Hooks`.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import math
import re
import sys
import time
import types
import typing
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

# The keys each stage gets from the pipeline itself; a TOML table may not set them.
_RESERVED: dict[str, frozenset[str]] = {
    "demo_data": frozenset({"corpus", "overwrite"}),
    "vocab": frozenset({"inputs", "out", "overwrite"}),
    "data": frozenset({"inputs", "vocab", "out", "overwrite"}),
    "eval_data": frozenset({"inputs", "vocab", "out", "overwrite"}),
    "pretrain": frozenset({"data", "eval-data", "out", "overwrite", "resume"}),
    "finetune": frozenset({"task", "data-dir", "model", "out", "overwrite", "random-init"}),
}
_TABLES = frozenset({"run", "inputs"}) | frozenset(_RESERVED)
_INPUT_KEYS = frozenset({"corpus", "glue_dir", "tasks", "baseline"})
_RUN_KEYS = frozenset({"out"})
_PIPELINE_SETS = frozenset({"data", "eval_data", "out", "overwrite", "resume"})
_FIX = "fix that key in the pipeline config (or its --set); no stage has run"


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


@dataclass(frozen=True)
class Hooks:
    """Where a running stage reports progress (the CLI draws it); each is optional."""

    on_event: Callable[[Any], None] | None = None
    """Pretraining's :class:`~albertctl.train.pretrain.TrainEvent` stream."""
    log: Callable[[str], None] | None = None
    """One line of progress text from the other stages (reading, training, a dev evaluation)."""


@dataclass(frozen=True, kw_only=True)
class Stage:
    """One step of the chain: its resolved settings, how to run it, and what its output depends on."""

    name: str
    """Short stage name, unique in the pipeline (``vocab``, ``finetune-cola``)."""
    out: Path
    """The directory the stage writes; the fingerprint record goes inside it."""
    config: Mapping[str, Any]
    """The resolved settings: ``config`` (the stage's config dataclass) and the job arguments
    (inputs, output, vocabulary, ...). All of it is part of the fingerprint."""
    run: Callable[[bool, Hooks], Any]
    """``run(overwrite, hooks)``: call the library entry point in-process; return its report."""
    read: Callable[[], Any] | None = None
    """The report of an up-to-date output, read back from its files (None: not needed)."""
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
    report: Any = None
    """The stage's report: returned by its run, or read back when skipped (None in a dry run)."""


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


def as_json(value: Any) -> Any:
    """A resolved config as JSON: dataclasses via ``asdict``, paths as strings, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return as_json(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def stage_fingerprint(stage: Stage, upstream: Mapping[str, str], cache: dict[Path, str] | None = None) -> str:
    """sha256 over the stage's resolved config, its upstream fingerprints and its inputs' content.

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
            "config": as_json(stage.config),
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


def run_stages(
    stages: Sequence[Stage],
    *,
    force: Sequence[str] = (),
    dry_run: bool = False,
    hooks: Hooks | None = None,
    on_stage: Callable[[Stage, str], None] | None = None,
    on_done: Callable[[Stage, Any], None] | None = None,
) -> list[StageResult]:
    """Run each stage in order unless its output is up to date; return what happened to each.

    A stage named in ``force`` reruns even when up to date. With ``dry_run`` only the decisions
    are returned. ``on_stage(stage, action)`` is called before each stage and ``on_done(stage,
    report)`` after each one that ran (for progress display); ``hooks`` go to the running stage.
    A stage's failure is re-raised naming the stage; it leaves no record, so the next run
    resumes there.
    """
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise AlbertctlError(f"duplicate stage names in {names}")
    unknown = sorted(set(force) - set(names))
    if unknown:
        raise AlbertctlError(
            f"--force {', '.join(unknown)}: no such stage", hint=f"stages: {', '.join(names)}"
        )
    hooks = hooks or Hooks()
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
        report = None
        if dry_run:
            pass
        elif action == "skip":
            report = stage.read() if stage.read is not None else None
        else:
            overwrite = action == "rerun"
            try:
                report = stage.run(overwrite, hooks)
            except AlbertctlError as exc:
                then = "fix it and rerun the same pipeline command: finished stages are skipped"
                raise AlbertctlError(
                    f"stage {stage.name} failed: {exc.message}",
                    hint=f"{exc.hint}; {then}" if exc.hint else then,
                ) from exc
            if not Path(stage.out).is_dir():
                raise AlbertctlError(f"stage {stage.name} finished but wrote no {stage.out}")
            record = {
                "stage": stage.name,
                "fingerprint": fingerprint,
                "config": as_json(stage.config),
                "overwrite": overwrite,
                "seconds": round(time.perf_counter() - started, 2),
                "files": output_files(Path(stage.out)),
            }
            write_json(Path(stage.out) / MARKER, record)
            if on_done is not None:
                on_done(stage, report)
        seconds = round(time.perf_counter() - started, 2)
        results.append(StageResult(stage.name, action, fingerprint, seconds, report))
    return results


# ----------------------------------------------------------------------------------------------
# The TOML file -> typed configs -> the chain's stages.


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


@dataclass(frozen=True)
class _Key:
    """What one TOML key of a stage table sets: a config field, or a job argument (``job``)."""

    name: str
    """The field (or job argument) name."""
    type: Any
    """Its annotation: the TOML value is converted to it."""
    parse: Callable[[Any], Any] | None = None
    """Turns the flag's value into the field's (``seeds = "1,2,3"``); it takes a string, or a
    list of them when ``many`` (``user-symbols = "( ) ."``)."""
    many: bool = False
    job: bool = False
    """A job argument of the stage (``workers``, ``recipe``), not a config field."""
    minimum: float | None = None
    """The least value a job argument takes (config fields check their own ranges)."""


def _hints(cls: type) -> dict[str, Any]:
    module = sys.modules.get(cls.__module__)
    return typing.get_type_hints(cls, globalns=vars(module) if module else None)


def _field_keys(cls: type, table: str, only: Sequence[str] | None = None) -> dict[str, _Key]:
    """TOML key (the field's flag name without ``--``) -> field, for the fields a table may set."""
    from albertctl.settings import cli_fields, flag_name

    hints = _hints(cls)
    keys = {}
    for f in cli_fields(cls):
        key = flag_name(f)[2:]
        if key in _RESERVED[table] or (only is not None and f.name not in only):
            continue
        many = typing.get_origin(f.metadata.get("cli_type", str)) is list
        keys[key] = _Key(f.name, hints[f.name], f.metadata.get("parse"), many=many)
    return keys


def _split_commas(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


@functools.cache
def table_keys() -> dict[str, dict[str, _Key]]:
    """Per stage table, every key it accepts and what it sets (flag names of the stage command)."""
    from albertctl.data.config import MakeDataConfig
    from albertctl.demo import DemoDataConfig
    from albertctl.glue.config import FinetuneConfig
    from albertctl.train.pretrain_config import PretrainConfig
    from albertctl.vocab.build import BuildVocabConfig

    vocab = _field_keys(BuildVocabConfig, "vocab")
    data = {**_field_keys(MakeDataConfig, "data"), "workers": _Key("workers", int, job=True, minimum=1)}
    # demo-data's flags: --max-mb is max_bytes in MB, --packages a comma list.
    demo = {
        **_field_keys(
            DemoDataConfig,
            "demo_data",
            only=("heldout_percent", "max_train_examples", "max_dev_examples", "corruption", "seed"),
        ),
        "max-mb": _Key("max_bytes", float, minimum=0.01),
        "packages": _Key("packages", tuple[str, ...], parse=_split_commas),
    }
    pretrain = {
        **_field_keys(PretrainConfig, "pretrain"),
        "recipe": _Key("recipe", str, job=True),
        "config": _Key("config", Path, job=True),
    }
    finetune = {
        **_field_keys(FinetuneConfig, "finetune"),
        "vocab": _Key("vocab", Path, job=True),
        "allow-vocab-mismatch": _Key("allow_vocab_mismatch", bool, job=True),
    }
    return {
        "demo_data": demo,
        "vocab": vocab,
        "data": data,
        "eval_data": data,
        "pretrain": pretrain,
        "finetune": finetune,
    }


def _accepts(known: set[str] | Mapping[str, Any], key: str) -> bool:
    """A table key is known, or is ``no-KEY`` of a known key (``no-lower = true``)."""
    return key in known or (key.startswith("no-") and key[3:] in known) or f"no-{key}" in known


def validate_config(config: Mapping[str, Any], known_flags: Mapping[str, Any] | None = None) -> None:
    """Unknown tables, input keys, reserved keys and unknown stage keys (those of ``known_flags``
    when given, else :func:`table_keys`). Values are checked by :func:`build_stages`."""
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
    # Types of the keys the pipeline reads itself.
    for key, (check, expected) in _OWN_KEY_TYPES.items():
        table, name = key.split(".")
        body = config.get(table, {})
        if name in body and not check(body[name]):
            raise AlbertctlError(
                f"{key} must be {expected}, got {body[name]!r}", hint=f"fix {key} in the pipeline config"
            )
    tasks = config.get("inputs", {}).get("tasks")
    if tasks is not None:
        _task_names(tasks)
    model = config.get("pretrain", {}).get("model")
    if model is not None:
        from albertctl.model.config import get_config

        get_config(str(model))
    known_keys = table_keys() if known_flags is None else known_flags
    for table, reserved in _RESERVED.items():
        body = config.get(table, {})
        clash = sorted(set(body) & reserved)
        if clash:
            raise AlbertctlError(
                f"[{table}] sets {clash}, which the pipeline sets itself", hint="remove those keys"
            )
        if table not in known_keys:
            continue
        known = known_keys[table]
        for key in body:
            if not _accepts(known, key):
                close = difflib.get_close_matches(key, list(known), n=1)
                hint = (
                    f"the closest key is {close[0]}"
                    if close
                    else f"[{table}] keys: {', '.join(sorted(known))}"
                )
                raise AlbertctlError(f"[{table}] {key}: unknown key", hint=f"{hint}; no stage has run")


def _task_names(tasks: Any) -> list[str]:
    """``inputs.tasks`` -> task names (``all`` expanded, aliases resolved, repeats dropped)."""
    from albertctl.glue.tasks import parse_tasks

    specs = parse_tasks(",".join([tasks] if isinstance(tasks, str) else tasks))
    return list(dict.fromkeys(spec.name for spec in specs))


def _bad(where: str, expected: str, value: Any) -> AlbertctlError:
    return AlbertctlError(f"{where}: must be {expected}, got {value!r}", hint=_FIX)


def _convert(where: str, value: Any, tp: Any, key: _Key | None = None) -> Any:
    """A TOML value as the field type ``tp`` wants it, or one error naming ``where`` (``[t] key``)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):  # X | None: TOML has no None
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = inner[0] if len(inner) == 1 else Any
    if key is not None and key.parse is not None and (isinstance(value, str) or key.many):
        # What the flag's own parser takes: one string, or (a repeatable flag) a list of them.
        if key.many:
            value = [value] if isinstance(value, str) else value
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise _bad(where, "a string or a list of strings", value)
        try:
            return key.parse(value)
        except AlbertctlError as exc:
            raise AlbertctlError(f"{where}: {exc.message}", hint=_FIX) from None
    origin = typing.get_origin(tp)
    if origin is tuple:
        item = typing.get_args(tp)[0]
        return tuple(_convert(where, v, item) for v in (value if isinstance(value, list) else [value]))
    if origin is typing.Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise _bad(where, "one of " + ", ".join(map(str, choices)), value)
        return value
    if tp is bool and not isinstance(value, bool):
        raise _bad(where, "true or false", value)
    if tp is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise _bad(where, "an integer", value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _bad(where, "a number", value)
        return float(value)
    if tp is str and not isinstance(value, str):
        raise _bad(where, "a string", value)
    if tp is Path:
        if not isinstance(value, str) or not value:
            raise _bad(where, "a path", value)
        return Path(value)
    return value


def _table_values(
    table: str, body: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """(config field values, job arguments, field -> its key) of one stage table, converted."""
    keys = table_keys()[table]
    fields: dict[str, Any] = {}
    job: dict[str, Any] = {}
    key_of: dict[str, str] = {}
    for key, value in body.items():
        negated = key not in keys and key.startswith("no-")
        spec = keys[key[3:] if negated else key]
        where = f"[{table}] {key}"
        converted = _convert(where, value, spec.type, spec)
        if spec.minimum is not None and not converted >= spec.minimum:
            raise _bad(where, f">= {spec.minimum:g}", value)
        if negated:
            if spec.type is not bool:
                raise AlbertctlError(
                    f"[{table}] {key}: unknown key", hint=f"{key[3:]} is not true/false; {_FIX}"
                )
            converted = not converted
        (job if spec.job else fields)[spec.name] = converted
        key_of[spec.name] = key
    return fields, job, key_of


_FIELD_MESSAGE = re.compile(r"(\w+):? (must .*)", re.S)


def _config_error(table: str, exc: AlbertctlError, key_of: Mapping[str, str]) -> AlbertctlError:
    """A config's own check (``max_steps must be >= 1, got 0``) as ``[pretrain] max-steps: must ...``."""
    match = _FIELD_MESSAGE.fullmatch(exc.message)
    if match and match.group(1) in key_of:
        message = f"[{table}] {key_of[match.group(1)]}: {match.group(2)}"
    elif match:
        message = f"[{table}] {match.group(1).replace('_', '-')}: {match.group(2)}"
    else:
        message = f"[{table}] {exc.message}"
    return AlbertctlError(message, hint=f"{exc.hint}; {_FIX}" if exc.hint else _FIX)


def _make(table: str, cls: Callable[..., Any], values: Mapping[str, Any], key_of: Mapping[str, str]) -> Any:
    try:
        return cls(**values)
    except AlbertctlError as exc:
        raise _config_error(table, exc, key_of) from None


def _as_paths(value: Any) -> list[Path]:
    if value in (None, "", []):
        return []
    return [Path(v) for v in (value if isinstance(value, list) else [value])]


def build_stages(config: Mapping[str, Any], *, source_fingerprint: str | None = None) -> list[Stage]:
    """The chain's stages for a config (paths relative to the working directory), every stage's
    settings resolved and checked: a bad key or value fails here, before any stage runs.

    demo-data -> vocab -> data + eval-data -> pretrain -> finetune-TASK (+ baseline-TASK, the
    same fine-tuning from a randomly initialised model of the same architecture).
    ``source_fingerprint`` stands for the embedded corpus's sources (default: computed from
    ``[demo_data] packages``).
    """
    from albertctl.data.config import MakeDataConfig
    from albertctl.demo import DemoDataConfig
    from albertctl.demo import source_fingerprint as embedded_fingerprint
    from albertctl.glue.config import FinetuneConfig
    from albertctl.train.pretrain_config import read_toml_config, resolve_pretrain_config
    from albertctl.vocab.build import BuildVocabConfig

    validate_config(config)
    out = Path(config.get("run", {}).get("out", "pipeline-out"))
    inputs = config.get("inputs", {})
    corpus = _as_paths(inputs.get("corpus"))
    glue = _as_paths(inputs.get("glue_dir"))
    tasks = _task_names(inputs.get("tasks", ["cola"]))
    corpus_dir = out / "demo-data"

    fields, _, key_of = _table_values("demo_data", config.get("demo_data", {}))
    if "max_bytes" in fields:  # --max-mb: MB of text
        if not math.isfinite(fields["max_bytes"]):
            raise _bad("[demo_data] max-mb", "a finite number", fields["max_bytes"])
        fields["max_bytes"] = int(fields["max_bytes"] * 1e6)
    demo_config = _make("demo_data", DemoDataConfig, fields, key_of)
    stages = [
        Stage(
            name="demo-data",
            out=corpus_dir,
            config={"config": demo_config, "corpus": corpus, "out": corpus_dir},
            run=functools.partial(_run_demo_data, demo_config, corpus, corpus_dir),
            read=functools.partial(read_demo_report, corpus_dir),
            inputs=tuple(corpus),
            # The embedded corpus's source fingerprint is set below, once every config is checked.
        )
    ]

    fields, _, key_of = _table_values("vocab", config.get("vocab", {}))
    vocab_config = _make("vocab", BuildVocabConfig, fields, key_of)
    train_txt = corpus_dir / "train.txt"
    stages.append(
        Stage(
            name="vocab",
            out=out / "vocab",
            config={"config": vocab_config, "inputs": [train_txt], "out": out / "vocab"},
            run=functools.partial(_run_vocab, vocab_config, train_txt, out / "vocab"),
            deps=("demo-data",),
        )
    )

    # [eval_data] overrides [data] key by key.
    data_fields, data_job, data_keys = _table_values("data", config.get("data", {}))
    eval_fields, eval_job, eval_keys = _table_values("eval_data", config.get("eval_data", {}))
    for name, text, table, values, job, key_of in (
        ("data", "train.txt", "data", data_fields, data_job, data_keys),
        (
            "eval-data",
            "heldout.txt",
            "eval_data",
            {**data_fields, **eval_fields},
            {**data_job, **eval_job},
            {**data_keys, **eval_keys},
        ),
    ):
        data_config = _make(table, MakeDataConfig, values, key_of)
        stages.append(
            Stage(
                name=name,
                out=out / name,
                config={
                    "config": data_config,
                    "inputs": [corpus_dir / text],
                    "vocab": out / "vocab",
                    "out": out / name,
                },
                # workers only changes the speed, not the bytes: not part of the fingerprint.
                run=functools.partial(
                    _run_make_data,
                    data_config,
                    corpus_dir / text,
                    out / "vocab",
                    out / name,
                    int(job.get("workers", 1)),
                ),
                deps=("demo-data", "vocab"),
            )
        )

    fields, job, key_of = _table_values("pretrain", config.get("pretrain", {}))
    # A pretrain --config TOML: its values under the table's (the run's own paths stay the pipeline's).
    file_values = read_toml_config(job["config"]) if "config" in job else {}
    file_values = {k: v for k, v in file_values.items() if k not in _PIPELINE_SETS}
    flags = {
        **fields,
        "data": (out / "data",),
        "eval_data": (out / "eval-data",),
        "out": out / "pretrain",
        "recipe": job.get("recipe"),
    }
    try:
        pretrain_config = resolve_pretrain_config(flags, file_values)
    except AlbertctlError as exc:
        raise _config_error("pretrain", exc, key_of) from None
    model_file = Path(pretrain_config.model)
    stages.append(
        Stage(
            name="pretrain",
            out=out / "pretrain",
            config={"config": pretrain_config},
            run=functools.partial(_run_pretrain, pretrain_config),
            read=functools.partial(read_pretrain_report, out / "pretrain"),
            deps=("data", "eval-data"),
            # A model config .json is read when pretraining starts: its content counts.
            inputs=(model_file,) if model_file.suffix == ".json" else (),
        )
    )

    fields, job, key_of = _table_values("finetune", config.get("finetune", {}))
    finetune_config = _make("finetune", FinetuneConfig, fields, key_of)
    glue_dir = glue[0] if glue else corpus_dir / "glue"
    glue_deps: tuple[str, ...] = () if glue else ("demo-data",)
    for task in tasks:
        # The baseline fine-tunes the same architecture and tokenizer from fresh weights
        # (random_init), with the same recipe: the gap between the two is what pretraining bought.
        runs = [("finetune", finetune_config)]
        if inputs.get("baseline", True):
            runs.append(("baseline", dataclasses.replace(finetune_config, random_init=True)))
        for kind, ft_config in runs:
            ft_out = out / f"{kind}-{task}"
            job_args = {
                "task": task,
                "data_dir": glue_dir,
                # The model is the newest complete checkpoint of this run dir, found when the
                # stage runs; the pretrain stage's fingerprint stands for it.
                "model": out / "pretrain",
                "vocab": job.get("vocab"),
                "allow_vocab_mismatch": job.get("allow_vocab_mismatch", False),
                "out": ft_out,
            }
            stages.append(
                Stage(
                    name=f"{kind}-{task}",
                    out=ft_out,
                    config={"config": ft_config, **job_args},
                    run=functools.partial(_run_finetune, ft_config, job_args),
                    read=functools.partial(read_finetune_report, ft_out),
                    deps=(*glue_deps, "pretrain"),
                    inputs=tuple(glue),
                )
            )
    if not corpus:  # the embedded corpus: what it is harvested from (a stat of each source file)
        if source_fingerprint is None:
            source_fingerprint = embedded_fingerprint(demo_config.packages)
        stages[0] = dataclasses.replace(stages[0], extra={"source": source_fingerprint})
    return stages


# ----------------------------------------------------------------------------------------------
# Each stage's run: the library entry point, in this process.


def _run_demo_data(config: Any, corpus: list[Path], out: Path, overwrite: bool, hooks: Hooks) -> Any:
    from albertctl.demo import build_demo_data

    if hooks.log is not None:
        hooks.log("reading the corpus" if corpus else "harvesting the embedded corpus")
    return build_demo_data(out, config, corpus=corpus, overwrite=overwrite)


def _run_vocab(config: Any, text: Path, out: Path, overwrite: bool, hooks: Hooks) -> Any:
    from albertctl.vocab import build_vocab

    log = hooks.log
    return build_vocab(
        [text],
        out,
        config,
        overwrite=overwrite,
        on_progress=None if log is None else (lambda stats: log(f"reading: {stats.lines:,} lines")),
        on_train_start=None if log is None else (lambda: log("training SentencePiece")),
    )


def _run_make_data(
    config: Any, text: Path, vocab: Path, out: Path, workers: int, overwrite: bool, hooks: Hooks
) -> Any:
    from albertctl.data.build import build_pretraining_data

    log = hooks.log
    return build_pretraining_data(
        [text],
        vocab,
        out,
        config,
        workers=workers,
        overwrite=overwrite,
        on_group=None if log is None else (lambda done: log(f"building: {done} groups done")),
    )


def _run_pretrain(config: Any, overwrite: bool, hooks: Hooks) -> Any:
    from albertctl.train.pretrain import pretrain

    report = pretrain(dataclasses.replace(config, overwrite=overwrite), on_event=hooks.on_event)
    if report.stopped_early:
        raise AlbertctlError(
            f"pretraining was stopped at step {report.final_step} of {config.max_steps}",
            hint="rerun the pipeline to pretrain again",
        )
    return report


def _run_finetune(config: Any, job: Mapping[str, Any], overwrite: bool, hooks: Hooks) -> Any:
    from albertctl.glue.finetune import finetune_glue
    from albertctl.glue.tasks import get_task
    from albertctl.model import resolve_checkpoint

    return finetune_glue(
        config,
        tasks=(get_task(job["task"]),),
        data_dir=Path(job["data_dir"]),
        model_path=resolve_checkpoint(Path(job["model"])),  # the project's newest-checkpoint rule
        out=Path(job["out"]),
        vocab=job["vocab"],
        allow_vocab_mismatch=job["allow_vocab_mismatch"],
        overwrite=overwrite,
        log=hooks.log,
    )


# ----------------------------------------------------------------------------------------------
# An up-to-date stage's report, read back from the files its library code wrote.


def read_demo_report(out: Path) -> Any:
    """The :class:`~albertctl.demo.DemoDataReport` of a demo-data output (its ``manifest.json``)."""
    from albertctl.demo import DemoDataReport

    path = Path(out) / "manifest.json"
    try:
        return DemoDataReport(**read_json(path))
    except TypeError as exc:
        raise AlbertctlError(
            f"{path} is not a demo-data manifest ({exc})", hint="rerun with --force demo-data"
        ) from None


def read_pretrain_report(run_dir: Path) -> Any:
    """The :class:`~albertctl.train.pretrain.PretrainReport` of a finished run: its newest complete
    checkpoint, the last ``train`` and ``eval`` records of ``metrics.jsonl`` and the precision and
    device resolved in ``pretrain_config.json``."""
    from albertctl.model.checkpoint import complete_checkpoints
    from albertctl.train.metrics import read_metrics
    from albertctl.train.pretrain import PretrainReport

    run_dir = Path(run_dir)
    resolved = read_json(run_dir / "pretrain_config.json")
    records = read_metrics(run_dir)

    def last(split: str) -> dict[str, Any]:
        for record in reversed(records):
            if record.get("split") == split:
                return {k: v for k, v in record.items() if k not in ("step", "split")}
        return {}

    checkpoints = complete_checkpoints(run_dir)
    return PretrainReport(
        run_dir=run_dir,
        final_step=checkpoints[-1][0] if checkpoints else max((int(r["step"]) for r in records), default=0),
        stopped_early=False,
        last_checkpoint=checkpoints[-1][1] if checkpoints else None,
        train=last("train"),
        eval=last("eval"),
        precision=str(resolved.get("resolved_precision", resolved.get("precision"))),
        device=str(resolved.get("resolved_device", resolved.get("device"))),
    )


def read_finetune_report(out: Path) -> Any:
    """The :class:`~albertctl.glue.finetune.FinetuneReport` of a fine-tuning output: its
    ``results.json`` (``tasks.<task>.metrics``, ``.best.<metric>.mean``, ``.seeds[]``)."""
    from albertctl.glue.evaluate import RESULTS
    from albertctl.glue.finetune import FinetuneReport

    path = Path(out) / RESULTS
    results = read_json(path)
    if not isinstance(results, dict) or not isinstance(results.get("tasks"), dict):
        raise AlbertctlError(
            f"{path} is not a finetune glue results.json (no 'tasks' object)",
            hint="rerun that stage with --force",
        )
    return FinetuneReport(out=Path(out), results=results)


def finetune_metric(report: Any, task: str) -> tuple[str, float] | None:
    """``(metric, best dev value, mean over seeds)`` of a finetune report; the task's first metric
    is its headline (CoLA: MCC, MRPC: F1). None when the report or the task is absent."""
    entry = None if report is None else report.results["tasks"].get(task)
    if entry is None:
        return None
    metric = entry["metrics"][0]
    return metric, float(entry["best"][metric]["mean"])


def seed_metrics(report: Any, task: str, metric: str) -> dict[int, float]:
    """``{seed: best dev value of metric}`` of a finetune report ({} when absent)."""
    entry = None if report is None else report.results["tasks"].get(task)
    if entry is None:
        return {}
    return {
        int(run["seed"]): float(run["best"]["metrics"][metric])
        for run in entry["seeds"]
        if metric in run["best"]["metrics"]
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


def summarize_run(out: Path, results: Sequence[StageResult]) -> dict[str, Any]:
    """What the results table shows, from the stages' reports (run now, or read back).

    ``corpus`` (sizes from demo-data's report), ``heldout`` (the last held-out MLM/SOP accuracy
    of pretraining), ``tasks`` (per task: the headline dev metric of the pretrained model and of
    the from-scratch baseline, best checkpoint, mean over seeds), ``next`` (commands to try).
    """
    out = Path(out)
    reports = {r.name: r.report for r in results}
    corpus: dict[str, Any] = {}
    demo = reports.get("demo-data")
    if demo is not None:
        corpus = {"source": demo.source, "train": demo.train, "heldout": demo.heldout, "task": demo.task}
    heldout: dict[str, float] = {}
    pre = reports.get("pretrain")
    if pre is not None and pre.eval:
        heldout = {"mlm_accuracy": float(pre.eval["mlm_acc"]), "sop_accuracy": float(pre.eval["sop_acc"])}
    tasks = []
    for name in reports:
        if not name.startswith("finetune-"):
            continue
        task = name.removeprefix("finetune-")
        pretrained_report, scratch_report = reports[name], reports.get(f"baseline-{task}")
        pretrained = finetune_metric(pretrained_report, task)
        scratch = finetune_metric(scratch_report, task)
        metric = (pretrained or scratch or ("?", None))[0]
        tasks.append(
            {
                "task": task,
                "metric": metric,
                "pretrained": pretrained[1] if pretrained else None,
                "scratch": scratch[1] if scratch else None,
                "paired": paired_gain(
                    seed_metrics(pretrained_report, task, metric), seed_metrics(scratch_report, task, metric)
                ),
            }
        )
    checkpoint = pre.last_checkpoint if pre is not None else None
    ckpt = str(checkpoint) if checkpoint else str(out / "pretrain" / "checkpoints" / "step-N")
    nxt = [
        f"albertctl inspect-data {out / 'data'}",
        f"albertctl plot {out / 'pretrain'}",
        f"albertctl export hf {ckpt} {out / 'hf'}",
        f"albertctl finetune glue --task mrpc --data-dir GLUE_DIR --model {ckpt} --out {out / 'mrpc'}",
        f"albertctl pipeline configs/demo.toml --corpus YOUR_TEXT.txt --out {out.parent / 'my-run'}",
    ]
    return {"out": str(out), "corpus": corpus, "heldout": heldout, "tasks": tasks, "next": nxt}


def write_summary(out: Path, summary: Mapping[str, Any]) -> None:
    """``OUT/results.json``: the summary table as JSON."""
    write_json(Path(out) / "results.json", dict(summary))
