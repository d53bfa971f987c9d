"""Compare sentence splitters for ``make-data --split-sentences``: speed and quality.

Reads /work/shared/data/corpus/corpus.txt (or ``--corpus``): a sample of paragraphs spread over
the file, and, when present, the Chinese corpus next to it. Prints, per backend installed:
paragraphs/s and MB/s on the sample; accuracy on a hand-labelled set of hard English cases
(abbreviations, initials, quotes, decimals, ellipses) and Chinese cases (exact segmentation);
and on the sample, the share of "sentences" under 3 words (likely false splits) and over 80
words (likely missed splits). Run: ``.venv/bin/python benchmarks/sentence_split.py``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from albertctl.data.sentences import BACKENDS, make_sentence_splitter

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

# (paragraph, expected sentences), written by hand for this benchmark.
GOLD_EN: list[tuple[str, list[str]]] = [
    (
        "Mr. Smith went to Washington. He arrived at noon.",
        ["Mr. Smith went to Washington.", "He arrived at noon."],
    ),
    ("Mrs. Dashwood was pleased. Dr. Brown was not.", ["Mrs. Dashwood was pleased.", "Dr. Brown was not."]),
    ("It cost $3.50 in 1850. That was a lot.", ["It cost $3.50 in 1850.", "That was a lot."]),
    ('"Come here!" said she. "Now."', ['"Come here!" said she.', '"Now."']),
    ("He lived on St. James's Street. It was quiet.", ["He lived on St. James's Street.", "It was quiet."]),
    ("J. R. R. Tolkien wrote books. They sold well.", ["J. R. R. Tolkien wrote books.", "They sold well."]),
    ("The U.S. economy grew. Exports rose.", ["The U.S. economy grew.", "Exports rose."]),
    ("Wait... what was that? Nothing, I think.", ["Wait... what was that?", "Nothing, I think."]),
    ("Is it true? Yes! It is.", ["Is it true?", "Yes!", "It is."]),
    ("She said, 'I shall go.' And she went.", ["She said, 'I shall go.'", "And she went."]),
    ("See p. 42 for details. The table is there.", ["See p. 42 for details.", "The table is there."]),
    (
        "He met Capt. Ahab, i.e. the captain. They spoke.",
        ["He met Capt. Ahab, i.e. the captain.", "They spoke."],
    ),
    ("Chapter 1. The Beginning", ["Chapter 1.", "The Beginning"]),
    (
        "In 1945 Gen. Eisenhower spoke. The war was over.",
        ["In 1945 Gen. Eisenhower spoke.", "The war was over."],
    ),
    ("The temperature was 98.6 degrees. He was fine.", ["The temperature was 98.6 degrees.", "He was fine."]),
    ("It was late (almost midnight). We left.", ["It was late (almost midnight).", "We left."]),
    ("Oh! how she wept. Nobody came.", ["Oh! how she wept.", "Nobody came."]),
    ("He arrived at 5 p.m. on Monday. She was gone.", ["He arrived at 5 p.m. on Monday.", "She was gone."]),
    ("One sentence without a stop", ["One sentence without a stop"]),
    ('"Is he here?" "No, sir." "Then where?"', ['"Is he here?"', '"No, sir."', '"Then where?"']),
]
GOLD_ZH: list[tuple[str, list[str]]] = [
    ("他来了。你好吗？“好！”再见", ["他来了。", "你好吗？", "“好！”", "再见"]),
    ("数学是研究数量的学科。它很重要！", ["数学是研究数量的学科。", "它很重要！"]),
    ("玄德曰：“汝何人也？”其人答曰：“某姓张。”", ["玄德曰：“汝何人也？”", "其人答曰：“某姓张。”"]),
]


def sample_paragraphs(path: Path, count: int) -> list[str]:
    """``count`` non-empty lines spread evenly over the file (one pass, bounded memory)."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line]
    step = max(1, len(lines) // count)
    return lines[::step][:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=SHARED / "corpus" / "corpus.txt")
    parser.add_argument("--paragraphs", type=int, default=3000)
    args = parser.parse_args()
    sample = sample_paragraphs(args.corpus, args.paragraphs)
    megabytes = sum(len(p.encode("utf-8")) for p in sample) / 1e6
    zh_path = SHARED / "zh" / "corpus" / "corpus.txt"
    zh_sample = sample_paragraphs(zh_path, 300) if zh_path.is_file() else []
    print(f"sample: {len(sample)} paragraphs, {megabytes:.2f} MB from {args.corpus}")
    print(f"{'backend':<10} {'para/s':>8} {'MB/s':>6} {'EN gold':>8} {'ZH gold':>8}", end="")
    print(f" {'<3 words':>9} {'>80 words':>10}")
    for name in BACKENDS:
        try:
            split = make_sentence_splitter(name)
        except ValueError as exc:
            print(f"{name:<10} not installed ({exc})")
            continue
        start = time.perf_counter()
        sentences = [s for p in sample for s in split(p)]
        seconds = time.perf_counter() - start
        en = sum(split(text) == expected for text, expected in GOLD_EN)
        zh = sum(split(text) == expected for text, expected in GOLD_ZH)
        words = [len(s.split()) for s in sentences]
        short = sum(w < 3 for w in words) / len(words)
        long = sum(w > 80 for w in words) / len(words)
        print(
            f"{name:<10} {len(sample) / seconds:>8.0f} {megabytes / seconds:>6.2f} "
            f"{en:>4}/{len(GOLD_EN):<3} {zh:>4}/{len(GOLD_ZH):<3} {short:>9.1%} {long:>10.2%}"
        )
        if zh_sample:
            split_zh = [s for p in zh_sample for s in split(p)]
            print(f"{'':<10} zh sample: {len(zh_sample)} paragraphs -> {len(split_zh)} sentences")


if __name__ == "__main__":
    main()
