"""What the benchmarks share to say how far a training step is from the machine's limit.

Two things, both pure of I/O:

1. :func:`measure_gemm_peak`: the best FLOP/s of large square ``torch.matmul`` calls in one dtype
   on one device, measured in the calling process (so on a shared machine it sees the same load
   as the run it is compared with);
2. :func:`albert_forward_flops` / :func:`albert_train_flops`: an analytic count of the matmul FLOPs
   of our ALBERT (``albertctl/model/albert.py``), checked against ``torch.utils.flop_counter`` in
   tests/test_flops_count.py.

The scripts import it as ``_peak`` (``python benchmarks/X.py`` puts ``benchmarks/`` on
``sys.path``); tests add that folder to ``sys.path`` themselves. Reads and writes nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import torch

from albertctl.model.config import AlbertConfig

# The precisions the benchmarks take (--precision) and the dtype their matmuls run in.
PRECISION_DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16}

# Square sizes tried per device: big enough to leave the cache- and launch-bound regime, small
# enough that one call stays well under a second (a CPU here does ~0.1-2 TFLOP/s).
_CPU_SIZES = (512, 1024, 2048)
_CUDA_SIZES = (2048, 4096, 8192)
# One timed repeat runs back-to-back matmuls for about this long (hides launch and timer overhead).
_REPEAT_S = 0.05
# A size whose warm-up call took longer than this is the last one tried (bf16 without AMX is slow).
_MAX_CALL_S = 1.0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_gemm_peak(
    dtype: torch.dtype,
    threads: int | None,
    device: str | torch.device,
    *,
    sizes: Sequence[int] | None = None,
    repeats: int = 5,
) -> float:
    """The best FLOP/s (``2 * n**3 / seconds``) of an ``n x n @ n x n`` ``torch.matmul`` in ``dtype``.

    For each size (default 512..2048 on CPU, 2048..8192 on CUDA): one warm-up call, then
    ``repeats`` timed repeats of back-to-back calls into a preallocated output; the best repeat of
    the best size counts. CUDA is synchronized before and after each timing. ``threads`` sets
    torch's intra-op threads for the measurement only (``None``: as they are; pass what the
    measured run uses). fp32 on CUDA runs under the process's current TF32 setting, as the
    model's matmuls do. Sizes after one whose warm-up call took over a second are skipped.
    """
    device = torch.device(device)
    sizes = tuple(sizes or (_CUDA_SIZES if device.type == "cuda" else _CPU_SIZES))
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        gen = torch.Generator().manual_seed(0)
        best = 0.0
        for n in sizes:
            a = torch.randn(n, n, generator=gen).to(device=device, dtype=dtype)
            b = torch.randn(n, n, generator=gen).to(device=device, dtype=dtype)
            out = torch.empty(n, n, device=device, dtype=dtype)
            _sync(device)
            start = time.perf_counter()
            torch.matmul(a, b, out=out)
            _sync(device)
            first = time.perf_counter() - start
            calls = max(1, math.ceil(_REPEAT_S / max(first, 1e-6)))
            for _ in range(repeats):
                _sync(device)
                start = time.perf_counter()
                for _ in range(calls):
                    torch.matmul(a, b, out=out)
                _sync(device)
                best = max(best, calls * 2 * n**3 / (time.perf_counter() - start))
            del a, b, out
            if first > _MAX_CALL_S:
                break
        return best
    finally:
        torch.set_num_threads(before)


def albert_forward_flops(config: AlbertConfig, batch: int, seq_len: int, num_masked: int) -> int:
    """Matmul FLOPs (2 per multiply-add) of one forward of our ``AlbertForPreTraining``.

    ``batch`` sequences of ``seq_len`` tokens (padding included: every position is computed);
    ``num_masked``: the rows the MLM head runs on, summed over the batch. With T = batch * seq_len,
    M = num_masked, B = batch, S = seq_len and the config's E, H, I, V, ``blocks`` =
    num_hidden_layers * inner_group_num (the weights are shared, the FLOPs are not)::

        embeddings      2*T*E*H                 google: embedding_hidden_mapping_in (E -> H);
                                                brightmart: word_embeddings_2 (E -> H, no bias)
        each block      2*T*3H*H                q, k, v (one fused GEMM)
                      + 2*B*S*S*H * 2           scores Q K^T and context P V, all heads
                      + 2*T*H*H                 attention output dense
                      + 2*T*H*I * 2             FFN H -> I -> H
        pooler + SOP    2*B*H*H + 2*B*H*2       on token 0
        MLM head        2*M*H*E + 2*M*E*V       google: transform H -> E, tied decoder E -> V;
                        2*M*H*H + 2*M*H*E       brightmart: transform H -> H, back to E through
                          + 2*M*E*V               word_embeddings_2^T, then the decoder

    Lookups, biases, LayerNorm, activations, softmax and the losses are not matmuls and are not
    counted. Ours runs the MLM head on the (B, P) ``masked_lm_positions`` slots only (M = B * P,
    padded slots included), as TF does; transformers' ``AlbertForPreTraining`` runs it on every
    position (M = T) and then ignores the labels of -100. The reference's useful work is M = the
    number of real masked positions.
    """
    c = config
    e, h, i, v = c.embedding_size, c.hidden_size, c.intermediate_size, c.vocab_size
    tokens = batch * seq_len
    embeddings = 2 * tokens * e * h
    block = 2 * tokens * 3 * h * h + 2 * 2 * batch * seq_len * seq_len * h + 2 * tokens * h * h
    block += 2 * 2 * tokens * h * i
    heads = 2 * batch * h * h + 2 * batch * h * 2
    if c.embedding_layout == "brightmart":
        mlm = 2 * num_masked * (h * h + h * e + e * v)
    else:
        mlm = 2 * num_masked * (h * e + e * v)
    return embeddings + c.num_hidden_layers * c.inner_group_num * block + heads + mlm


def albert_train_flops(config: AlbertConfig, batch: int, seq_len: int, num_masked: int) -> int:
    """Matmul FLOPs of one training step: 3x :func:`albert_forward_flops` (the backward pass
    computes the input and the weight gradient of every matmul, 2x the forward). The optimizer
    update is not a matmul and is not counted."""
    return 3 * albert_forward_flops(config, batch, seq_len, num_masked)


def format_flops(flops_per_s: float) -> str:
    """``0.41 TFLOP/s`` at 100 GFLOP/s and above, else ``12.3 GFLOP/s``."""
    if flops_per_s >= 1e11:
        return f"{flops_per_s / 1e12:.2f} TFLOP/s"
    return f"{flops_per_s / 1e9:.1f} GFLOP/s"


def describe_share(flops_per_s: float, peak: float, precision: str) -> str:
    """``0.41 TFLOP/s, 12% of the bf16 GEMM peak (3.40 TFLOP/s measured in this run)``."""
    return (
        f"{format_flops(flops_per_s)}, {flops_per_s / peak:.0%} of the {precision} GEMM peak "
        f"({format_flops(peak)} measured in this run)"
    )
