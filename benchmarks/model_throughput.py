"""Training-step speed of our ALBERT vs transformers' ``AlbertForPreTraining`` at the same config and batch.

One step = forward + pretraining loss + backward + AdamW, sequence length 128 (default), MLM labels
at 15% of the positions, SOP labels. Ours computes MLM logits only at the masked positions (as TF
does); transformers computes them everywhere and takes the mean over labels != -100 (how it
trains). Both get identical weights and the same batch. The runs of one (flavor, precision) are
interleaved step by step, so a busy shared machine slows them alike; the median step is reported.
Peak memory is what a step needs above the resident weights and optimizer state: CUDA max
allocated minus allocated before the step; on CPU only with ``--cpu-memory`` (how much two steps
grow the peak RSS of a fresh process holding the built model).

How far from the limit: each precision's GEMM peak (best square ``torch.matmul`` in that dtype,
``_peak.measure_gemm_peak``) is measured at the start of the run, and every line gives the
achieved FLOP/s and its share of the peak of its dtype. The FLOPs are the *useful* matmul FLOPs
of a training step (``_peak.albert_train_flops`` with MLM on the masked positions only, as the
reference computes it), the same count for ours and transformers, so the FLOP/s ratio is the
tokens/s ratio; transformers actually computes more (its MLM head runs on every position), the
run prints how much more.

    .venv/bin/python benchmarks/model_throughput.py                       # tiny + base, fp32 + bf16
    .venv/bin/python benchmarks/model_throughput.py --flavors tiny --precisions fp32 --steps 5
    .venv/bin/python benchmarks/model_throughput.py --compile             # adds torch.compile (ours)

Prints one line per run and the ratios ours / transformers (tokens per second, higher is better).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from _peak import PRECISION_DTYPES, albert_train_flops, describe_share, format_flops, measure_gemm_peak


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """One measurement."""

    impl: str  # "ours" | "hf"
    flavor: str
    precision: str  # "fp32" | "bf16"
    compile: bool
    batch_size: int
    seq_len: int
    vocab_size: int
    steps: int
    warmup: int
    device: str
    seed: int


def make_batch(cfg: RunConfig, device: torch.device) -> dict[str, torch.Tensor]:
    """Random full-length sequences; 15% of the positions predicted (distinct, sorted)."""
    gen = torch.Generator().manual_seed(cfg.seed)
    b, length = cfg.batch_size, cfg.seq_len
    ids = torch.randint(5, cfg.vocab_size, (b, length), generator=gen)
    types = (torch.arange(length) >= length // 2).long().expand(b, -1).clone()  # (B, L)
    num_pred = num_predicted(cfg)
    positions = torch.stack([torch.randperm(length - 1, generator=gen)[:num_pred] + 1 for _ in range(b)])
    positions = positions.sort(dim=1).values  # (B, P)
    mlm_ids = torch.randint(5, cfg.vocab_size, (b, num_pred), generator=gen)
    labels = torch.full((b, length), -100, dtype=torch.long)
    labels.scatter_(1, positions, mlm_ids)  # (B, L): HF's layout
    out = {
        "input_ids": ids,
        "token_type_ids": types,
        "input_mask": torch.ones(b, length, dtype=torch.long),
        "masked_lm_positions": positions,
        "masked_lm_ids": mlm_ids,
        "masked_lm_weights": torch.ones(b, num_pred),
        "labels": labels,
        "sentence_order_label": torch.randint(0, 2, (b,), generator=gen),
    }
    return {k: v.to(device) for k, v in out.items()}


def num_predicted(cfg: RunConfig) -> int:
    """Masked positions per sequence in :func:`make_batch` (15% of the length, at least 1)."""
    return max(1, round(0.15 * cfg.seq_len))


def step_flops(cfg: RunConfig, mlm_rows_per_sequence: int) -> int:
    """Matmul FLOPs of one training step with the MLM head on ``mlm_rows_per_sequence`` rows."""
    from albertctl.model.config import get_config

    config = get_config(cfg.flavor, vocab_size=cfg.vocab_size)
    rows = cfg.batch_size * mlm_rows_per_sequence
    return albert_train_flops(config, cfg.batch_size, cfg.seq_len, rows)


def build(cfg: RunConfig) -> torch.nn.Module:
    """Our model, or transformers' holding exactly our weights."""
    from albertctl.model import hf
    from albertctl.model.albert import AlbertForPreTraining
    from albertctl.model.config import get_config

    config = get_config(cfg.flavor, vocab_size=cfg.vocab_size)
    ours = AlbertForPreTraining(config, generator=torch.Generator().manual_seed(cfg.seed))
    if cfg.impl == "ours":
        return ours
    import transformers

    hf_config = transformers.AlbertConfig(**hf.to_hf_config(config, head="pretraining", num_labels=None))
    theirs = transformers.AlbertForPreTraining(hf_config)
    theirs.load_state_dict(hf.to_hf_state_dict(ours.state_dict()), strict=False)
    theirs.tie_weights()
    return theirs


