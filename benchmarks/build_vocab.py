"""Speed and memory of ``albertctl build-vocab`` and of the ``Tokenizer``, against SentencePiece.

Three measurements, each against its anchor measured in the same run:

1. ``build-vocab`` wall time and peak RSS on the shared corpus (or its first ``--lines`` lines)
   vs ``SentencePieceTrainer.train`` called directly, with the same options, on the same text
   (our normalized sample, written to a file beforehand). Goal: overhead <= 10%.
2. ``build-vocab`` peak RSS on the corpus (1x) vs ten copies of it (10x, ten symlinks), with
   ``--input-sentence-size`` below the 1x line count so both train on samples of the same size.
   Goal: ratio <= 1.2.
3. Encode throughput (MB of text per CPU second, one thread) of ``Tokenizer.encode_batch`` and
   ``Tokenizer.encode`` vs raw ``SentencePieceProcessor.encode`` on the same lines, each pair
   timed alternately, best of ``--repeats``. Goal >= 0.9x. Also the CPU time of
   ``load_tokenizer`` (every data worker pays it).

Each build runs in a fresh subprocess that reports its own peak RSS (``ru_maxrss``).

Usage:
    python benchmarks/build_vocab.py [--lines 50000] [--vocab-size 30000] [--threads 2]
    python benchmarks/build_vocab.py --skip build,memory --encode-lines 20000   # [3] only
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CORPUS = REPO.parent / "shared" / "data" / "corpus" / "corpus.txt"


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _cpu_seconds() -> float:
    """User + system CPU time of this process: less sensitive than wall time to a busy machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child_ours(argv: list[str]) -> None:
    """Run the CLI in this process; print wall seconds and peak RSS as JSON."""
    from albertctl.cli import main

    start = time.perf_counter()
    try:
        main(argv)
    except SystemExit as exc:
        if exc.code:
            raise
    report = {
        "seconds": time.perf_counter() - start,
        "cpu_seconds": _cpu_seconds(),
        "peak_rss_mib": _peak_rss_mib(),
    }
    print(json.dumps(report))


def child_spm(sample: str, options_json: str) -> None:
    """Train SentencePiece directly on ``sample``; print wall seconds and peak RSS as JSON."""
    import sentencepiece as spm

    options = json.loads(options_json)
    start = time.perf_counter()
    spm.set_random_generator_seed(options.pop("seed"))
    spm.SentencePieceTrainer.train(input=sample, **options)
    report = {
        "seconds": time.perf_counter() - start,
        "cpu_seconds": _cpu_seconds(),
        "peak_rss_mib": _peak_rss_mib(),
    }
    print(json.dumps(report))


def _run_child(args: list[str]) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _spm_options(vocab_size: int, threads: int, input_sentence_size: int, prefix: Path) -> dict[str, object]:
    """The options build-vocab passes to SentencePiece (albertctl/vocab/build.py)."""
    from albertctl.vocab import BuildVocabConfig
    from albertctl.vocab.build import REFERENCE_COVERAGE

    config = BuildVocabConfig(vocab_size=vocab_size, threads=threads, input_sentence_size=input_sentence_size)
    return {
        "model_prefix": str(prefix),
        "vocab_size": config.vocab_size,
        "model_type": config.model_type,
        "character_coverage": config.character_coverage or REFERENCE_COVERAGE,
        "pad_id": 0,
        "unk_id": 1,
        "bos_id": -1,
        "eos_id": -1,
        "control_symbols": ["[CLS]", "[SEP]", "[MASK]"],
        "user_defined_symbols": list(config.user_symbols),
        "shuffle_input_sentence": True,
        "input_sentence_size": config.input_sentence_size,
        "max_sentence_length": config.max_sentence_length,
        "num_threads": config.threads,
        "minloglevel": 2,
        "seed": config.seed,
    }


