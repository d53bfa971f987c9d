"""make-data speed and memory: throughput vs raw SentencePiece, workers scaling, peak RSS vs size.

One run at seq 128, dupe factor 1, on slices of /work/shared/data/corpus/corpus.txt (cut at
document boundaries) with an 8000-piece vocabulary trained here on a 5 MB sample (or ``--vocab``):

1. input MB/s of ``albertctl make-data --workers 1`` vs raw SentencePiece batch encoding of the same
   lines (``SentencePieceProcessor.Encode``, one thread; goal >= 0.6x, stretch 0.8x), CPU time,
   with the process start-up and as the marginal rate (a slice twice as long: its extra seconds);
2. ``--workers 2`` vs ``--workers 1`` wall time on a ``--scaling-mb`` slice (goal >= 1.7x);
3. peak RSS of ``--workers 1`` on a 1x slice vs a 10x slice (goal: within 1.2x and under 1 GiB).

Each make-data run is a fresh ``python -m albertctl`` process; its peak RSS is read with
``getrusage(RUSAGE_CHILDREN)`` in a fresh wrapper process.

4. with ``--reference-dir DIR --reference-python PY``: google-research/albert's
   ``create_pretraining_data.py`` (a checkout of the repository as ``DIR/albert``, never committed)
   run by PY, an interpreter with ``tensorflow``, ``tensorflow_hub``, ``sentencepiece`` and ``six``
   (a separate venv: TensorFlow pins protobuf), on the ``--rss-mb`` slice with the same settings,
   vs ``make-data --workers 1`` on it. Without these flags it is skipped and said so.

Run: ``.venv/bin/python benchmarks/make_data.py`` (a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from albertctl.data import columns

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
_RSS_WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(usage.ru_maxrss, usage.ru_utime + usage.ru_stime, code)\n"
)


# An installed package imports from cached bytecode; with PYTHONDONTWRITEBYTECODE set (as on some
# CI machines) an editable checkout would compile every module in every run, ~0.3 s of start-up
# no user pays. The warm-up run in main() writes the cache.
_CACHED_BYTECODE = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def cut_corpus(source: Path, out: Path, megabytes: float) -> float:
    """Copy the first ``megabytes`` MB of ``source`` (ending at a blank line) to ``out``; return MB."""
    limit = int(megabytes * 1e6)
    written = 0
    with open(source, encoding="utf-8") as reader, open(out, "w", encoding="utf-8") as writer:
        for line in reader:
            writer.write(line)
            written += len(line.encode("utf-8"))
            if written >= limit and line == "\n":
                break
    return written / 1e6


def run_make_data(
    corpus: Path, vocab: Path, out: Path, workers: int, shard_size: float, *extra: str
) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (all processes) and peak RSS (MiB) of one ``make-data`` run."""
    command = [sys.executable, "-m", "albertctl", "make-data", str(corpus), "--vocab", str(vocab),
               "--out", str(out), "--max-seq-length", "128", "--dupe-factor", "1",
               "--shard-size", str(shard_size), "--workers", str(workers), "--overwrite", *extra]  # fmt: skip
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _RSS_WRAPPER, *command], capture_output=True, text=True, env=_CACHED_BYTECODE
    )
    seconds = time.perf_counter() - start
    rss_kib, cpu, code = result.stdout.split()
    if code != "0":
        raise SystemExit(f"make-data failed: {result.stderr}")
    return seconds, float(cpu), int(rss_kib) / 1024