def make_step(cfg: RunConfig, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> Callable[[], None]:
    """A closure running one training step (zero_grad, forward, loss, backward, AdamW)."""
    from albertctl.model.albert import pretraining_loss

    device = batch["input_ids"].device
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    step_model = torch.compile(model) if cfg.compile else model
    enabled = cfg.precision == "bf16"

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled):
            if cfg.impl == "ours":
                out = step_model(
                    batch["input_ids"],
                    batch["token_type_ids"],
                    batch["input_mask"],
                    batch["masked_lm_positions"],
                )
                loss = pretraining_loss(
                    out, batch["masked_lm_ids"], batch["masked_lm_weights"], batch["sentence_order_label"]
                ).loss
            else:
                loss = step_model(
                    input_ids=batch["input_ids"],
                    token_type_ids=batch["token_type_ids"],
                    attention_mask=batch["input_mask"],
                    labels=batch["labels"],
                    sentence_order_label=batch["sentence_order_label"],
                ).loss
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    return step


def peak_memory_mib(step: Callable[[], None], device: torch.device) -> float | None:
    """CUDA memory one step needs above what is resident (both models' weights and AdamW state).

    None on CPU: use --cpu-memory for a per-process RSS figure.
    """
    if device.type != "cuda":
        return None
    torch.cuda.synchronize()
    resident = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    step()
    return (torch.cuda.max_memory_allocated() - resident) / 2**20


def measure(cfgs: list[RunConfig]) -> list[dict[str, float | None]]:
    """Interleave the runs step by step (so a busy shared machine slows them alike); medians per run."""
    device = torch.device(cfgs[0].device)
    batch = make_batch(cfgs[0], device)
    models = [build(cfg).to(device).train() for cfg in cfgs]
    steps = [make_step(cfg, model, batch) for cfg, model in zip(cfgs, models, strict=True)]
    for _ in range(cfgs[0].warmup):
        for step in steps:
            step()
    times: list[list[float]] = [[] for _ in cfgs]
    for _ in range(cfgs[0].steps):
        for i, step in enumerate(steps):
            start = time.perf_counter()
            step()
            times[i].append(time.perf_counter() - start)
    results = []
    for cfg, step, spent in zip(cfgs, steps, times, strict=True):
        for model in models:  # free every gradient so "resident" means weights + AdamW state
            model.zero_grad(set_to_none=True)
        seconds = statistics.median(spent)
        results.append(
            {
                "step_s": seconds,
                "tokens_per_s": cfg.batch_size * cfg.seq_len / seconds,
                "peak_mib": peak_memory_mib(step, device),
            }
        )
    return results


