"""Modern English pretraining text from the RACE reading-comprehension passages.

``../shared/data/corpus/corpus.txt`` is mostly 1840-1920 fiction. RACE's 25,137 training
passages (English exams for Chinese students: essays, news, stories, science; about 7 M words)
are the only other English prose of that size in ``../shared/data``. This writes their
articles, without questions or answers, in the pretraining input convention (one paragraph per
line, an empty line between documents), drops exact duplicate articles, and with ``--exclude``
drops the articles of another split (so a held-out file shares no article with the training
file). It then counts the GLUE dev rows (CoLA, SST-2, MRPC) that share any 10-word shingle with
the text written, the contamination check that ``../shared/data/README.md`` reports for the
corpus.

    .venv/bin/python benchmarks/race_text.py --split train --out bench-out/race/train.txt
    .venv/bin/python benchmarks/race_text.py --split dev --out bench-out/race/dev.txt \\
        --exclude bench-out/race/train.txt

RACE is released for non-commercial research use; nothing of it is stored in this repository.
"""

from __future__ import annotations

import argparse
import json
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[a-z0-9']+")


def _articles(tar_path: Path) -> Iterator[list[str]]:
    """Each member's article as a list of normalised paragraphs, in member-name order."""
    with tarfile.open(tar_path) as tar:
        members = sorted((m for m in tar if m.isfile()), key=lambda m: m.name)
        for member in members:
            fh = tar.extractfile(member)
            assert fh is not None
            article = json.loads(fh.read())["article"]
            paragraphs = [_SPACE.sub(" ", p).strip() for p in article.split("\n")]
            paragraphs = [p for p in paragraphs if p]
            if paragraphs:
                yield paragraphs


def _shingles(text: str, n: int = 10) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _glue_dev_rows(glue: Path) -> dict[str, list[str]]:
    """Dev texts of the GLUE tasks present, read by the fine-tuning reader (all the files' quirks)."""
    from albertctl.glue.readers import read_split
    from albertctl.glue.tasks import get_task

    rows: dict[str, list[str]] = {}
    for name in ("cola", "sst2", "mrpc"):
        spec = get_task(name)
        if (glue / spec.dir_name).is_dir():
            split = read_split(spec, glue, "dev")
            rows[spec.dir_name] = [" ".join(filter(None, (e.text_a, e.text_b))) for e in split.examples]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--race", type=Path, default=SHARED / "race", help="folder with RACE_<split>.tar.gz")
    parser.add_argument("--split", default="train", choices=("train", "dev", "test"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--exclude", type=Path, help="a text file whose documents are left out")
    parser.add_argument("--glue", type=Path, default=SHARED / "glue")
    args = parser.parse_args()

    excluded: set[str] = set()
    if args.exclude:
        excluded = set(args.exclude.read_text(encoding="utf-8").split("\n\n"))
    seen: set[str] = set()
    docs: list[str] = []
    total = 0
    for paragraphs in _articles(args.race / f"RACE_{args.split}.tar.gz"):
        total += 1
        doc = "\n".join(paragraphs)
        if doc in seen or doc in excluded:
            continue
        seen.add(doc)
        docs.append(doc)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text("\n\n".join(docs) + "\n\n", encoding="utf-8")
    tmp.replace(args.out)
    words = sum(len(d.split()) for d in docs)
    print(f"{args.split}: {total} articles, {len(docs)} written ({total - len(docs)} duplicate or excluded), "
          f"{words / 1e6:.2f} M words, {args.out.stat().st_size / 1e6:.1f} MB -> {args.out}")  # fmt: skip

    shingles: set[tuple[str, ...]] = set()
    for doc in docs:
        shingles |= _shingles(doc)
    for task, rows in _glue_dev_rows(args.glue).items():
        hits = sum(1 for row in rows if _shingles(row) & shingles)
        print(f"GLUE {task} dev rows sharing a 10-word shingle with it: {hits}/{len(rows)}")


if __name__ == "__main__":
    main()
