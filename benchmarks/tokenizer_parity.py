"""Token-id parity of our ``Tokenizer`` with transformers' ALBERT tokenizers on real text.

Reads ``--lines`` lines of ``../shared/data/corpus/corpus.txt`` and every text of the three GLUE
tasks there (CoLA, SST-2: single sentences; MRPC: sentence pairs), encodes them with our
``Tokenizer`` and with:

- ``slow``: the sentencepiece-based ``AlbertTokenizer`` of transformers 4 (the reference's
  Python port). transformers 5 dropped it, so it runs in a subprocess with ``--hf4-path`` (a
  directory made by ``pip install --target DIR "transformers<5" "huggingface_hub<1"``); skipped
  when not given.
- ``fast-converted``: transformers' ``AlbertTokenizer.from_pretrained`` on a directory holding
  only ``spiece.model`` (transformers converts it; the differences are explained per category).
- ``fast-exported``: the same class on our vocab directory, which holds the ``tokenizer.json``
  that albertctl writes.

Prints, per source and comparison, the texts compared, the mismatches and their rate, and for the
converted fast tokenizer how many mismatches each known cause explains. Pairs are compared on
``input_ids`` and ``token_type_ids`` of ``[CLS] A [SEP] B [SEP]``.

Usage:
    python benchmarks/tokenizer_parity.py --vocab VOCAB_DIR [--hf4-path /tmp/hf4] [--lines 10000]
Without ``--vocab`` a vocabulary is built first from ``--train-lines`` corpus lines.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from albertctl.vocab import BuildVocabConfig, Tokenizer, build_vocab, load_tokenizer  # noqa: E402

DATA = REPO.parent / "shared" / "data"
csv.field_size_limit(1 << 30)

# Encodes texts with transformers 4's slow AlbertTokenizer; runs under --hf4-path.
_SLOW_SCRIPT = """
import json, sys
from transformers import AlbertTokenizer
tok = AlbertTokenizer(vocab_file=sys.argv[1])
items = json.load(open(sys.argv[2], encoding="utf-8"))
out = []
for a, b in items:
    enc = tok(a, b, return_token_type_ids=True) if b is not None else tok(a, return_token_type_ids=True)
    out.append([enc["input_ids"], enc["token_type_ids"]])
