"""Read RACE (multiple-choice reading comprehension) from its original per-article files.

The release holds one file per article, ``RACE/<split>/<level>/<n>.txt`` with ``<level>`` one of
``middle`` and ``high``; a file holds one JSON object (the reference reads one per line; several
objects one after another are accepted here too) with the keys ``article``, ``questions``,
``options`` (one list per question), ``answers`` (one letter per question) and ``id`` (e.g.
``high123.txt``). Three places are read, all giving the very same :class:`RaceData`:

* a directory in the original layout, ``DIR/<split>/<level>/*.txt`` or ``DIR/RACE/<split>/...``;
* a directory holding ``RACE_<split>.tar.gz`` (or ``<split>.tar.gz``);
* a ``.tar.gz`` file itself (any tar compression is recognised).

Archives are streamed member by member (nothing is extracted to disk), and every member must be
a plain file or directory with a relative name and no ``..``: anything else (absolute names,
``..``, symbolic or hard links, devices, fifos) is refused with one error naming the archive and
the member. Files are taken level by level (``levels`` order, ``middle`` first as the
reference's loop does), in sorted file-name order within a level: the reference used
``os.listdir`` order, which differs between machines. One :class:`RaceExample` per question.
"""

from __future__ import annotations

import json
import tarfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from albertctl.errors import AlbertctlError

LEVELS: tuple[str, ...] = ("middle", "high")
"""RACE's two difficulty levels, in the reference's reading order."""

_KEYS = ("article", "questions", "options", "answers", "id")
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz")
_LAYOUT_HINT = (
    "expected DIR/{split}/{{middle,high}}/*.txt, DIR/RACE/{split}/..., DIR/RACE_{split}.tar.gz, "
    "or the RACE_{split}.tar.gz file itself"
)


@dataclass(frozen=True)
class RaceExample:
    """One question of one article, with its options; ``label`` indexes ``options``."""

    id: str
    """``<article id>#<question index>``, e.g. ``high123.txt#0``."""
    level: str
    article: str
    question: str
    options: tuple[str, ...]
    label: int

    @property
    def article_id(self) -> str:
        """The article's ``id`` field (``high123.txt``)."""
        return self.id.rpartition("#")[0]


@dataclass(frozen=True)
class RaceData:
    """The questions of one split and where they came from."""

    examples: list[RaceExample]
    source: Path
    num_articles: int

    def __len__(self) -> int:
        return len(self.examples)

    def level_counts(self) -> dict[str, int]:
        """Questions per level, in :data:`LEVELS` order."""
        counts = dict.fromkeys(LEVELS, 0)
        for example in self.examples:
            counts[example.level] = counts.get(example.level, 0) + 1
        return counts


@dataclass(frozen=True)
class _ArticleFile:
    """The raw bytes of one article file and how to name it in errors."""

    level: str
    name: str
    where: str
    raw: bytes


def read_race(path: Path | str, split: str, *, levels: Sequence[str] = LEVELS) -> RaceData:
    """The questions of ``split`` (``train``, ``dev``, ``test``) under ``path``, for ``levels``."""
    path = Path(path)
    levels = _check_levels(levels)
    if not split or "/" in split or "\\" in split or split in (".", ".."):
        raise AlbertctlError(f"RACE split {split!r} is not a split name", hint="use train, dev or test")
    source, files = _locate(path, split, levels)
    order = {level: i for i, level in enumerate(levels)}
    files.sort(key=lambda f: (order[f.level], f.name))
    examples: list[RaceExample] = []
    seen: dict[str, str] = {}
    num_articles = 0
    for file in files:
        for article in _parse_objects(_decode(file.raw, file.where), file.where):
            found = parse_article(article, level=file.level, where=file.where)
            article_id = str(article["id"])
            if article_id in seen:
                raise AlbertctlError(
                    f"{file.where}: article id {article_id!r} was already read from {seen[article_id]}",
                    hint="each article id must appear once in a split; remove the duplicate file",
                )
            seen[article_id] = file.where
            examples.extend(found)
            num_articles += 1
    if num_articles == 0:
        wanted = ", ".join(levels)
        raise AlbertctlError(
            f"no RACE {split} articles ({wanted}) in {path}", hint=_LAYOUT_HINT.format(split=split)
        )
    return RaceData(examples=examples, source=source, num_articles=num_articles)


def _check_levels(levels: Sequence[str]) -> tuple[str, ...]:
    levels = tuple(levels)
    unknown = [level for level in levels if level not in LEVELS]
    if not levels or unknown or len(set(levels)) != len(levels):
        raise AlbertctlError(
            f"RACE levels must be distinct values among {', '.join(LEVELS)}, got {list(levels)}",
            hint="pass middle, high or both",
        )
    return levels


def _locate(path: Path, split: str, levels: tuple[str, ...]) -> tuple[Path, list[_ArticleFile]]:
    """Where ``split`` lives under ``path`` -> (that place, its article files in any order)."""
    if path.is_file():
        return path, list(_iter_archive_files(path, split, levels))
    if not path.is_dir():
        raise AlbertctlError(f"RACE data {path} does not exist", hint=_LAYOUT_HINT.format(split=split))
    for root in (path / split, path / "RACE" / split):
        if root.is_dir():
            return root, list(_iter_directory_files(root, levels))
    for name in (f"RACE_{split}.tar.gz", f"{split}.tar.gz"):
        if (path / name).is_file():
            return path / name, list(_iter_archive_files(path / name, split, levels))
    raise AlbertctlError(f"no RACE {split} split under {path}", hint=_LAYOUT_HINT.format(split=split))


