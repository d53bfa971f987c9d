"""Chinese: WordPiece build speed, jieba make-data speed, and does tiny-zh pretraining help TNEWS?

On the first ``--mb`` MB of ``../shared/data/zh/corpus/corpus.txt`` (cut at a document boundary):

1. WordPiece build: CPU seconds of ``albertctl build-vocab --kind wordpiece`` (a fresh process:
   reading, sampling, training, writing) vs ``tokenizers`` called directly in a fresh process on
   the same lines with the same settings (``BertNormalizer`` lower-case, CJK split,
   ``BertPreTokenizer``, ``WordPieceTrainer`` with the 104 bert-base-chinese specials); ratio.
2. make-data input MB/s with ``--word-segmenter jieba`` vs without (fresh processes, CPU time of
   all processes, seq 128, dupe factor 1, ``--split-sentences``); ratio (goal >= 0.5x).
3. Quality: ``tiny-zh`` and ``tiny-zh-brightmart`` pretrained ``--steps`` steps on the make-data
   output of 2., then ``finetune clue --task tnews`` on ``../shared/data/zh/clue`` (subsets:
   ``--train-examples``, ``--eval-examples``) beside the same model from ``--random-init``; best
   and final dev accuracy per layout and the gain.

Commands::

    .venv/bin/python benchmarks/zh.py                         # full; see the estimate below
    .venv/bin/python benchmarks/zh.py --mb 0.3 --vocab-size 8000 --steps 3 --batch-size 8 \\
        --ft-steps 3 --train-examples 64 --eval-examples 64   # smoke run (< 1 minute)

The full default (2 MB, 21128 pieces, 300 pretraining steps of 64 x 128, 300 fine-tuning steps on
5,000 TNEWS rows, 2,000 dev rows) should take about 45 minutes on 2 CPU cores (estimated from
the smoke run, not measured).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from make_data import _RSS_WRAPPER, cut_corpus  # benchmarks/make_data.py: the same cut and timer

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
# tokenizers alone, with build-vocab --kind wordpiece's settings (albertctl/vocab/wordpiece_build.py).
_TOKENIZERS_CHILD = """
import sys
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
specials = ["[PAD]", *(f"[unused{i}]" for i in range(1, 100)), "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
lines = [l.rstrip("\\n") for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
tok = Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix="##"))
tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                            strip_accents=None, lowercase=True)
tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
trainer = trainers.WordPieceTrainer(vocab_size=int(sys.argv[2]), special_tokens=specials,
                                    continuing_subword_prefix="##", show_progress=False)
