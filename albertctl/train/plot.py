"""``albertctl plot RUN_DIR``: PNG curves from a run's ``metrics.jsonl`` (matplotlib, optional extra).

Writes ``RUN_DIR/plots/loss.png`` (train and eval MLM/SOP loss), ``accuracy.png`` (MLM and SOP
accuracy), ``lr.png`` and ``throughput.png`` (tokens/s), one line per split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from albertctl.errors import AlbertctlError
from albertctl.train.metrics import read_metrics

PANELS: dict[str, tuple[str, ...]] = {
    "loss": ("loss", "mlm_loss", "sop_loss"),
    "accuracy": ("mlm_acc", "sop_acc"),
    "lr": ("lr",),
    "throughput": ("tokens_per_s",),
}


def series(records: list[dict[str, Any]], split: str, key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of ``key`` in records of ``split`` (non-numeric values skipped)."""
    steps, values = [], []
    for record in records:
        value = record.get(key)
        if record.get("split") == split and isinstance(value, (int, float)):
            steps.append(int(record["step"]))
            values.append(float(value))
    return steps, values


def plot_run(run_dir: Path, out_dir: Path | None = None) -> list[Path]:
    """Write the PNGs; returns their paths."""
    run_dir = Path(run_dir)
    records = read_metrics(run_dir)
    if not records:
        raise AlbertctlError(
            f"{run_dir} has no metrics.jsonl records", hint="pass a pretraining run directory"
        )
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise AlbertctlError(
            "albertctl plot needs matplotlib",
            hint='pip install matplotlib (the albertctl "plot" extra)',
        ) from exc
    out_dir = Path(out_dir) if out_dir is not None else run_dir / "plots"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, keys in PANELS.items():
        fig, ax = plt.subplots(figsize=(7, 4))
        drawn = 0
        for split in ("train", "eval"):
            for key in keys:
                steps, values = series(records, split, key)
                if steps:
                    ax.plot(steps, values, label=f"{split} {key}", marker="o" if split == "eval" else None)
                    drawn += 1
        if drawn:
            ax.set_xlabel("step")
            ax.set_title(f"{run_dir.name}: {name}")
            ax.grid(alpha=0.3)
            ax.legend()
            path = out_dir / f"{name}.png"
            fig.tight_layout()
            fig.savefig(path, dpi=100)
            written.append(path)
        plt.close(fig)
    return written
