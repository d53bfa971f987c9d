"""Static vs dynamic masking: the same pretraining steps on make-data's stored masks and on fresh ones.

From the first ``--mb`` MB of ``../shared/data/corpus/corpus.txt`` (cut at a document boundary)
and a vocabulary (``--vocab``, or 8,000 pieces trained here on that slice), this builds:

* static data: ``make-data --dupe-factor DUPE`` (masks drawn at build time, one set per pass);
* unmasked data: ``make-data --masking none --dupe-factor 1``;
* held-out data from the next ``--heldout-mb`` MB (static masks, the same for both runs),

and prints build CPU seconds and shard bytes of both, then pretrains ``--model`` for the same
``--steps`` on each (``--masking static`` and ``--masking dynamic``, same seed, batch, schedule)
and prints held-out MLM and SOP loss/accuracy at every evaluation. Commands::

    .venv/bin/python benchmarks/dynamic_masking.py                       # tiny, 300 steps of 32
    .venv/bin/python benchmarks/dynamic_masking.py --mb 0.5 --steps 4 --eval-every 2 --model debug

Rerunning the same command resumes a killed pretraining run and skips a finished one. GLUE on
both checkpoints: ``finetune_quality.py --model WORK/run-static`` (it fine-tunes random init
too), then ``--model WORK/run-dynamic --random-from`` the first one's ``--work``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "data" / "corpus" / "corpus.txt"


def cut(source: Path, out: Path, skip_mb: float, megabytes: float) -> float:
    """Copy ``megabytes`` MB of ``source`` after the first ``skip_mb`` MB (both at blank lines)."""
    skip, limit, seen, written = int(skip_mb * 1e6), int(megabytes * 1e6), 0, 0
    with open(source, encoding="utf-8") as reader, open(out, "w", encoding="utf-8") as writer:
        for line in reader:
            size = len(line.encode("utf-8"))
            if seen < skip:
                seen += size
                continue
            writer.write(line)
            written += size
            if written >= limit and line == "\n":
                break
    return written / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--vocab", type=Path, help="a vocab dir (default: 8000 pieces trained on the slice)")
    parser.add_argument("--mb", type=float, default=3.0)
    parser.add_argument("--heldout-mb", type=float, default=0.3)
    parser.add_argument("--dupe", type=int, default=10, help="static data's dupe factor")
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--work", type=Path, default=REPO / "bench-out" / "dynamic-masking")
    args = parser.parse_args()

    from albertctl.data.build import MakeDataConfig, build_pretraining_data
    from albertctl.train.metrics import read_metrics
    from albertctl.train.pretrain import PretrainConfig, pretrain
    from albertctl.vocab import BuildVocabConfig, build_vocab

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    text, heldout_text = work / "train.txt", work / "heldout.txt"
    mb = cut(args.corpus, text, 0, args.mb)
    cut(args.corpus, heldout_text, mb, args.heldout_mb)
    vocab = args.vocab
    if vocab is None:
        vocab = work / "vocab"
        build_vocab([text], vocab, BuildVocabConfig(vocab_size=8000), overwrite=True)
    common = dict(max_seq_length=128, shard_size_mb=1.0)
    built = {}
    for name, extra in (
        ("static", {"dupe_factor": args.dupe}),
        ("dynamic", {"masking": "none", "dupe_factor": 1}),
    ):
        start = time.process_time()
        out = work / f"data-{name}"
        build_pretraining_data([text], vocab, out, MakeDataConfig(**common, **extra), overwrite=True)
        size = sum(p.stat().st_size for p in out.glob("shard-*.arrow")) / 1e6
        built[name] = out
        print(
            f"{name:>8}: make-data {time.process_time() - start:5.1f} s CPU, shards {size:6.1f} MB ({extra})"
        )
    heldout = work / "heldout"
    build_pretraining_data(
        [heldout_text], vocab, heldout, MakeDataConfig(**common, dupe_factor=1), overwrite=True
    )
    print(
        f"corpus {mb:.1f} MB, held out {args.heldout_mb} MB; "
        f"{args.model}, {args.steps} steps of {args.batch_size}"
    )
    # static data with its masks; one unmasked copy with loader masks; the same with the
    # sentence order drawn per epoch too (--sop-order dynamic).
    arms = [
        ("static", "static", "static"),
        ("dynamic", "dynamic", "static"),
        ("dynamic-sop", "dynamic", "dynamic"),
    ]
    for name, masking, sop_order in arms:
        data = built[masking]
        run = work / f"run-{name}"
        # Rerunning the same command resumes a killed run (checkpoints at every evaluation) and
        # skips a finished one; the data above is rebuilt byte for byte.
        finished = (run / "checkpoints" / f"step-{args.steps:06d}").is_dir()
        resume = not finished and any((run / "checkpoints").glob("step-*"))
        config = PretrainConfig(
            data=(data,), out=run, model=args.model, batch_size=args.batch_size, max_steps=args.steps,
            warmup_steps=max(1, args.steps // 10), lr=args.lr, eval_data=(heldout,),
            eval_every=args.eval_every,
            save_every=args.eval_every, threads=args.threads, precision=args.precision, tensorboard=False,
            overwrite=not resume, resume=resume, masking=masking, sop_order=sop_order,
        )  # fmt: skip
        if not finished:
            pretrain(config)
        for r in (r for r in read_metrics(run) if r["split"] == "eval"):
            print(
                f"{name:>11} step {r['step']:5d}: held-out mlm_loss {r['mlm_loss']:.3f} "
                f"mlm_acc {r['mlm_acc']:.3f} "
                f"sop_loss {r['sop_loss']:.3f} sop_acc {r['sop_acc']:.3f}"
            )


if __name__ == "__main__":
    main()