def raw_sentencepiece_seconds(corpus: Path, vocab: Path) -> tuple[float, float]:
    """Wall and CPU seconds to encode every line of ``corpus`` with SentencePiece alone, one thread."""
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_file=str(vocab / "spiece.model"))
    lines = [line for line in corpus.read_text(encoding="utf-8").splitlines() if line]
    start, cpu_start = time.perf_counter(), time.process_time()
    processor.Encode(lines, out_type=int, num_threads=1)
    return time.perf_counter() - start, time.process_time() - cpu_start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=SHARED / "corpus" / "corpus.txt")
    parser.add_argument("--vocab", type=Path, help="a vocab dir (default: train 8000 pieces on 5 MB)")
    parser.add_argument("--mb", type=float, default=20.0, help="slice for throughput (and twice it)")
    parser.add_argument("--scaling-mb", type=float, default=50.0, help="slice for workers 2 vs 1")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each timed side (best of)")
    parser.add_argument("--rss-mb", type=float, default=5.0, help="the 1x slice; 10x is ten times it")
    parser.add_argument("--shard-size", type=float, default=1.0, help="MB per group (20 groups in 20 MB)")
    parser.add_argument(
        "--reference-dir", type=Path, help="holds google-research/albert checked out as albert/"
    )
    parser.add_argument("--reference-python", type=Path, help="a python with tensorflow for it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-make-data-") as tmp_name:
        tmp = Path(tmp_name)
        vocab = args.vocab
        if vocab is None:
            from albertctl.vocab import BuildVocabConfig, build_vocab

            cut_corpus(args.corpus, tmp / "vocab.txt", 5.0)
            vocab = tmp / "vocab"
            build_vocab(
                [tmp / "vocab.txt"], vocab, BuildVocabConfig(vocab_size=8000, input_sentence_size=20000)
            )
        cut_corpus(args.corpus, tmp / "warm.txt", 0.1)
        run_make_data(tmp / "warm.txt", vocab, tmp / "warm", 1, args.shard_size)  # bytecode cache
        slice_mb = cut_corpus(args.corpus, tmp / "slice.txt", args.mb)
        double_mb = cut_corpus(args.corpus, tmp / "double.txt", 2 * args.mb)
        print(
            f"corpus slices: {slice_mb:.1f} and {double_mb:.1f} MB of {args.corpus}, seq 128, dupe factor 1, "
            f"best of {args.repeats} runs of each side"
        )
        print(
            f"make-data's pass over a group: {columns.backend()} (ALBERTCTL_PURE_PYTHON=1 for the Python one)"
        )

        # Each side --repeats times, alternated; the best of each (the machine's noise only slows).
        runs = [
            (
                raw_sentencepiece_seconds(tmp / "slice.txt", vocab),
                run_make_data(tmp / "slice.txt", vocab, tmp / "out1", 1, args.shard_size)[:2],
                run_make_data(tmp / "double.txt", vocab, tmp / "out1d", 1, args.shard_size)[1],
            )
            for _ in range(args.repeats)
        ]
        raw, cpu_raw = min(r[0][0] for r in runs), min(r[0][1] for r in runs)
        one, cpu_one = min(r[1][0] for r in runs), min(r[1][1] for r in runs)
        cpu_double = min(r[2] for r in runs)
        # The extra CPU seconds of the double slice: make-data's rate once started (process
        # start-up, imports and the tokenizer load, ~0.8 s here, are paid once per run).
        marginal = (double_mb - slice_mb) / (cpu_double - cpu_one)
        load = os.getloadavg()[0]
        # Wall clock is what a user sees on an idle machine; on a shared, loaded one CPU seconds
        # (all processes, startup included) are the fair measure, so both are printed.
        print(f"load average during the runs: {load:.1f} on {os.cpu_count()} CPUs")
        print(f"{'':<44} {'wall MB/s':>10} {'CPU MB/s':>10}")
        print(
            f"{'raw SentencePiece Encode, 1 thread':<44} {slice_mb / raw:>10.2f} {slice_mb / cpu_raw:>10.2f}"
        )
        print(
            f"{'make-data --workers 1 (start-up included)':<44} "
            f"{slice_mb / one:>10.2f} {slice_mb / cpu_one:>10.2f}"
        )
        print(f"{'make-data --workers 1, marginal (2x - 1x)':<44} {'':>10} {marginal:>10.2f}")
        print(f"ratio make-data / raw SentencePiece, CPU: {cpu_raw / cpu_one:.3f}x with start-up, ", end="")
        print(f"{marginal * cpu_raw / slice_mb:.3f}x marginal (goal >= 0.6x, stretch 0.8x)")

        scale_mb = cut_corpus(args.corpus, tmp / "scale.txt", args.scaling_mb)
        pairs = [
            (
                run_make_data(tmp / "scale.txt", vocab, tmp / "s1", 1, args.shard_size)[:2],
                run_make_data(tmp / "scale.txt", vocab, tmp / "s2", 2, args.shard_size)[:2],
            )
            for _ in range(args.repeats)
        ]
        one_s, cpu_one_s = min(p[0][0] for p in pairs), min(p[0][1] for p in pairs)
        two_s, cpu_two_s = min(p[1][0] for p in pairs), min(p[1][1] for p in pairs)
        print(
            f"scaling on {scale_mb:.1f} MB, workers 2 / workers 1: wall {one_s:.1f} s / {two_s:.1f} s = ",
            end="",
        )
        print(f"{one_s / two_s:.2f}x (goal >= 1.7x; load average now {os.getloadavg()[0]:.1f})")
        print(f"  CPU seconds {cpu_one_s:.1f} (1 worker) vs {cpu_two_s:.1f} (2 workers): on 2 idle cores the")
        print(
            f"  speed-up is bounded by 2 x {cpu_one_s:.1f} / {cpu_two_s:.1f} "
            f"= {2 * cpu_one_s / cpu_two_s:.2f}x"
        )
        base_mb = cut_corpus(args.corpus, tmp / "x1.txt", args.rss_mb)
        big_mb = cut_corpus(args.corpus, tmp / "x10.txt", 10 * args.rss_mb)
        # Default --shard-size (4 MB): the memory a user gets.
        _, _, rss1 = run_make_data(tmp / "x1.txt", vocab, tmp / "rss1", 1, 4.0)
        _, _, rss10 = run_make_data(tmp / "x10.txt", vocab, tmp / "rss10", 1, 4.0)
        print(f"peak RSS {base_mb:5.1f} MB input: {rss1:7.1f} MiB")
        print(f"peak RSS {big_mb:5.1f} MB input: {rss10:7.1f} MiB")
        print(f"RSS ratio 10x / 1x:             {rss10 / rss1:6.2f}x  (goal <= 1.2x, < 1024 MiB)")
        if args.reference_dir is None or args.reference_python is None:
            print(
                "reference create_pretraining_data.py: skipped (pass --reference-dir and --reference-python)"
            )
            return
        ref_wall, ref_cpu = run_reference(
            args.reference_python, args.reference_dir, tmp / "x1.txt", vocab, tmp
        )
        ours_wall, ours_cpu, _ = run_make_data(tmp / "x1.txt", vocab, tmp / "ours1", 1, 4.0)
        print(f"reference vs ours on {base_mb:.1f} MB, seq 128, dupe 1 (both one process, startup included):")
        print(f"  create_pretraining_data.py: {ref_wall:6.1f} s wall, {ref_cpu:6.1f} s CPU")
        print(f"  make-data --workers 1:      {ours_wall:6.1f} s wall, {ours_cpu:6.1f} s CPU")
        print(
            f"  speed ratio ours / reference: wall {ref_wall / ours_wall:.2f}x, CPU {ref_cpu / ours_cpu:.2f}x"
        )
        # Same algorithm? Compare the data statistics with ours under the reference's policy.
        run_make_data(tmp / "x1.txt", vocab, tmp / "ours_ref", 1, 4.0, "--single-segment", "reference")
        tf_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
        stats_command = [str(args.reference_python), "-c", _TFRECORD_STATS, str(tmp / "reference.tfrecord")]
        reference_stats = subprocess.run(
            stats_command, capture_output=True, text=True, env=tf_env
        ).stdout.split()
        print(
            "data statistics, reference vs make-data --single-segment reference (same text, seq 128, dupe 1):"
        )
        print(f"  {'':<10} {'rows':>7} {'mean len':>9} {'full 128':>9} {'masks':>6} {'label 1':>8}")
        print("  {:<10} {:>7} {:>9} {:>9} {:>6} {:>8}".format("reference", *reference_stats))
        print("  {:<10} {:>7} {:>9} {:>9} {:>6} {:>8}".format("ours", *arrow_stats(tmp / "ours_ref")))


