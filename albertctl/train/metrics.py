"""Metric sinks: ``RUN_DIR/metrics.jsonl`` and, when tensorboard is installed, event files.

One JSON object per line: ``{"step": 500, "split": "train", "loss": ..., ...}``, flushed at
once so a killed run keeps every line it logged. On resume, :class:`MetricsWriter` first drops
lines past the resumed step, so a resumed run's file equals an uninterrupted run's file.
TensorBoard files go to ``RUN_DIR/tensorboard/`` with tags ``split/name``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.jsonl"


def _clean(value: Any) -> Any:
    """JSON-safe scalar: tensors become floats; NaN/inf become strings (JSON has no NaN)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """All records of ``RUN_DIR/metrics.jsonl`` (a half-written last line is ignored)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # only the line being written when a run was killed can be partial
    return records


def truncate_metrics(run_dir: Path, *, after_step: int) -> None:
    """Drop records with ``step > after_step`` (atomically rewriting the file)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return
    kept = [r for r in read_metrics(run_dir) if int(r.get("step", 0)) <= after_step]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
    os.replace(tmp, path)


class MetricsWriter:
    """Appends metric records to ``metrics.jsonl`` and mirrors them to TensorBoard if available.

    ``enabled=False`` (non-zero DDP ranks) makes every call a no-op. ``resume_step`` drops
    records logged after that step by an interrupted run.
    """

    def __init__(
        self, run_dir: Path, *, enabled: bool = True, tensorboard: bool = True, resume_step: int | None = None
    ) -> None:
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self._tb: Any = None
        self._handle: Any = None
        if not enabled:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if resume_step is not None:
            truncate_metrics(self.run_dir, after_step=resume_step)
        self._handle = open(self.run_dir / METRICS_FILE, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        if tensorboard:
            self._tb = _tensorboard_writer(self.run_dir / "tensorboard")

    @property
    def has_tensorboard(self) -> bool:
        """True when event files are being written."""
        return self._tb is not None

    def write(self, step: int, split: str, values: dict[str, Any]) -> None:
        """Log one record: ``values`` are scalars (floats, ints, 0-d tensors)."""
        if not self.enabled:
            return
        record = {"step": step, "split": split, **{k: _clean(v) for k, v in values.items()}}
        self._handle.write(json.dumps(record) + "\n")
        self._handle.flush()
        if self._tb is not None:
            for key, value in record.items():
                if key not in ("step", "split") and isinstance(value, (int, float)):
                    self._tb.add_scalar(f"{split}/{key}", value, step)

    def close(self) -> None:
        """Flush and close the sinks."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    def __enter__(self) -> MetricsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _tensorboard_writer(log_dir: Path) -> Any:
    """A ``SummaryWriter`` when the tensorboard package is installed, else ``None``."""
    try:
        import tensorboard  # noqa: F401 - only probing for the optional extra
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(log_dir=str(log_dir))
