"""End-to-end throughput of ``albertctl pretrain`` vs a bare transformers loop, and the loader overhead.

One run measures, on the same batches (our loader's, sequence length 128 by default):

1. **ours**: the real ``albertctl.train.pretrain.pretrain`` (data loading from memory-mapped
   shards with prefetch, LAMB, clipping, metrics; checkpoints are not written inside the timed
   steps), tokens/s over the steps after a warm-up;
2. **hf**: a bare loop over transformers' ``AlbertForPreTraining`` with the same config and the
   same initial weights, on batches collated beforehand (no data loading in its time at all):
   forward with MLM labels (-100 elsewhere) + SOP labels, backward, clip 1.0, ``torch.optim.AdamW``;
3. **loader overhead**: the time to build one step's batch synchronously, and the time the loop
   actually waited for the prefetching loader, both as a share of our step time.

How far from the limit: the GEMM peak of the precision in use (best square ``torch.matmul`` in
fp32 or bf16 on the same device and threads, ``_peak.measure_gemm_peak``) is measured in the same
run, after the timed steps, and each side's tokens/s is turned into achieved FLOP/s and its share
of that peak. Both sides are credited with the same *useful* matmul FLOPs per token: a training
step of the timed batches as the reference computes it (``_peak.albert_train_flops``, 3x forward;
the MLM head on the real masked positions only), so the FLOP/s ratio is the tokens/s ratio. What
each side actually computes is printed beside it: ours runs the MLM head on every
``masked_lm_positions`` slot (padded slots too), transformers on every position.

    .venv/bin/python benchmarks/pretrain.py                     # tiny, batch 32, synthetic data
    .venv/bin/python benchmarks/pretrain.py --data DATA_DIR --steps 30 --precision bf16

Goals (issue 5): ours / hf >= 1.5x tokens/s on tiny at seq 128; loader overhead <= 3% of a step.
Compare only numbers from the same run (the CPUs here are shared). Run with the same allocator
for both (``make bench`` preloads tcmalloc for the whole process).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from _peak import PRECISION_DTYPES, albert_train_flops, describe_share, measure_gemm_peak

if TYPE_CHECKING:
    from albertctl.model.config import AlbertConfig


def _hf_model(config, state):  # noqa: ANN001, ANN202 - transformers types are optional
    from transformers import AlbertConfig as HFConfig
    from transformers import AlbertForPreTraining as HFPreTraining

    from albertctl.model.hf import to_hf_config, to_hf_state_dict

    hf_cfg = to_hf_config(config, head="pretraining", num_labels=None)
    hf_cfg = {k: v for k, v in hf_cfg.items() if k not in ("architectures", "model_type")}
    model = HFPreTraining(HFConfig(**hf_cfg))
    missing, unexpected = model.load_state_dict(to_hf_state_dict(state, tie_decoder=True), strict=False)
    assert not unexpected, unexpected
    return model


def run_hf(  # noqa: ANN001 - transformers types are optional
    config, state, batches, precision: str, clip: float, lr: float, device: str = "cpu"
) -> list[float]:
    """Seconds per step of the bare transformers loop over pre-collated ``batches`` (on ``device``)."""
    dev = torch.device(device)
    model = _hf_model(config, state).to(dev)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, eps=1e-6)
    inputs = []
    for b in batches:
        labels = torch.full_like(b["input_ids"], -100)
        weights = b["masked_lm_weights"] > 0
        rows, slots = weights.nonzero(as_tuple=True)
        labels[rows, b["masked_lm_positions"][rows, slots]] = b["masked_lm_ids"][rows, slots]
        inputs.append(
            {
                "input_ids": b["input_ids"],
                "token_type_ids": b["token_type_ids"],
                "attention_mask": b["input_mask"],
                "labels": labels,
                "sentence_order_label": b["sentence_order_label"],
            }
        )
        inputs[-1] = {k: v.to(dev) for k, v in inputs[-1].items()}
    times = []
    for item in inputs:
        t0 = time.perf_counter()
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = model(**item)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return times


def step_flops(config: AlbertConfig, batches: list[dict[str, torch.Tensor]]) -> tuple[int, int, int]:
    """Training matmul FLOPs summed over ``batches``: useful (MLM on the real masked positions), as
    ours computes them (every ``masked_lm_positions`` slot) and as transformers does (every position)."""
    useful = ours = hf = 0
    for b in batches:
        size, length = b["input_ids"].shape  # (B, L), padded to the batch's longest row
        useful += albert_train_flops(config, size, length, int((b["masked_lm_weights"] > 0).sum()))
        ours += albert_train_flops(config, size, length, b["masked_lm_positions"].numel())
        hf += albert_train_flops(config, size, length, size * length)
    return useful, ours, hf


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, help="make-data output (default: synthetic, vocab 30000)")
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=128, help="synthetic data only")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3, help="steps left out of the averages")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (both loops run there)")
    parser.add_argument("--repeats", type=int, default=2, help="alternate ours/hf this often; best of each")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from albertctl.data.loader import PretrainingLoader, ShardSet, read_data_info
    from albertctl.model.albert import AlbertForPreTraining
    from albertctl.model.config import get_config
    from albertctl.train.pretrain import PretrainConfig, pretrain
    from albertctl.train.synthetic import write_synthetic_data

    work = Path(tempfile.mkdtemp(prefix="pretrain-speed-"))
    data = args.data or write_synthetic_data(
        work / "data",
        shards=2,
        rows_per_shard=max(256, args.batch_size * (args.steps + 1) // 2),
        vocab_size=30000,
        max_seq_length=args.seq_len,
        max_predictions=20,
    )
    info = read_data_info(data)
    seed = 12345
    config = get_config(args.model, vocab_size=info.vocab_size)
    steps, warm = args.steps, args.warmup

    # --- the same batches, collated up front, for the bare loop and the loader timing
    loader = PretrainingLoader(
        ShardSet(info.shards), global_batch_size=args.batch_size, seed=seed, prefetch=False
    )
    build_times, batches = [], []
    for k in range(steps):
        t0 = time.perf_counter()
        batches.append(loader.build_step(k).micro_batches[0])
        build_times.append(time.perf_counter() - t0)
    state = AlbertForPreTraining(config, generator=torch.Generator().manual_seed(seed)).state_dict()
    hf_tokens = [float(b["input_mask"].sum()) for b in batches]

    # Alternate ours and hf, --repeats times, and keep the best of each (the CPUs are shared).
    ours_runs, hf_runs, waits = [], [], []
    for rep in range(args.repeats):
        step_s: list[float] = []
        data_s: list[float] = []
        tokens: list[float] = []

        def record(event, step_s=step_s, data_s=data_s, tokens=tokens) -> None:  # noqa: ANN001
            if event.kind == "train":
                step_s.append(event.values["step_s"])
                data_s.append(event.values["data_s"])
                tokens.append(event.values["tokens_per_s"] * event.values["step_s"])

        cfg = PretrainConfig(
            data=(data,),
            out=work / f"run-{rep}",
            model=args.model,
            batch_size=args.batch_size,
            max_steps=steps,
            warmup_steps=1,
            lr=1e-3,
            log_every=1,
            save_every=10**9,
            eval_every=0,
            precision=args.precision,
            seed=seed,
            tensorboard=False,
            device=args.device,
        )
        pretrain(cfg, on_event=record)
        ours_runs.append((sum(tokens[warm:]) / sum(step_s[warm:]), statistics.mean(step_s[warm:])))
        waits.append(statistics.mean(data_s[warm:]))
        hf_times = run_hf(config, state, batches, args.precision, 1.0, 1e-3, args.device)
        hf_runs.append((sum(hf_tokens[warm:]) / sum(hf_times[warm:]), statistics.mean(hf_times[warm:])))
        print(f"repeat {rep}: ours {ours_runs[-1][0]:.0f} tokens/s, hf {hf_runs[-1][0]:.0f} tokens/s, "
              f"ratio {ours_runs[-1][0] / hf_runs[-1][0]:.2f}x")  # fmt: skip
    ours_tps, ours_step = max(ours_runs)
    hf_tps, hf_step = max(hf_runs)
    waited = min(waits)

    peak = measure_gemm_peak(PRECISION_DTYPES[args.precision], torch.get_num_threads(), args.device)
    useful, ours_done, hf_done = step_flops(config, batches[warm:])
    per_token = useful / sum(hf_tokens[warm:])  # the same batches on both sides

    build = statistics.mean(build_times[warm:])
    print(
        f"model {args.model} ({sum(v.numel() for v in state.values()) / 1e6:.2f}M params), "
        f"vocab {info.vocab_size}, batch {args.batch_size}, "
        f"{'synthetic seq ' + str(args.seq_len) if args.data is None else str(data)}, {args.precision}, "
        f"{args.device}, threads {torch.get_num_threads()}, {steps} steps ({warm} warm-up left out), "
        f"best of {args.repeats}"
    )
    print(
        f"ours (albertctl pretrain, data loading included): {ours_tps:10.0f} tokens/s  "
        f"{ours_step * 1000:8.1f} ms/step"
    )
    print(f"hf   (bare AlbertForPreTraining loop)            : {hf_tps:10.0f} tokens/s  "
          f"{hf_step * 1000:8.1f} ms/step")  # fmt: skip
    print(f"ratio ours / hf tokens/s: {ours_tps / hf_tps:.2f}x   (goal >= 1.5x)")
    print(
        f"useful matmul FLOPs {per_token / 1e6:.1f} MFLOP/token (MLM on the real masked positions, "
        f"both sides credited alike); actually computed: ours {ours_done / useful:.2f}x, "
        f"hf {hf_done / useful:.2f}x"
    )
    print(f"ours {ours_tps:,.0f} tok/s = {describe_share(ours_tps * per_token, peak, args.precision)}")
    print(f"hf   {hf_tps:,.0f} tok/s = {describe_share(hf_tps * per_token, peak, args.precision)}")
    print(
        f"loader: build one step synchronously {build * 1000:.2f} ms = {build / ours_step:.2%} of a step; "
        f"waited with prefetch {waited * 1000:.3f} ms = {waited / ours_step:.2%} of a step   (goal <= 3%)"
    )


if __name__ == "__main__":
    main()
