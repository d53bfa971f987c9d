"""The settings of ``albertctl pretrain``: recipes, :class:`PretrainConfig`, and how flags, a
TOML file and a resumed run's saved settings merge into one (:func:`resolve_pretrain_config`).

Torch-free, so the command line and the pipeline read it without importing the training code
(:mod:`albertctl.train.pretrain`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from albertctl.errors import AlbertctlError
from albertctl.fsutil import read_utf8
from albertctl.settings import check_ranges, setting

# The released models' recipe (docs/reference.md §6): a documented preset, too big for a laptop.
RELEASED_RECIPE: dict[str, Any] = {
    "batch_size": 4096,
    "lr": 0.00176,
    "max_steps": 125_000,
    "warmup_steps": 3125,
    "optimizer": "lamb",
}

# Defaults that fit each flavor on modest hardware. LAMB's rate follows the sqrt batch rule from
# the released recipe (0.00176 at 4096) for base and up. tiny's lr 1e-2 / 10% warm-up won a
# recipe sweep at equal sequences seen (benchmarks/pretrain_recipes.py, docs/pretraining.md):
# 1e-3 at batch 256 trailed it by 3.7 points of held-out MLM accuracy after 900 steps.
FLAVOR_RECIPES: dict[str, dict[str, Any]] = {
    "debug": {"batch_size": 16, "lr": 1e-3, "max_steps": 100, "warmup_steps": 10},
    "tiny": {"batch_size": 256, "lr": 1e-2, "max_steps": 10_000, "warmup_steps": 1000},
    # albert_tiny's sizes (Chinese vocabulary): tiny's recipe.
    "tiny-zh": {"batch_size": 256, "lr": 1e-2, "max_steps": 10_000, "warmup_steps": 1000},
    "tiny-zh-brightmart": {"batch_size": 256, "lr": 1e-2, "max_steps": 10_000, "warmup_steps": 1000},
    "base": {"batch_size": 512, "lr": 0.00062, "max_steps": 100_000, "warmup_steps": 2500},
    "large": {"batch_size": 512, "lr": 0.00044, "max_steps": 100_000, "warmup_steps": 2500},
    "xlarge": {"batch_size": 512, "lr": 0.00031, "max_steps": 100_000, "warmup_steps": 2500},
    "xxlarge": {"batch_size": 512, "lr": 0.00022, "max_steps": 100_000, "warmup_steps": 2500},
}
RECIPES: tuple[str, ...] = ("default", "released")


def recipe_defaults(model: str, recipe: str = "default") -> dict[str, Any]:
    """Batch size, lr, steps and warm-up for a model flavor (a config file gets ``base``'s)."""
    if recipe not in RECIPES:
        raise AlbertctlError(f"recipe must be one of {', '.join(RECIPES)}, got {recipe!r}")
    if recipe == "released":
        return dict(RELEASED_RECIPE)
    return dict(FLAVOR_RECIPES.get(model, FLAVOR_RECIPES["base"]))


# --time-budget: steps 1-2 pay one-off costs (allocator growth, first kernels); steps 3..N are timed.
BUDGET_CALIBRATION = 12
_BUDGET_SKIP = 2


def steps_within_budget(
    *, budget_s: float, elapsed_s: float, step_s: float, done: int, warmup_steps: int, max_steps: int
) -> int:
    """The step count a ``--time-budget`` run ends at: what fits in the time left, at the measured
    seconds per step, clamped to [max(done, warmup_steps, 1), max_steps]."""
    fit = done + int(max(budget_s - elapsed_s, 0.0) / max(step_s, 1e-9))
    return max(min(fit, max_steps), done, warmup_steps, 1)


@dataclass(frozen=True, kw_only=True)
class PretrainConfig:
    """Everything a pretraining run needs; written to ``RUN_DIR/pretrain_config.json``."""

    data: tuple[Path, ...] = setting(flag="--data")
    """Pretraining data directory from make-data (repeatable; all of one vocabulary)."""
    out: Path = setting(short="-o")
    """Run directory."""
    model: str = "tiny"
    """debug, tiny, base, large, xlarge, xxlarge or a config .json. The vocabulary size always
    comes from the data."""
    init: Path | None = None
    """Start from these weights (checkpoint, run dir or HF dir)."""
    batch_size: int = setting(256, min=1, default_text="per model")
    """Global batch, in sequences (all processes and accumulation steps together)."""
    grad_accum: int = setting(1, min=1)
    """Micro-batches per step. batch_size must be a multiple of grad_accum x processes."""
    max_steps: int = setting(10_000, min=1, default_text="per model")
    """Optimizer steps (the schedule decays to zero there)."""
    time_budget: float | None = None
    """Minutes of training steps: after 12 steps, --max-steps is lowered to the steps that fit at
    the measured speed (evaluations and checkpoints come on top). In detail: after
    ``BUDGET_CALIBRATION`` steps the run times them and lowers ``max_steps`` to the steps that fit
    (never below the warm-up or the steps done), so a slower machine trains fewer steps instead
    of running over. The decay ends at the chosen step, as if it had been ``max_steps`` from the
    start; the choice is saved, so a resumed run keeps it. > 0."""
    lr: float = setting(1e-3, above=0, default_text="per model")
    """Peak learning rate."""
    warmup_steps: int = setting(500, min=0, default_text="per model")
    """Linear warm-up steps, at most max_steps."""
    optimizer: str = "lamb"
    """lamb (the reference) or adamw."""
    weight_decay: float = setting(0.01, min=0, below=1)
    """Decoupled weight decay (LayerNorm and biases excluded)."""
    clip_norm: float = setting(1.0, min=0)
    """Global gradient-norm clip, 0 = off."""
    precision: str = "auto"
    """fp32, bf16 (autocast) or auto (bf16 on CUDA/AMX/AVX512-BF16). Auto picks bf16 where
    benchmarks/pretrain_bf16.py showed the same loss curve as fp32 and a 2.5x faster step."""
    masking: str = "auto"
    """static (the shards' masks), dynamic (fresh masks per epoch, drawn in the loader with
    make-data's settings) or auto (dynamic for make-data --masking none data, else static).
    Dynamic masks row r in epoch e from the seed (seed, e, r): runs are deterministic,
    independent of the process count and resumable; on static data it restores the original
    ids first. See docs/pretraining.md."""
    sop_order: str = "static"
    """static (the shards' sentence order) or dynamic (with dynamic masking: each row's two
    segments trade places with probability 0.5 per epoch, drawn from its (seed, e, r) seed before
    its masks, and the label with them), so one copy of --masking none data does not show the
    same order label for 40 epochs. See docs/pretraining.md."""
    compile: bool = False
    """torch.compile the model."""
    seed: int = 12345
    """Seed for init, data order, dropout."""
    eval_data: tuple[Path, ...] = ()
    """Held-out data directory (repeatable), evaluated every eval_every steps and at the end."""
    eval_every: int = setting(1000, min=0)
    """Steps between evaluations, 0 = end only."""
    eval_max_sequences: int = setting(2048, min=1)
    """Held-out sequences per evaluation."""
    save_every: int = setting(1000, min=1)
    """Steps between checkpoints (a final one is always written)."""
    keep_last: int = setting(3, min=1)
    """Checkpoints kept (oldest deleted first)."""
    log_every: int = setting(10, min=1)
    """Steps per metrics record and progress update."""
    resume: bool = setting(False, negatable=False)
    """Continue from the newest checkpoint in --out."""
    overwrite: bool = setting(False, negatable=False)
    """Replace an existing run directory (it is kept until the new one is complete)."""
    device: str = "auto"
    """auto (CUDA when present), cpu, cuda, cuda:N."""
    threads: int | None = setting(None, min=1, default_text="torch's")
    """torch threads per process."""
    allow_vocab_mismatch: bool = setting(False, negatable=False)
    """Accept --init weights of another vocabulary (same size) than --data: you mean the change.
    For continued pretraining after a vocabulary change; without it a mismatch is refused."""
    verify_data: bool = setting(True, flag="--verify")
    """Check each shard against its manifest's sha256 first (once per file). Each file is hashed
    once; its size and mtime are memoized in the user cache, so a resume re-hashes only changed
    files."""
    max_nonfinite: int = setting(5, min=1)
    """Stop after this many non-finite steps in a row."""
    tensorboard: bool = True
    """Write TensorBoard event files (when tensorboard is installed)."""

    def __post_init__(self) -> None:
        if not self.data:
            raise AlbertctlError("data: at least one data directory is needed", hint="pass --data DIR")
        check_ranges(self)
        if self.warmup_steps > self.max_steps:
            raise AlbertctlError(
                f"warmup_steps ({self.warmup_steps}) must be <= max_steps ({self.max_steps})",
                hint="lower --warmup-steps or raise --max-steps",
            )
        if self.time_budget is not None and not (
            isinstance(self.time_budget, (int, float)) and 0 < self.time_budget < math.inf
        ):
            raise AlbertctlError(f"time_budget must be a number of minutes > 0, got {self.time_budget!r}")
        if self.optimizer not in ("lamb", "adamw"):
            raise AlbertctlError(f"optimizer must be lamb or adamw, got {self.optimizer!r}")
        if self.masking not in ("auto", "static", "dynamic"):
            raise AlbertctlError(f"masking must be auto, static or dynamic, got {self.masking!r}")
        if self.sop_order not in ("static", "dynamic"):
            raise AlbertctlError(f"sop_order must be static or dynamic, got {self.sop_order!r}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise AlbertctlError(f"precision must be auto, fp32 or bf16, got {self.precision!r}")
        if self.resume and self.overwrite:
            raise AlbertctlError("resume and overwrite exclude each other", hint="pass only one of them")
        if self.resume and self.init is not None:
            raise AlbertctlError(
                f"--resume continues the run's own weights, so --init {self.init} would be ignored",
                hint="drop --init to resume, or start a new run (--overwrite or another --out) from it",
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (paths as strings)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = [str(v) for v in value]
            elif isinstance(value, Path):
                value = str(value)
            out[f.name] = value
        return out


_PATH_FIELDS = frozenset({"out", "init"})
_PATH_TUPLE_FIELDS = frozenset({"data", "eval_data"})


def read_toml_config(path: Path) -> dict[str, Any]:
    """A ``--config`` TOML file as a dict of PretrainConfig fields (dashes or underscores).

    Keys may sit at the top level or under a ``[pretrain]`` table; unknown keys are an error.
    """
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError as exc:
            raise AlbertctlError("reading --config needs Python 3.11+ or the tomli package") from exc
    path = Path(path)
    try:
        data = tomllib.loads(read_utf8(path))
    except OSError as exc:
        raise AlbertctlError(f"cannot read --config {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise AlbertctlError(f"--config {path} is not valid TOML: {exc}") from exc
    if isinstance(data.get("pretrain"), dict):
        data = data["pretrain"]
    known = {f.name for f in dataclasses.fields(PretrainConfig)} | {"recipe"}
    out = {key.replace("-", "_"): value for key, value in data.items()}
    unknown = sorted(set(out) - known)
    if unknown:
        raise AlbertctlError(
            f"--config {path}: unknown key(s) {', '.join(unknown)}",
            hint=f"allowed: {', '.join(sorted(known))}",
        )
    return out


def _saved_settings(run_dir: Path) -> dict[str, Any]:
    """The settings a run was started with (its pretrain_config.json), minus the one-off ones."""
    from albertctl.fsutil import read_json

    path = run_dir / "pretrain_config.json"
    if not path.is_file():
        return {}
    saved = read_json(path)
    # The weights come from the checkpoint, so --init is not reapplied.
    names = {f.name for f in dataclasses.fields(PretrainConfig)} - {"resume", "overwrite", "out", "init"}
    return {k: v for k, v in saved.items() if k in names and v is not None}


def resolve_pretrain_config(
    flags: dict[str, Any], file_values: dict[str, Any] | None = None
) -> PretrainConfig:
    """Recipe defaults for the model, then the TOML values, then the flags that were given (not None)."""
    file_values = dict(file_values or {})
    given = {k: v for k, v in flags.items() if v is not None}
    merged = {**file_values, **given}
    if merged.get("resume") and merged.get("out") is not None:
        # A resumed run keeps its own settings unless they are given again.
        merged = {**_saved_settings(Path(merged["out"])), **merged}
    model = str(merged.get("model", "tiny"))
    recipe = str(merged.pop("recipe", "default"))
    values = {**recipe_defaults(model, recipe), **merged}
    if "warmup_steps" not in merged and "max_steps" in merged:
        # A shortened run keeps the recipe's warm-up only while it is at most a tenth of the run.
        values["warmup_steps"] = min(values["warmup_steps"], int(values["max_steps"]) // 10)
    for name in _PATH_FIELDS:
        if values.get(name) is not None:
            values[name] = Path(values[name])
    for name in _PATH_TUPLE_FIELDS:
        if name in values:
            raw = values[name]
            values[name] = tuple(Path(p) for p in ([raw] if isinstance(raw, (str, Path)) else raw))
    if "out" not in values:
        raise AlbertctlError("no run directory given", hint="pass --out RUN_DIR (or out = ... in --config)")
    if not values.get("data"):
        raise AlbertctlError(
            "no pretraining data given", hint="pass --data DIR (or data = [...] in --config)"
        )
    try:
        return PretrainConfig(**values)
    except TypeError as exc:
        raise AlbertctlError(f"bad pretraining settings: {exc}") from exc