json.dump({"version": __import__("transformers").__version__, "encoded": out}, open(sys.argv[3], "w"))
"""


@dataclass(frozen=True)
class Item:
    """One text or text pair to encode."""

    a: str
    b: str | None


def read_corpus(path: Path, limit: int) -> list[Item]:
    items: list[Item] = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                items.append(Item(line.rstrip("\n"), None))
                if len(items) == limit:
                    break
    return items


def _tsv_rows(path: Path) -> Iterator[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        yield from csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)


def read_glue(glue: Path) -> dict[str, list[Item]]:
    """Every text of every split of CoLA, SST-2 and MRPC (classic GLUE TSV layout)."""
    sources: dict[str, list[Item]] = {"CoLA": [], "SST-2": [], "MRPC": []}
    for split in ("train", "dev", "test"):
        for row in _tsv_rows(glue / "CoLA" / f"{split}.tsv"):
            if split == "test":
                if row[0] != "index":
                    sources["CoLA"].append(Item(row[1], None))
            elif len(row) >= 4:
                sources["CoLA"].append(Item(row[3], None))
        rows = _tsv_rows(glue / "SST-2" / f"{split}.tsv")
        header = next(rows)
        column = header.index("sentence")
        sources["SST-2"] += [Item(row[column], None) for row in rows if len(row) > column]
        rows = _tsv_rows(glue / "MRPC" / f"{split}.tsv")
        header = next(rows)
        first, second = header.index("#1 String"), header.index("#2 String")
        sources["MRPC"] += [Item(row[first], row[second]) for row in rows if len(row) > second]
    return sources


def encode_ours(tok: Tokenizer, items: list[Item]) -> list[tuple[list[int], list[int]]]:
    out = []
    for item in items:
        pair = tok.encode_pair(item.a, item.b, max_length=1 << 30)
        out.append((pair.input_ids, pair.token_type_ids))
    return out


def encode_hf(hf: object, items: list[Item]) -> list[tuple[list[int], list[int]]]:
    out = []
    for item in items:
        args = (item.a,) if item.b is None else (item.a, item.b)
        enc = hf(*args, return_token_type_ids=True)  # type: ignore[operator]
        out.append((list(enc["input_ids"]), list(enc["token_type_ids"])))
    return out


def encode_slow(
    hf4_path: Path, model_file: Path, items: list[Item]
) -> tuple[str, list[tuple[list[int], list[int]]]]:
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.json", Path(tmp) / "out.json"
        src.write_text(json.dumps([[i.a, i.b] for i in items]), encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(hf4_path), "TRANSFORMERS_VERBOSITY": "error"}
        subprocess.run(
            [sys.executable, "-c", _SLOW_SCRIPT, str(model_file), str(src), str(dst)], env=env, check=True
        )
        result = json.loads(dst.read_text(encoding="utf-8"))
    return result["version"], [(ids, types) for ids, types in result["encoded"]]


_DIGIT_COMMA = re.compile(r"\d,")


def explain(
    name: str,
    tok: Tokenizer,
    scores: list[float],
    item: Item,
    ours: list[int],
    other: list[int],
    symbols: list[str],
) -> str:
    """Which known cause explains a mismatch with a transformers fast tokenizer (``name``).

    - tie: both segmentations have the same total piece score (``000`` = ``00 0`` = ``0 00``);
      SentencePiece and ``tokenizers`` break such ties differently;
    - user symbol (converted only): transformers splits the text at user symbols (added
      tokens) and then adds "▁" per part, so a symbol that opens a text, follows a space or is
      glued to the next character (``well-known``, ``3.0``, `` " you``) gets other "▁" pieces;
    - digit-comma: the reference splits the comma off pieces ending in digit + ","; transformers
      keeps them (converted) or penalizes them by 100 (our export), which can pick other digits;
    - unknown character: SentencePiece and ``tokenizers`` score ``<unk>`` differently, which can
      move the boundary of the pieces next to it.
    """
    texts = [tok.normalize(t) for t in (item.a, item.b) if t is not None]
    causes = []
    unk = tok.unk_id
    total_ours = sum(scores[i] for i in ours if i != unk)
    total_other = sum(scores[i] for i in other if i != unk)
    if ours.count(unk) == other.count(unk) and abs(total_ours - total_other) < 1e-4:
        causes.append("tie")
    if name == "fast-converted" and any(
        t.startswith(s) or re.search(r"\s" + re.escape(s) + "|" + re.escape(s) + r"\S", t)
        for t in texts
        for s in symbols
    ):
        causes.append("user symbol")
    if any(_DIGIT_COMMA.search(t) for t in texts) and "tie" not in causes:
        causes.append("digit-comma")
    if tok.unk_id in ours and "tie" not in causes:
        causes.append("unknown character")
    return " + ".join(causes) or "UNEXPLAINED"


def _window(tok: Tokenizer, ours: list[int], other: list[int]) -> tuple[list[str], list[str]]:
    """The pieces around the first difference."""
    first = next(
        (i for i, (x, y) in enumerate(zip(ours, other, strict=False)) if x != y), min(len(ours), len(other))
    )
    lo = max(0, first - 4)
    return [tok.id_to_piece(i) for i in ours[lo : first + 6]], [
        tok.id_to_piece(i) for i in other[lo : first + 6]
    ]


def compare(ours: list[tuple[list[int], list[int]]], other: list[tuple[list[int], list[int]]]) -> list[int]:
    return [i for i, (x, y) in enumerate(zip(ours, other, strict=True)) if x != y]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=Path, help="vocab dir (default: build one into a temp dir)")
    parser.add_argument("--lines", type=int, default=10_000, help="corpus lines to compare")
    parser.add_argument("--train-lines", type=int, default=30_000, help="lines to train a vocab on")
    parser.add_argument("--vocab-size", type=int, default=16_000)
    parser.add_argument(
        "--hf4-path", type=Path, help="a --target dir holding transformers<5 (slow tokenizer)"
    )
    parser.add_argument("--examples", type=int, default=3, help="mismatch examples printed per comparison")
    args = parser.parse_args()

    from transformers import AlbertTokenizer

    corpus = DATA / "corpus" / "corpus.txt"
    workdir = Path(tempfile.mkdtemp(prefix="parity-"))
    try:
        vocab = args.vocab
        if vocab is None:
            train = workdir / "train.txt"
            train.write_text(
                "\n".join(i.a for i in read_corpus(corpus, args.train_lines)) + "\n", encoding="utf-8"
            )
            t0 = time.perf_counter()
            build_vocab([train], workdir / "vocab", BuildVocabConfig(vocab_size=args.vocab_size, threads=2))
            vocab = workdir / "vocab"
            seconds = time.perf_counter() - t0
            print(f"built vocab: {args.vocab_size} pieces from {args.train_lines} lines in {seconds:.1f}s")
        tok = load_tokenizer(vocab)
        bare = workdir / "bare"
        bare.mkdir()
        shutil.copyfile(tok.model_file, bare / "spiece.model")

        sources = {"corpus": read_corpus(corpus, args.lines), **read_glue(DATA / "glue")}
        items = [item for group in sources.values() for item in group]
        ours = encode_ours(tok, items)
        symbols = [tok.id_to_piece(i) for i in range(tok.vocab_size) if tok.is_user_symbol(i)]
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_file=str(tok.model_file))
        scores = [sp.GetScore(i) for i in range(sp.GetPieceSize())]
        others: dict[str, list[tuple[list[int], list[int]]]] = {
            "fast-converted": encode_hf(AlbertTokenizer.from_pretrained(bare), items),
            "fast-exported": encode_hf(AlbertTokenizer.from_pretrained(vocab), items),
        }
        import transformers

        versions = {"fast-converted": transformers.__version__, "fast-exported": transformers.__version__}
        if args.hf4_path is not None:
            version, others["slow"] = encode_slow(args.hf4_path, tok.model_file, items)
            versions["slow"] = version
        print(
            f"vocab {vocab} ({tok.vocab_size} pieces); texts: "
            + ", ".join(f"{k} {len(v)}" for k, v in sources.items())
        )
        print(f"{'comparison':<16} {'source':<8} {'texts':>7} {'mismatch':>9} {'rate':>8}")
        for name, encoded in others.items():
            start = 0
            total = 0
            causes: Counter[str] = Counter()
            shown = 0
            for source, group in sources.items():
                end = start + len(group)
                bad = compare(ours[start:end], encoded[start:end])
                total += len(bad)
                print(f"{name:<16} {source:<8} {len(group):>7} {len(bad):>9} {len(bad) / len(group):>8.2%}")
                for index in bad:
                    item = group[index]
                    cause = explain(
                        name, tok, scores, item, ours[start + index][0], encoded[start + index][0], symbols
                    )
                    causes[cause] += 1
                    if (cause == "UNEXPLAINED" or name != "fast-converted") and shown < args.examples:
                        shown += 1
                        mine, theirs = _window(tok, ours[start + index][0], encoded[start + index][0])
                        print(f"    e.g. {item.a[:100]!r} ({cause})")
                        print(f"      ours ... {mine}")
                        print(f"      hf   ... {theirs}")
                start = end
            print(
                f"{name:<16} {'ALL':<8} {len(items):>7} {total:>9} {total / len(items):>8.2%}"
                f"  (transformers {versions[name]}) causes: {dict(causes)}"
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
