"""Pretraining quality on our own data: the tiny flavor on ``../shared/data/corpus`` for a fixed budget.

Builds (once, into ``--work``) a vocabulary (30,000 pieces) and pretraining data (seq 128, split
into sentences, 3 masking passes) from all but the last ``--heldout-lines`` lines of
``corpus.txt``, and held-out data from those last lines, then pretrains
``--model`` (default tiny) with evaluation every ``--eval-every`` steps, and stops at
``--max-steps`` or when ``--budget-minutes`` is spent (through the same SIGTERM path a user's
Ctrl-C takes, so a checkpoint is written). Prints the held-out MLM and SOP accuracy curve.

    .venv/bin/python benchmarks/pretrain_quality.py --budget-minutes 62            # docs/performance.md
    .venv/bin/python benchmarks/pretrain_quality.py --max-steps 2700 --budget-minutes 180   # 3 hours

The defaults are the run in docs/performance.md: LAMB lr 1e-2, batch 256, 900 steps (about 56
minutes on 2 cores with bf16), the winner of benchmarks/pretrain_recipes.py's sweep. The
schedule decays to zero at ``--max-steps``: size it to the budget rather than relying on the
budget to stop a longer schedule early.

Chance levels for reference: SOP 50%; MLM accuracy of always predicting the most frequent piece
is a few percent.
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "data" / "corpus" / "corpus.txt"


def _cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "albertctl", *args], check=True)


def _prepare(work: Path, corpus: Path, heldout_lines: int, vocab_size: int) -> tuple[Path, Path]:
    """Vocabulary + train/held-out data (seq 128), built once and reused."""
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "eval" / "manifest.json").is_file():
        with open(corpus, encoding="utf-8") as src:
            lines = src.readlines()
        (work / "train.txt").write_text("".join(lines[:-heldout_lines]), encoding="utf-8")
        (work / "heldout.txt").write_text("".join(lines[-heldout_lines:]), encoding="utf-8")
        _cli("build-vocab", str(work / "train.txt"), "--out", str(work / "vocab"),
             "--vocab-size", str(vocab_size), "--overwrite")  # fmt: skip
        for name, dupe in (("train", "3"), ("heldout", "1")):
            out = work / ("data" if name == "train" else "eval")
            _cli("make-data", str(work / f"{name}.txt"), "--vocab", str(work / "vocab"), "--out", str(out),
                 "--max-seq-length", "128", "--max-predictions", "20", "--dupe-factor", dupe,
                 "--split-sentences", "--workers", "2", "--overwrite")  # fmt: skip
    return work / "data", work / "eval"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--work", type=Path, default=Path("bench-out/pretrain-quality"))
    parser.add_argument("--heldout-lines", type=int, default=4000)
    parser.add_argument("--vocab-size", type=int, default=30000)
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--optimizer", default="lamb", choices=("adamw", "lamb"))
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--max-steps", type=int, default=900, help="the schedule's length")
    parser.add_argument("--warmup-steps", type=int, default=None, help="default: 10%% of --max-steps")
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--budget-minutes", type=float, default=60.0)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--out", type=Path, help="run directory (default: a new one under --work)")
    args = parser.parse_args()
    if not args.corpus.is_file():
        raise SystemExit(f"{args.corpus} not found (the shared data is optional; pass --corpus)")

    from albertctl.train.metrics import read_metrics
    from albertctl.train.pretrain import PretrainConfig, TrainEvent, pretrain

    data, heldout = _prepare(args.work, args.corpus, args.heldout_lines, args.vocab_size)
    run = args.out or args.work / f"run-{args.model}-{int(time.time())}"
    deadline = time.monotonic() + args.budget_minutes * 60
    stopping = itertools.count()

    def on_event(event: TrainEvent) -> None:
        if event.kind == "train" and time.monotonic() > deadline and next(stopping) == 0:
            os.kill(os.getpid(), signal.SIGTERM)  # graceful: finish the step, save, stop

    started = time.monotonic()
    report = pretrain(
        PretrainConfig(
            data=(data,),
            out=run,
            model=args.model,
            batch_size=args.batch_size,
            optimizer=args.optimizer,
            lr=args.lr,
            max_steps=args.max_steps,
            warmup_steps=args.max_steps // 10 if args.warmup_steps is None else args.warmup_steps,
            eval_data=(heldout,),
            eval_every=args.eval_every,
            eval_max_sequences=1024,
            save_every=1000,
            keep_last=2,
            log_every=10,
            precision=args.precision,
            tensorboard=False,
        ),
        on_event=on_event,
    )
    minutes = (time.monotonic() - started) / 60
    print(
        f"{args.model}, {args.optimizer}, batch {args.batch_size}, lr {args.lr}, {report.final_step} steps "
        f"in {minutes:.1f} min "
        f"({'budget reached' if report.stopped_early else 'max steps reached'}); run {run}"
    )
    print(f"{'step':>6} {'eval loss':>10} {'mlm_acc':>8} {'sop_acc':>8} {'train loss':>10}")
    records = read_metrics(run)
    train = {r["step"]: r for r in records if r["split"] == "train"}
    for r in (r for r in records if r["split"] == "eval"):
        near = train.get(r["step"]) or train.get(max((s for s in train if s <= r["step"]), default=0), {})
        print(
            f"{r['step']:>6} {r['loss']:>10.4f} {r['mlm_acc']:>8.2%} {r['sop_acc']:>8.2%} "
            f"{near.get('loss', float('nan')):>10.4f}"
        )


if __name__ == "__main__":
    main()