def bench_build(corpus: Path, work: Path, vocab_size: int, threads: int, repeats: int) -> None:
    from albertctl.corpus import iter_segments
    from albertctl.vocab import NormalizationConfig, normalize_text

    # The same text our build trains on: every line (fewer than --input-sentence-size), normalized.
    norm = NormalizationConfig()
    sample = work / "sample.txt"
    with open(sample, "w", encoding="utf-8") as handle:
        for line in iter_segments([corpus]):
            text = normalize_text(line, norm)
            if text:
                handle.write(text + "\n")
    size = 10_000_000
    ours_args = [
        "ours",
        "build-vocab",
        str(corpus),
        "--vocab-size",
        str(vocab_size),
        "--threads",
        str(threads),
    ]
    ref_args = ["spm", str(sample), json.dumps(_spm_options(vocab_size, threads, size, work / "ref"))]
    runs: dict[str, list[dict[str, float]]] = {"ours": [], "spm": []}
    for repeat in range(repeats):
        # Alternate the order so a busy spell on the shared machine does not favour one side.
        order = ("ours", "spm") if repeat % 2 == 0 else ("spm", "ours")
        for side in order:
            if side == "ours":
                out = work / f"build-{repeat}"
                runs["ours"].append(_run_child([*ours_args, "--out", str(out)]))
            else:
                runs["spm"].append(_run_child(ref_args))
    ours = {key: min(run[key] for run in runs["ours"]) for key in runs["ours"][0]}
    ref = {key: min(run[key] for run in runs["spm"]) for key in runs["spm"][0]}
    megabytes = corpus.stat().st_size / 1e6
    title = f"[1] build-vocab vs SentencePieceTrainer on {megabytes:.1f} MB, vocab {vocab_size}"
    print(f"{title}, best of {repeats}:")
    for name, run in (("albertctl", ours), ("sentencepiece", ref)):
        print(
            f"    {name:<13} wall {run['seconds']:7.1f} s  cpu {run['cpu_seconds']:7.1f} s  "
            f"peak RSS {run['peak_rss_mib']:6.0f} MiB"
        )
    for name, side in (("albertctl", "ours"), ("sentencepiece", "spm")):
        each = ", ".join(f"{run['cpu_seconds']:.1f}" for run in runs[side])
        print(f"    {name} cpu seconds of each run (in run order): {each}")
    print(
        f"    wall ratio {ours['seconds'] / ref['seconds']:.3f}, "
        f"cpu ratio {ours['cpu_seconds'] / ref['cpu_seconds']:.3f} (goal <= 1.10), "
        f"RSS ratio {ours['peak_rss_mib'] / ref['peak_rss_mib']:.3f}"
    )
    print("    (albertctl's time includes process start, reading, sampling and normalizing the corpus)")
    phases = json.loads((work / "build-0" / "manifest.json").read_text(encoding="utf-8"))["seconds"]
    print(
        f"    albertctl phases (first run): read+sample {phases['read_and_sample']:.1f} s, "
        f"normalize+train+write {phases['train']:.1f} s"
    )


def bench_memory(corpus: Path, work: Path, vocab_size: int, threads: int, sample_lines: int) -> None:
    copies = work / "x10"
    copies.mkdir()
    for i in range(10):
        (copies / f"copy-{i:02d}.txt").symlink_to(corpus)
    common = [
        "--vocab-size",
        str(vocab_size),
        "--threads",
        str(threads),
        "--input-sentence-size",
        str(sample_lines),
    ]
    one = _run_child(["ours", "build-vocab", str(corpus), "--out", str(work / "m1"), *common])
    ten = _run_child(["ours", "build-vocab", str(copies), "--out", str(work / "m10"), *common])
    print(f"[2] peak RSS, sample of {sample_lines} lines: 1x corpus vs 10x corpus")
    print(f"    1x  {one['peak_rss_mib']:8.0f} MiB  {one['seconds']:7.1f} s")
    print(f"    10x {ten['peak_rss_mib']:8.0f} MiB  {ten['seconds']:7.1f} s")
    print(f"    RSS ratio {ten['peak_rss_mib'] / one['peak_rss_mib']:.3f} (goal <= 1.20)")


