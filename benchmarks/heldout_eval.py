"""Held-out MLM and SOP accuracy of pretrained checkpoints, on any ``make-data`` output.

The evaluation a pretraining run does every ``--eval-every`` steps, run once per checkpoint
without training: for comparing a model on held-out text it was not evaluated on during its
run (say, the corpus's held-out Shakespeare and RACE dev passages).

    .venv/bin/python benchmarks/heldout_eval.py --eval-data bench-out/race/eval \\
        bench-out/pretrain-quality/run-cont/checkpoints/step-001800 ...

Uses ``albertctl.train.evaluate.evaluate_pretraining`` (what ``albertctl eval pretrain`` runs,
the same numbers as the trainer's own evaluation), 256 rows per batch, on every held-out row up
to ``--max-sequences``, in the run's precision (bf16 where the CPU has it, as during training).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--eval-data", type=Path, action="append", required=True,
                        help="make-data output; repeat to report several sets")  # fmt: skip
    parser.add_argument("--max-sequences", type=int, default=2048)
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args()

    from albertctl.train.evaluate import evaluate_pretraining

    print(f"{'checkpoint':<60} {'eval data':<32} {'MLM acc':>8} {'MLM loss':>9} {'SOP acc':>8}")
    for ckpt in args.checkpoints:
        for data in args.eval_data:
            report = evaluate_pretraining(
                ckpt, [data], batch_size=256, max_sequences=args.max_sequences, device="auto",
                precision=args.precision,
            )  # fmt: skip
            print(f"{str(ckpt):<60} {str(data):<32} {report.mlm_acc:>8.2%} "
                  f"{report.mlm_loss:>9.3f} {report.sop_acc:>8.2%}")  # fmt: skip


if __name__ == "__main__":
    main()