# Run by the reference's Python (it has TensorFlow): rows, mean length, share of full rows,
# mean masks and share of label 1 in a TFRecord of the reference.
_TFRECORD_STATS = """
import sys, numpy as np, tensorflow as tf
rows = []
for record in tf.data.TFRecordDataset(sys.argv[1]):
    f = tf.train.Example.FromString(record.numpy()).features.feature
    rows.append((sum(f["input_mask"].int64_list.value), sum(f["masked_lm_weights"].float_list.value),
                 f["next_sentence_labels"].int64_list.value[0]))
a = np.array(rows, dtype=float)
full = (a[:, 0] == 128).mean()
print(len(a), f"{a[:, 0].mean():.2f}", f"{full:.3f}", f"{a[:, 1].mean():.2f}", f"{a[:, 2].mean():.3f}")
"""


def arrow_stats(data_dir: Path) -> list[str]:
    """The same statistics as ``_TFRECORD_STATS`` for a make-data output."""
    import numpy as np
    import pyarrow.compute as pc

    from albertctl.data import read_manifest
    from albertctl.data.shards import read_shard

    lengths, masks, labels = [], [], []
    for shard in read_manifest(data_dir)["shards"]:
        table = read_shard(data_dir / shard["file"])
        lengths.append(pc.list_value_length(table["input_ids"]).to_numpy())
        masks.append(pc.list_value_length(table["masked_lm_positions"]).to_numpy())
        labels.append(table["sentence_order_label"].to_numpy())
    length, mask, label = (np.concatenate(x) for x in (lengths, masks, labels))
    full = (length == 128).mean()
    return [
        str(len(length)),
        f"{length.mean():.2f}",
        f"{full:.3f}",
        f"{mask.mean():.2f}",
        f"{label.mean():.3f}",
    ]


def run_reference(python: Path, ref_dir: Path, corpus: Path, vocab: Path, tmp: Path) -> tuple[float, float]:
    """Wall and CPU seconds of the reference builder on ``corpus`` (seq 128, dupe factor 1)."""
    command = [str(python), str(ref_dir / "albert" / "create_pretraining_data.py"), f"--input_file={corpus}",
               f"--output_file={tmp / 'reference.tfrecord'}", f"--spm_model_file={vocab / 'spiece.model'}",
               f"--vocab_file={vocab / 'spiece.vocab'}", "--max_seq_length=128", "--dupe_factor=1",
               "--max_predictions_per_seq=20", "--masked_lm_prob=0.15"]  # fmt: skip
    start = time.perf_counter()
    # The script imports `from albert import tokenization`: DIR/albert is the repository checkout.
    env = {**os.environ, "PYTHONPATH": str(ref_dir), "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(
        [sys.executable, "-c", _RSS_WRAPPER, *command], capture_output=True, text=True, cwd=ref_dir, env=env
    )
    seconds = time.perf_counter() - start
    _, cpu, code = result.stdout.split()
    if code != "0":
        raise SystemExit(f"the reference failed: {result.stderr[-2000:]}")
    return seconds, float(cpu)


if __name__ == "__main__":
    main()
