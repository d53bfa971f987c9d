"""Device and precision choices shared by pretraining and fine-tuning.

``resolve_device("auto")`` picks CUDA when present, else the CPU. ``resolve_precision("auto", dev)``
picks bf16 autocast where the hardware runs it fast (CUDA with bf16, or a CPU with AMX or
AVX512-BF16: read from ``/proc/cpuinfo``), else fp32; ``autocast`` is the matching context.
Weights and optimizer state always stay fp32: bf16 applies to the forward/backward matmuls only.
``capture_rng``/``restore_rng`` save the global torch RNGs that dropout draws from.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from albertctl.errors import AlbertctlError

PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")
_DEVICE_HINT = "use auto, cpu, cuda or cuda:N"
_BF16_CPU_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU feature flags listed in ``/proc/cpuinfo`` (empty where the file is absent)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def cpu_has_fast_bf16(flags: frozenset[str] | None = None) -> bool:
    """True when the CPU has bf16 matmul instructions (AMX or AVX512-BF16)."""
    return bool(_BF16_CPU_FLAGS & (cpu_flags() if flags is None else flags))


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N`` -> a torch device."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError as exc:
        raise AlbertctlError(f"--device {spec!r} is not a device", hint=_DEVICE_HINT) from exc
    if device.type not in ("cpu", "cuda"):
        raise AlbertctlError(f"--device {spec!r} is not supported", hint=_DEVICE_HINT)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise AlbertctlError(f"--device {spec}: CUDA is not available", hint="use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise AlbertctlError(
                f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s) present",
                hint="pick an index below that count",
            )
    return device


def resolve_precision(spec: str, device: torch.device) -> str:
    """``fp32`` or ``bf16``; ``auto`` is bf16 where ``device`` runs it fast, else fp32."""
    if spec not in PRECISIONS:
        raise AlbertctlError(f"--precision must be one of {', '.join(PRECISIONS)}, got {spec!r}")
    if spec != "auto":
        return spec
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_fast_bf16() else "fp32"


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on ``device`` for ``precision == "bf16"``, else a no-op context."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def capture_rng(device: torch.device) -> dict[str, Any]:
    """The global torch RNG states (CPU, and CUDA on a CUDA device) that dropout draws from."""
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng(state: dict[str, Any], device: torch.device) -> None:
    """Put back what :func:`capture_rng` returned (a missing CUDA state is left as is)."""
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


@contextlib.contextmanager
def num_threads(n: int | None) -> Iterator[None]:
    """Temporarily set torch's intra-op thread count (``None`` leaves it alone)."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