def _iter_directory_files(root: Path, levels: tuple[str, ...]) -> Iterator[_ArticleFile]:
    for level in levels:
        folder = root / level
        if not folder.is_dir():
            continue
        for file in folder.iterdir():
            if _is_article_name(file.name) and file.is_file():
                yield _ArticleFile(level, file.name, str(file), file.read_bytes())


def _is_article_name(name: str) -> bool:
    """``*.txt`` and not hidden (macOS tar adds ``._NAME`` resource-fork members)."""
    return name.endswith(".txt") and not name.startswith(".")


def check_member(archive: Path, member: tarfile.TarInfo) -> PurePosixPath:
    """The member's relative name, or one error if extracting it could escape or be more than a file."""
    name = PurePosixPath(member.name.replace("\\", "/"))  # a Windows-made archive may use "\\"
    kind = None
    if name.is_absolute():
        kind = "has an absolute name"
    elif ".." in name.parts:
        kind = "has a '..' component"
    elif member.issym():
        kind = f"is a symbolic link (to {member.linkname!r})"
    elif member.islnk():
        kind = f"is a hard link (to {member.linkname!r})"
    elif member.ischr() or member.isblk():
        kind = "is a device"
    elif member.isfifo():
        kind = "is a fifo"
    elif not (member.isfile() or member.isdir()):
        kind = "is not a regular file or directory"
    if kind is not None:
        raise AlbertctlError(
            f"{archive}: member {member.name!r} {kind}; refusing to read the archive",
            hint="a RACE archive holds only plain files and folders with relative names; "
            "re-create it from the original RACE folder",
        )
    return PurePosixPath(*(part for part in name.parts if part != "."))


def _iter_archive_files(archive: Path, split: str, levels: Sequence[str]) -> Iterator[_ArticleFile]:
    """The article files of ``split`` in a tar archive, streamed (every member is checked first)."""
    wanted = set(levels)
    try:
        with tarfile.open(archive, mode="r|*") as tar:
            for member in tar:
                name = check_member(archive, member)
                parts = name.parts
                if (
                    not member.isfile()
                    or len(parts) < 3
                    or parts[-3] != split
                    or parts[-2] not in wanted
                    or not _is_article_name(parts[-1])
                ):
                    continue
                handle = tar.extractfile(member)
                assert handle is not None  # a regular file always has contents
                yield _ArticleFile(parts[-2], parts[-1], f"{archive} member {member.name}", handle.read())
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise AlbertctlError(
            f"{archive} is not a readable tar archive ({exc})",
            hint="download it again (RACE_<split>.tar.gz), or point at the unpacked RACE folder",
        ) from None


def _decode(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise AlbertctlError(
            f"{where} is not UTF-8 text (line {line}, byte {exc.start}: {exc.reason})",
            hint="the RACE release is UTF-8; download or unpack that file again",
        ) from None


def _parse_objects(text: str, where: str) -> Iterator[object]:
    """The JSON values of one file, one after another (one per line in the release)."""
    decoder = json.JSONDecoder()
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos].isspace():
            pos += 1
        if pos == end:
            return
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise AlbertctlError(
                f"{where}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})",
                hint="the file is damaged; download or unpack it again",
            ) from None
        yield value


def _answer_index(answer: object, num_options: int) -> int | None:
    """``"A"`` -> 0, ... ; None when ``answer`` is not a letter naming one of the options."""
    if not isinstance(answer, str) or len(answer) != 1 or not "A" <= answer <= "Z":
        return None
    index = ord(answer) - ord("A")
    return index if index < num_options else None


def parse_article(obj: object, *, level: str, where: str) -> list[RaceExample]:
    """One article object -> one example per question (pure; ``where`` names it in errors)."""
    missing = [key for key in _KEYS if not isinstance(obj, dict) or key not in obj]
    if missing:
        raise AlbertctlError(
            f"{where}: no {', '.join(repr(k) for k in missing)} in the article object",
            hint=f"a RACE article file holds one JSON object with the keys {', '.join(_KEYS)}",
        )
    assert isinstance(obj, dict)
    article_id = str(obj["id"])
    at = f"{where}: article {article_id}"
    questions, options, answers = obj["questions"], obj["options"], obj["answers"]
    if not isinstance(obj["article"], str) or not all(
        isinstance(v, list) for v in (questions, options, answers)
    ):
        raise AlbertctlError(
            f"{at}: 'article' must be a string and 'questions', 'options', 'answers' lists",
            hint="the file is not in the RACE format, or it is damaged",
        )
    if not len(questions) == len(options) == len(answers):
        raise AlbertctlError(
            f"{at}: {len(questions)} questions, {len(options)} option lists and {len(answers)} answers",
            hint="each question needs one list of options and one answer letter",
        )
    examples = []
    for q, (question, choices, answer) in enumerate(zip(questions, options, answers, strict=True)):
        if not isinstance(question, str) or not isinstance(choices, list):
            raise AlbertctlError(
                f"{at} question {q}: the question must be a string and its options a list",
                hint="the file is not in the RACE format, or it is damaged",
            )
        if not choices or not all(isinstance(c, str) for c in choices):
            raise AlbertctlError(
                f"{at} question {q}: {'no options' if not choices else 'an option is not a string'}",
                hint="each question needs a list of option strings (4 in RACE)",
            )
        label = _answer_index(answer, len(choices))
        if label is None:
            letters = f"A-{chr(ord('A') + len(choices) - 1)}" if len(choices) > 1 else "A"
            raise AlbertctlError(
                f"{at} question {q}: answer {answer!r} is not one of its {len(choices)} options ({letters})",
                hint="answers are capital letters naming an option: A for the first",
            )
        examples.append(
            RaceExample(
                id=f"{article_id}#{q}",
                level=level,
                article=obj["article"],
                question=question,
                options=tuple(choices),
                label=label,
            )
        )
    return examples
