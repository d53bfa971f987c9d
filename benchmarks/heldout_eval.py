"""Held-out MLM and SOP accuracy of pretrained checkpoints, on any ``make-data`` output.

The evaluation a pretraining run does every ``--eval-every`` steps, run once per checkpoint
without training: for comparing a model on held-out text it was not evaluated on during its
run (say, the corpus's held-out Shakespeare and RACE dev passages).

    .venv/bin/python benchmarks/heldout_eval.py --eval-data bench-out/race/eval \\
        bench-out/pretrain-quality/run-cont/checkpoints/step-001800 ...

Uses the pretraining trainer's own evaluation (a private API: this is a measuring script, not a
command), on every held-out row up to ``--max-sequences``, in the run's precision (bf16 where
the CPU has it, as during training).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


class _Quiet:
    def write(self, step: int, split: str, values: dict) -> None:
        pass


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

    import torch

    from albertctl.data.loader import ShardSet, read_data_info
    from albertctl.train.distributed import DistContext
    from albertctl.train.pretrain import PretrainConfig, _Trainer
    from albertctl.train.runtime import resolve_device, resolve_precision

    device = resolve_device("auto")
    precision = resolve_precision(args.precision, device)
    print(f"{'checkpoint':<60} {'eval data':<32} {'MLM acc':>8} {'MLM loss':>9} {'SOP acc':>8}")
    for ckpt in args.checkpoints:
        with tempfile.TemporaryDirectory() as tmp:
            config = PretrainConfig(
                data=(args.eval_data[0],), out=Path(tmp) / "run", init=ckpt, eval_data=(args.eval_data[0],),
                eval_max_sequences=args.max_sequences, batch_size=256, warmup_steps=0,
                tensorboard=False, precision=args.precision,
            )  # fmt: skip
            trainer = _Trainer(config, DistContext(), device, precision, lambda event: None)
            with torch.random.fork_rng(devices=[]):
                trainer._build()  # loads the checkpoint once; each set below swaps only the shards
                for data in args.eval_data:
                    trainer.eval_shards = ShardSet(read_data_info(data).shards)
                    values = trainer._evaluate(_Quiet())
                    print(f"{str(ckpt):<60} {str(data):<32} {values['mlm_acc']:>8.2%} "
                          f"{values['mlm_loss']:>9.3f} {values['sop_acc']:>8.2%}")  # fmt: skip


if __name__ == "__main__":
    main()