def bench_encode(corpus: Path, vocab: Path, num_lines: int, repeats: int) -> None:
    import sentencepiece as spm

    from albertctl.corpus import iter_segments
    from albertctl.vocab import load_tokenizer

    lines = []
    for line in iter_segments([corpus]):
        lines.append(line)
        if len(lines) == num_lines:
            break
    megabytes = sum(len(line.encode("utf-8")) for line in lines) / 1e6
    start = time.process_time()
    tok = load_tokenizer(vocab)
    load_seconds = time.process_time() - start
    sp = spm.SentencePieceProcessor(model_file=str(vocab / "spiece.model"))
    tok.encode_batch(lines[:10])  # one-time setup (character classes) out of the timings

    def best_pair(ours: object, raw: object) -> tuple[float, float]:
        """Best CPU seconds of each, timed alternately (a busy spell on a shared machine hits both)."""
        times: dict[int, list[float]] = {0: [], 1: []}
        for repeat in range(repeats):
            for side in (0, 1) if repeat % 2 == 0 else (1, 0):
                start = time.process_time()
                (ours, raw)[side]()  # type: ignore[operator]
                times[side].append(time.process_time() - start)
        return min(times[0]), min(times[1])

    ours_batch, raw_batch = best_pair(
        lambda: tok.encode_batch(lines, num_threads=1), lambda: sp.encode(lines, out_type=int, num_threads=1)
    )
    ours_loop, raw_loop = best_pair(
        lambda: [tok.encode(line) for line in lines], lambda: [sp.EncodeAsIds(line) for line in lines]
    )
    print(
        f"[3] encode throughput, {len(lines)} lines ({megabytes:.1f} MB), one thread, "
        f"CPU time, best of {repeats}:"
    )
    print(
        f"    batch: ours {megabytes / ours_batch:6.2f} MB/s  raw spm {megabytes / raw_batch:6.2f} MB/s  ",
        end="",
    )
    print(f"ratio {raw_batch / ours_batch:.3f} (goal >= 0.9)")
    print(
        f"    loop:  ours {megabytes / ours_loop:6.2f} MB/s  raw spm {megabytes / raw_loop:6.2f} MB/s  ",
        end="",
    )
    print(f"ratio {raw_loop / ours_loop:.3f} (goal >= 0.9)")
    print(f"    load_tokenizer: {load_seconds * 1000:.1f} ms CPU")
    print("    (raw spm skips the reference normalization and the digit-comma fix that ours applies)")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        if sys.argv[2] == "ours":
            child_ours(sys.argv[3:])
        else:
            child_spm(sys.argv[3], sys.argv[4])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--lines", type=int, default=0, help="use only the first N lines (0: all)")
    parser.add_argument("--vocab-size", type=int, default=30000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-sample", type=int, default=20000, help="--input-sentence-size for [2]")
    parser.add_argument("--encode-lines", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5, help="encode timing repeats (alternating)")
    parser.add_argument("--build-repeats", type=int, default=1, help="build timing repeats (alternating)")
    parser.add_argument("--skip", default="", help="comma list of steps to skip: build,memory,encode")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    with tempfile.TemporaryDirectory(prefix="bench-vocab-") as tmp:
        work = Path(tmp)
        corpus = args.corpus
        if args.lines:
            corpus = work / "corpus.txt"
            with open(args.corpus, encoding="utf-8") as src, open(corpus, "w", encoding="utf-8") as dst:
                for number, line in enumerate(src):
                    if number == args.lines:
                        break
                    dst.write(line)
        print(f"corpus {corpus} ({corpus.stat().st_size / 1e6:.1f} MB); python {sys.version.split()[0]}")
        if "build" not in skip:
            bench_build(corpus, work, args.vocab_size, args.threads, args.build_repeats)
        if "memory" not in skip:
            bench_memory(corpus, work, min(args.vocab_size, 8000), args.threads, args.memory_sample)
        if "encode" not in skip:
            vocab = work / "build-0"
            if not vocab.is_dir():
                _run_child(["ours", "build-vocab", str(corpus), "--out", str(vocab), "--vocab-size", "8000"])
            bench_encode(corpus, vocab, args.encode_lines, args.repeats)


if __name__ == "__main__":
    main()
