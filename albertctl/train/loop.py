"""Training-loop pieces shared by pretraining and fine-tuning.

- :func:`clip_gradients`: global-norm clipping (the reference clips at 1.0 before the update);
- :class:`NonFiniteGuard`: skip a step whose loss or gradient is NaN/inf, and stop with a clear
  message after ``limit`` such steps in a row;
- :class:`GracefulStop`: SIGTERM and Ctrl-C set a flag; the loop finishes the step, saves and
  exits cleanly. A second Ctrl-C raises ``KeyboardInterrupt`` at once.
"""

from __future__ import annotations

import math
import signal
import threading
import warnings
from collections.abc import Iterable
from types import FrameType
from typing import Any

import torch

from albertctl.errors import AlbertctlError


def clip_gradients(parameters: Iterable[torch.nn.Parameter], max_norm: float | None) -> float:
    """Clip gradients to global L2 norm ``max_norm`` (``None``/0: only measure); return the norm before."""
    params = [p for p in parameters if p.grad is not None]
    if not params:
        return 0.0
    if max_norm:
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    else:
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))
    return float(norm)


class NonFiniteGuard:
    """Counts consecutive non-finite steps; raises once ``limit`` are seen in a row."""

    def __init__(self, limit: int = 5, *, consecutive: int = 0) -> None:
        if limit < 1:
            raise AlbertctlError(f"the non-finite step limit must be >= 1, got {limit}")
        self.limit = limit
        self.consecutive = consecutive
        self.total_skipped = 0

    def check(self, step: int, *values: float) -> bool:
        """True when all ``values`` are finite (take the step); False means skip it (with a warning)."""
        if all(math.isfinite(v) for v in values):
            self.consecutive = 0
            return True
        self.consecutive += 1
        self.total_skipped += 1
        warnings.warn(
            f"step {step}: non-finite loss or gradient ({', '.join(f'{v:.4g}' for v in values)}); "
            f"update skipped ({self.consecutive} in a row, limit {self.limit})",
            RuntimeWarning,
            stacklevel=2,
        )
        if self.consecutive >= self.limit:
            raise AlbertctlError(
                f"training diverged: {self.consecutive} steps in a row had a non-finite loss or gradient "
                f"(last at step {step})",
                hint="lower --lr, raise --warmup-steps or use --precision fp32, then resume",
            )
        return False

    def state_dict(self) -> dict[str, int]:
        """The counters, for a checkpoint."""
        return {"consecutive": self.consecutive, "total_skipped": self.total_skipped}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Restore the counters."""
        self.consecutive = int(state.get("consecutive", 0))
        self.total_skipped = int(state.get("total_skipped", 0))


class GracefulStop:
    """Context manager: SIGTERM/SIGINT set :attr:`requested` instead of killing the process.

    Only installs handlers on the main thread (signals cannot be caught elsewhere); the old
    handlers come back on exit. A second SIGINT while a stop is pending raises KeyboardInterrupt.
    """

    def __init__(self) -> None:
        self.requested = False
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        self.signal_name = signal.Signals(signum).name

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
