"""bf16 autocast vs fp32 for pretraining: the two loss curves side by side, and the speed ratio.

Both runs start from the same weights and see the same batches (same seed); only
``--precision`` differs. Prints the train loss every ``--every`` steps for both, the largest gap
between the window-mean curves, the held-out MLM/SOP results of both final models (each
evaluated in its own precision), and tokens/s of bf16 over fp32 measured in the same run.
bf16 becomes the default (``--precision auto``) only where this shows matching curves and a gain.

    .venv/bin/python benchmarks/pretrain_bf16.py --data DATA_DIR --eval-data EVAL_DIR --steps 200
    .venv/bin/python benchmarks/pretrain_bf16.py            # synthetic data, small model
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

# A small ALBERT (E 128, H 256, 4 layers) so a curve fits in minutes on two cores.
SMALL = {
    "embedding_size": 128,
    "hidden_size": 256,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "intermediate_size": 1024,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path)
    parser.add_argument("--eval-data", type=Path)
    parser.add_argument(
        "--model", default=None, help="flavor or config .json (default: a small 4-layer H=256)"
    )
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--optimizer", default="lamb", help="lamb (the reference) or adamw")
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved fp32/bf16 timing rounds")
    parser.add_argument("--speed-only", action="store_true", help="skip the two training runs")
    args = parser.parse_args()

    from albertctl.train.metrics import read_metrics
    from albertctl.train.pretrain import PretrainConfig, pretrain
    from albertctl.train.runtime import cpu_has_fast_bf16
    from albertctl.train.synthetic import write_synthetic_data

    work = Path(tempfile.mkdtemp(prefix="pretrain-bf16-"))
    data = args.data or write_synthetic_data(
        work / "data", shards=2, rows_per_shard=2048, vocab_size=8000, max_seq_length=128, max_predictions=20
    )
    eval_data = args.eval_data or (
        None if args.data else write_synthetic_data(work / "eval", shards=1, rows_per_shard=256, seed=9)
    )
    model = args.model
    if model is None:
        model = str(work / "small.json")
        Path(model).write_text(json.dumps(SMALL))

    if args.speed_only:
        fp32_s, bf16_s = interleaved_step_times(data, model, args.batch_size, args.repeats)
        print(f"interleaved fwd+bwd, median of {args.repeats}: fp32 {fp32_s * 1000:.0f} ms, "
              f"bf16 {bf16_s * 1000:.0f} ms: bf16 speed-up {fp32_s / bf16_s:.2f}x")  # fmt: skip
        return
    curves, results = {}, {}
    for precision in ("fp32", "bf16"):
        run = work / precision
        report = pretrain(
            PretrainConfig(
                data=(data,),
                out=run,
                model=model,
                batch_size=args.batch_size,
                max_steps=args.steps,
                warmup_steps=max(1, args.steps // 10),
                lr=args.lr,
                optimizer=args.optimizer,
                log_every=args.every,
                save_every=10**9,
                eval_every=0,
                eval_data=(eval_data,) if eval_data else (),
                eval_max_sequences=512,
                precision=precision,
                tensorboard=False,
            )
        )
        train = [r for r in read_metrics(run) if r["split"] == "train"]
        curves[precision] = train
        # Skip the first window (warm-up / first-call overheads) in the speed figure.
        tokens = sum(r["tokens_per_s"] * r["step_s"] * args.every for r in train[1:])
        seconds = sum(r["step_s"] * args.every for r in train[1:])
        results[precision] = {"tokens_per_s": tokens / seconds, "eval": report.eval}

    print(f"cpu has fast bf16 (AMX/AVX512-BF16): {cpu_has_fast_bf16()}; data {data}; model {model}")
    print(f"{'step':>6} {'fp32 loss':>10} {'bf16 loss':>10} {'diff':>8}   {'fp32 mlm':>8} {'bf16 mlm':>8}")
    gaps = []
    for a, b in zip(curves["fp32"], curves["bf16"], strict=True):
        gaps.append(abs(a["loss"] - b["loss"]))
        print(
            f"{a['step']:>6} {a['loss']:>10.4f} {b['loss']:>10.4f} {b['loss'] - a['loss']:>+8.4f}   "
            f"{a['mlm_acc']:>8.2%} {b['mlm_acc']:>8.2%}"
        )
    print(f"largest |bf16 - fp32| train-loss gap (window means): {max(gaps):.4f}; last: {gaps[-1]:.4f}")
    for precision in ("fp32", "bf16"):
        e = results[precision]["eval"]
        if e:
            print(
                f"held-out after {args.steps} steps, trained in {precision}: loss {e['loss']:.4f}  "
                f"mlm_acc {e['mlm_acc']:.2%}  sop_acc {e['sop_acc']:.2%}"
            )
    ratio = results["bf16"]["tokens_per_s"] / results["fp32"]["tokens_per_s"]
    print(
        f"tokens/s fp32 {results['fp32']['tokens_per_s']:.0f}, bf16 {results['bf16']['tokens_per_s']:.0f}: "
        f"bf16 / fp32 = {ratio:.2f}x (whole runs, one after the other)"
    )
    fp32_s, bf16_s = interleaved_step_times(data, model, args.batch_size, args.repeats)
    print(
        f"interleaved fwd+bwd, median of {args.repeats}: fp32 {fp32_s * 1000:.0f} ms, "
        f"bf16 {bf16_s * 1000:.0f} ms: bf16 speed-up {fp32_s / bf16_s:.2f}x"
    )


def interleaved_step_times(data: Path, model: str, batch_size: int, repeats: int) -> tuple[float, float]:
    """Median fwd+bwd seconds of fp32 and bf16, alternating on one model and batch (fair under load)."""
    import statistics
    import time

    import torch

    from albertctl.data.loader import PretrainingLoader, ShardSet, read_data_info
    from albertctl.model.albert import AlbertForPreTraining, pretraining_loss
    from albertctl.model.config import get_config

    info = read_data_info(data)
    batch = PretrainingLoader(ShardSet(info.shards), global_batch_size=batch_size, prefetch=False).build_step(
        0
    )
    b = batch.micro_batches[0]
    net = AlbertForPreTraining(get_config(model, vocab_size=info.vocab_size))
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for _ in range(repeats + 1):  # the first round warms up both paths
        for precision in ("fp32", "bf16"):
            t0 = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                out = net(b["input_ids"], b["token_type_ids"], b["input_mask"], b["masked_lm_positions"])
            loss = pretraining_loss(
                out, b["masked_lm_ids"], b["masked_lm_weights"], b["sentence_order_label"]
            )
            loss.loss.backward()
            net.zero_grad(set_to_none=True)
            times[precision].append(time.perf_counter() - t0)
    return statistics.median(times["fp32"][1:]), statistics.median(times["bf16"][1:])


if __name__ == "__main__":
    main()