tok.train_from_iterator(lines, trainer)
open(sys.argv[3], "w", encoding="utf-8").write("\\n".join(tok.get_vocab()) + "\\n")
"""


def machine_line() -> str:
    """CPU model, core count, load, Python: one line."""
    name = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                name = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0]
    return f"machine: {name}, {os.cpu_count()} CPUs, load {load:.1f}, Python {platform.python_version()}"


def cpu_seconds(command: list[str]) -> float:
    """CPU seconds (user + system, all processes) of ``command`` run in a fresh wrapper process."""
    result = subprocess.run([sys.executable, "-c", _RSS_WRAPPER, *command], capture_output=True, text=True)
    _, cpu, code = result.stdout.split()
    if code != "0":
        raise SystemExit(f"failed ({code}): {' '.join(command)}\n{result.stderr}")
    return float(cpu)


def albertctl(*args: str) -> list[str]:
    return [sys.executable, "-m", "albertctl", *args]


def bench_wordpiece(corpus: Path, mb: float, vocab_size: int, tmp: Path) -> Path:
    ours = cpu_seconds(albertctl("build-vocab", str(corpus), "--kind", "wordpiece", "--vocab-size",
                                 str(vocab_size), "--out", str(tmp / "vocab"), "--overwrite"))  # fmt: skip
    theirs = cpu_seconds(
        [sys.executable, "-c", _TOKENIZERS_CHILD, str(corpus), str(vocab_size), str(tmp / "theirs.txt")]
    )
    pieces = len((tmp / "vocab" / "vocab.txt").read_text(encoding="utf-8").splitlines())
    print(f"[1] WordPiece build on {mb:.2f} MB, --vocab-size {vocab_size} ({pieces} pieces), CPU seconds:")
    print(f"    build-vocab --kind wordpiece {ours:6.2f} s   tokenizers directly {theirs:6.2f} s")
    print(f"    ratio tokenizers / ours: {theirs / ours:.2f}x (1.0 = no overhead; process startup included)")
    return tmp / "vocab"


def bench_make_data(corpus: Path, mb: float, vocab: Path, tmp: Path) -> Path:
    common = ["--vocab", str(vocab), "--max-seq-length", "128", "--dupe-factor", "1", "--split-sentences"]
    plain = cpu_seconds(
        albertctl("make-data", str(corpus), *common, "--out", str(tmp / "chars"), "--overwrite")
    )
    jieba = cpu_seconds(albertctl("make-data", str(corpus), *common, "--out", str(tmp / "data"),
                                  "--word-segmenter", "jieba", "--overwrite"))  # fmt: skip
    print(f"[2] make-data on {mb:.2f} MB, seq 128, dupe 1, --split-sentences (CPU time, fresh processes):")
    print(f"    without segmenter {mb / plain:6.3f} MB/s   --word-segmenter jieba {mb / jieba:6.3f} MB/s")
    print(f"    ratio jieba / without: {plain / jieba:.2f}x (goal >= 0.5x)")
    return tmp / "data"


def finetune_tnews(model: Path, out: Path, args: argparse.Namespace, *extra: str) -> dict:
    command = albertctl("finetune", "clue", "--task", "tnews", "--data-dir", str(args.clue), "--model",
                        str(model), "--out", str(out), "--max-steps", str(args.ft_steps),
                        "--max-train-examples", str(args.train_examples),
                        "--max-eval-examples", str(args.eval_examples), "--device", args.device,
                        *extra)  # fmt: skip
    cpu_seconds(command)
    return json.loads((out / "results.json").read_text(encoding="utf-8"))["tasks"]["tnews"]


def bench_quality(data: Path, args: argparse.Namespace, tmp: Path) -> None:
    print(
        f"[3] TNEWS dev accuracy after {args.steps} pretraining steps (batch {args.batch_size}) "
        "vs random init,"
    )
    print(
        f"    fine-tuning {args.ft_steps} steps on {args.train_examples} train rows, "
        f"{args.eval_examples} dev rows:"
    )
    print(f"    {'flavor':<20} {'init':<11} {'best':>7} {'final':>7}")
    for flavor in ("tiny-zh", "tiny-zh-brightmart"):
        run = tmp / f"run-{flavor}"
        cpu_seconds(albertctl("pretrain", "--data", str(data), "--out", str(run), "--model", flavor,
                              "--batch-size", str(args.batch_size), "--max-steps", str(args.steps),
                              "--eval-every", "0", "--device", args.device, "--no-tensorboard",
                              "--overwrite"))  # fmt: skip
        best = {}
        for init, extra in (("pretrained", ()), ("random", ("--random-init",))):
            task = finetune_tnews(run, tmp / f"ft-{flavor}-{init}", args, *extra)
            best[init] = task["best"]["accuracy"]["mean"]
            final = task["final"]["accuracy"]["mean"]
            print(f"    {flavor:<20} {init:<11} {100 * best[init]:7.2f} {100 * final:7.2f}")
        print(
            f"    {flavor:<20} gain (best, pretrained - random): "
            f"{100 * (best['pretrained'] - best['random']):+.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, default=SHARED / "zh" / "corpus" / "corpus.txt")
    parser.add_argument("--clue", type=Path, default=SHARED / "zh" / "clue")
    parser.add_argument("--mb", type=float, default=2.0, help="corpus slice for [1], [2] and pretraining")
    parser.add_argument("--vocab-size", type=int, default=21128)
    parser.add_argument("--steps", type=int, default=300, help="pretraining steps per layout")
    parser.add_argument("--batch-size", type=int, default=64, help="pretraining batch")
    parser.add_argument("--ft-steps", type=int, default=300)
    parser.add_argument("--train-examples", type=int, default=5000)
    parser.add_argument("--eval-examples", type=int, default=2000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    if not args.corpus.is_file():
        raise SystemExit(f"{args.corpus} not found (the shared data is optional; pass --corpus)")
    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="bench-zh-") as tmp_name:
        tmp = Path(tmp_name)
        mb = cut_corpus(args.corpus, tmp / "zh.txt", args.mb)
        vocab = bench_wordpiece(tmp / "zh.txt", mb, args.vocab_size, tmp)
        data = bench_make_data(tmp / "zh.txt", mb, vocab, tmp)
        if args.skip_quality:
            print("[3] skipped (--skip-quality)")
            return
        bench_quality(data, args, tmp)


if __name__ == "__main__":
    main()