def cpu_peak_rss_mib(cfg: RunConfig, threads: int) -> float:
    """Peak RSS growth of two training steps (activations, gradients, AdamW state) in a fresh process."""
    command = [sys.executable, __file__, "--child", json.dumps(cfg.__dict__), "--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def _proc_status_mib(field: str) -> float:
    """A ``/proc/self/status`` memory field (VmRSS, VmHWM) in MiB; per address space, so exec resets it."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(args: argparse.Namespace) -> None:
    """Print the memory two training steps add on top of the built model (CPU, fresh process)."""
    cfg = RunConfig(**json.loads(args.child))
    if args.threads:
        torch.set_num_threads(args.threads)
    step = make_step(cfg, build(cfg).train(), make_batch(cfg, torch.device("cpu")))
    before = _proc_status_mib("VmRSS")
    step()
    step()
    print(max(_proc_status_mib("VmHWM") - before, 0.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flavors", default="tiny,base")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--compile", action="store_true", help="also measure torch.compile (ours)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--vocab-size", type=int, default=30000)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    parser.add_argument("--cpu-memory", action="store_true", help="CPU: peak RSS per model (fresh processes)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    if args.device == "cpu" and args.threads:
        torch.set_num_threads(args.threads)
    precisions = args.precisions.split(",")
    threads = torch.get_num_threads()
    peaks = {p: measure_gemm_peak(PRECISION_DTYPES[p], threads, args.device) for p in precisions}
    print(f"device {args.device}, torch {torch.__version__}, threads {threads}")
    for precision, peak in peaks.items():
        print(f"{precision} GEMM peak (best square torch.matmul, this run): {format_flops(peak)}")
    print(
        f"batch {args.batch_size} x seq {args.seq_len}, vocab {args.vocab_size}, {args.steps} steps (median)"
    )
    for flavor in args.flavors.split(","):
        for precision in precisions:
            impls = [("ours", False), ("hf", False)] + ([("ours", True)] if args.compile else [])
            cfgs = [
                RunConfig(
                    impl=impl,
                    flavor=flavor,
                    precision=precision,
                    compile=compiled,
                    batch_size=args.batch_size,
                    seq_len=args.seq_len,
                    vocab_size=args.vocab_size,
                    steps=args.steps,
                    warmup=args.warmup,
                    device=args.device,
                    seed=0,
                )
                for impl, compiled in impls
            ]
            useful = step_flops(cfgs[0], num_predicted(cfgs[0]))
            if precision == precisions[0]:
                print(
                    f"{flavor}: useful matmul FLOPs per step {useful / 1e9:.2f} GFLOP "
                    f"({num_predicted(cfgs[0])} MLM rows per sequence, as the reference); ours computes "
                    f"the same, transformers {step_flops(cfgs[0], cfgs[0].seq_len) / useful:.2f}x "
                    f"(MLM head on all {cfgs[0].seq_len} positions)",
                    flush=True,
                )
            results = measure(cfgs)
            for cfg, r in zip(cfgs, results, strict=True):
                if r["peak_mib"] is None and args.cpu_memory and not cfg.compile:
                    r["peak_mib"] = cpu_peak_rss_mib(cfg, torch.get_num_threads())
                label = f"{cfg.impl}{'+compile' if cfg.compile else ''}"
                memory = "n/a" if r["peak_mib"] is None else f"{r['peak_mib']:.0f} MiB"
                line = (
                    f"{flavor:6s} {precision:4s} {label:13s} {r['tokens_per_s']:10.0f} tok/s  "
                    f"step {r['step_s'] * 1000:8.1f} ms  peak {memory}"
                )
                line += f"  = {describe_share(useful / r['step_s'], peaks[precision], precision)}"
                print(line, flush=True)
            ours, theirs = results[0], results[1]
            ratio = ours["tokens_per_s"] / theirs["tokens_per_s"]
            line = f"{flavor:6s} {precision:4s} ratio ours/transformers: speed {ratio:.2f}x"
            if ours["peak_mib"] is not None and theirs["peak_mib"] is not None:
                line += f", peak memory {ours['peak_mib'] / theirs['peak_mib']:.2f}x"
            print(line, flush=True)


if __name__ == "__main__":
    main()
