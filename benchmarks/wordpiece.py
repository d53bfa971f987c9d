"""WordPiece (``vocab.txt``) encoding: our ``WordPieceTokenizer`` vs transformers' ``BertTokenizer``.

On the first ``--megabytes`` of ``../shared/data/zh/corpus/corpus.txt`` and of the English
``corpus/corpus.txt``, with a BERT-style vocabulary made here from that text (specials, 100
unused slots, every character alone and as ``##``, the most frequent words and suffixes; no
BERT-Chinese ``vocab.txt`` is reachable offline): CPU seconds of ``encode_batch`` vs
``BertTokenizer(lines)`` (the Rust batch encoder; its threads' time is counted), MB/s of UTF-8
input, their ratio, and whether every id list is identical.

Run: ``.venv/bin/python benchmarks/wordpiece.py`` (about a minute).
"""

from __future__ import annotations

import argparse
import collections
import re
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def make_vocab(lines: list[str], out: Path, words: int = 5000) -> Path:
    """A BERT-style ``vocab.txt`` covering ``lines`` (every character has a piece)."""
    text = "\n".join(lines)
    chars = sorted({c for c in text.lower() if not c.isspace()})
    counts = collections.Counter(re.findall(r"[a-z]{2,}", text.lower()))
    pieces = ["[PAD]", *(f"[unused{i}]" for i in range(100)), "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    pieces += chars + [f"##{c}" for c in chars] + [w for w, _ in counts.most_common(words)]
    pieces += ["##s", "##ed", "##ing", "##ly", "##er", "##tion"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.txt").write_text("\n".join(dict.fromkeys(pieces)) + "\n", encoding="utf-8")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--megabytes", type=float, default=4.0, help="per corpus (UTF-8 bytes)")
    parser.add_argument("--data", type=Path, default=SHARED)
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"{args.data} not found (the shared data is optional; pass --data)")
    import transformers

    from albertctl.vocab import load_tokenizer

    for name in ("zh/corpus/corpus.txt", "corpus/corpus.txt"):
        lines, size = [], 0
        with open(args.data / name, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    lines.append(line.rstrip("\n"))
                    size += len(line.encode("utf-8"))
                if size >= args.megabytes * 1e6:
                    break
        with tempfile.TemporaryDirectory() as tmp:
            vocab = make_vocab(lines, Path(tmp))
            ours = load_tokenizer(vocab)
            theirs = transformers.BertTokenizer.from_pretrained(str(vocab))
            started = time.process_time()
            our_ids = ours.encode_batch(lines)
            our_s = time.process_time() - started
            started = time.process_time()
            their_ids = theirs(lines, add_special_tokens=False)["input_ids"]
            their_s = time.process_time() - started
        same = sum(a == b for a, b in zip(our_ids, their_ids, strict=True))
        mb = size / 1e6
        print(
            f"{name}: {mb:.1f} MB, {len(lines)} lines, vocab {ours.vocab_size}: ours {mb / our_s:.2f} MB/s, "
            f"BertTokenizer {mb / their_s:.2f} MB/s (CPU time), ratio {their_s / our_s:.2f}x; "
            f"identical ids {same}/{len(lines)}"
        )


if __name__ == "__main__":
    main()
