"""Read GLUE examples from the classic TSV layout or the Hugging Face layout.

Classic layout (what ``download_glue_data.py`` writes): ``GLUE_DIR/CoLA/train.tsv``,
``GLUE_DIR/MNLI/dev_matched.tsv``, ``GLUE_DIR/diagnostic/diagnostic.tsv``, ... Rows are split on
tabs with no quote handling (sentences carry unbalanced ``"``), files are read as ``utf-8-sig``
(MRPC starts with a BOM), CoLA train/dev have no header, QQP's short rows are skipped as the
reference does. A row with the wrong number of columns or a label outside the task's set is an
error naming ``file:line``.

CLUE layout (JSON lines, what ``*_public.zip`` unpacks to): ``DIR/tnews/train.json``,
``DIR/afqmc/dev.json``, ``DIR/ocnli/train.50k.json``, ``DIR/tnews/test1.0.json``: one object per
line, keys from the task's ``json_fields``, labels as strings; a bad line is an error naming
``file:line``. NLI rows labelled ``"-"`` are skipped (counted in ``skipped_rows``), CSL's keyword
list is joined with spaces, and CLUEWSC2020's two spans are marked in the text as CLUE's baseline
does (:func:`mark_wsc_spans`). Where CLUE ships ``labels.json``, its label set is checked
against the registry's.

Hugging Face layout: ``DIR/<hf name>/<split>/data-*.arrow`` (``save_to_disk``, Arrow stream
files + ``dataset_info.json``) or parquet files (``DIR/<hf name>/<split>/*.parquet`` or the
hub's ``DIR/<hf name>/<split>-*.parquet``). Integer class labels are mapped to our label ids
through the ClassLabel names (MNLI orders them differently); ``-1`` means unlabeled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from albertctl.errors import AlbertctlError
from albertctl.fsutil import read_utf8
from albertctl.glue.tasks import LAST, JsonFields, TaskSpec, TsvColumns

_HF_SPLITS = {
    "train": "train",
    "dev": "validation",
    "dev_matched": "validation_matched",
    "dev_mismatched": "validation_mismatched",
    "test": "test",
    "test_matched": "test_matched",
    "test_mismatched": "test_mismatched",
    "diagnostic": "test",
}


@dataclass(frozen=True)
class Example:
    """One GLUE example; ``label`` is a class id, a float score (STS-B) or None (test)."""

    guid: str
    text_a: str
    text_b: str | None
    label: int | float | None


@dataclass(frozen=True)
class SplitData:
    """The examples of one split and where they came from."""

    examples: list[Example]
    source: Path
    skipped_rows: int = 0
    """Rows dropped on purpose (QQP's short rows)."""


def _is_hf_dir(path: Path) -> bool:
    """True when ``path`` looks like a Hugging Face task folder rather than TSV files."""
    if any(path.glob("*.tsv")):
        return False
    return (
        (path / "dataset_dict.json").is_file()
        or any(path.glob("*/data-*.arrow"))
        or any(path.glob("*.parquet"))
        or any(path.glob("*/*.parquet"))
    )


def find_task_dir(spec: TaskSpec, data_dir: Path) -> tuple[str, Path]:
    """Locate a task under ``data_dir`` -> (``"tsv"`` or ``"hf"``, folder).

    Accepts the classic folder name (``SST-2``), the Hugging Face one (``sst2``) in any case, or
    ``data_dir`` being the task folder itself. AX is also looked for beside MNLI.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise AlbertctlError(f"GLUE data directory {data_dir} does not exist", hint="check --data-dir")
    wanted = {spec.dir_name.lower(), spec.hf_name.lower(), spec.name}
    if spec.json_fields is not None:
        wanted.add(f"{spec.name}_public")  # the folder CLUE's tnews_public.zip unpacks to
    if spec.name == "ax":
        wanted |= {"ax", "mnli"}
    candidates = sorted(p for p in data_dir.iterdir() if p.is_dir() and p.name.lower() in wanted)
    if spec.name == "ax":
        # Prefer a folder that really holds diagnostic.tsv (download_glue_data puts it in diagnostic/).
        candidates.sort(key=lambda p: not (p / "diagnostic.tsv").is_file())
    if data_dir.name.lower() in wanted:
        candidates.append(data_dir)
    for path in candidates:
        if spec.json_fields is not None and any(path.glob("*.json")) and not _is_hf_dir(path):
            return "json", path
        if _is_hf_dir(path):
            return "hf", path
        if any(path.glob("*.tsv")):
            return "tsv", path
    files = f"{spec.dir_name}/*.json" if spec.json_fields is not None else f"{spec.dir_name}/*.tsv"
    raise AlbertctlError(
        f"no {spec.dir_name} data under {data_dir} (looked for {files} or {spec.hf_name}/ "
        "in the Hugging Face layout)",
        hint=f"point --data-dir at the folder that holds the {spec.benchmark} task folders",
    )


def _json_path(spec: TaskSpec, folder: Path, split: str) -> Path:
    """The file of one JSON-lines split (train: the first of the task's ``train_stems`` present)."""
    assert spec.json_fields is not None
    stems = spec.json_fields.train_stems if split == "train" else (split,)
    for stem in stems:
        if (folder / f"{stem}.json").is_file():
            return folder / f"{stem}.json"
    return folder / f"{stems[0]}.json"


def read_split(spec: TaskSpec, data_dir: Path, split: str) -> SplitData:
    """Read one split (``train``, ``dev``, ``dev_matched``, ``test``, ``diagnostic``, ...)."""
    layout, folder = find_task_dir(spec, data_dir)
    if layout == "hf":
        return read_hf_split(spec, folder, split)
    suffix = ".json" if layout == "json" else ".tsv"
    path = _json_path(spec, folder, split) if layout == "json" else folder / f"{split}{suffix}"
    if not path.is_file():
        present = ", ".join(sorted(p.name for p in folder.glob(f"*{suffix}"))) or "none"
        raise AlbertctlError(
            f"missing {spec.dir_name} file {path} (present: {present})",
            hint="download the complete task (e.g. with download_glue_data.py, or CLUE's *_public.zip)",
        )
    if layout == "json":
        assert spec.json_fields is not None
        if spec.json_fields.labels_file is not None and (folder / spec.json_fields.labels_file).is_file():
            check_labels_file(spec, folder / spec.json_fields.labels_file)
        return read_jsonl(path, spec, spec.json_fields, labelled=not split.startswith("test"))
    columns = spec.test if split.startswith("test") or split == "diagnostic" else spec.train_dev
    if columns is None:
        raise AlbertctlError(f"{spec.dir_name} has no TSV layout", hint="use its JSON or Hugging Face files")
    return read_tsv(path, spec, columns)


def check_labels_file(spec: TaskSpec, path: Path) -> None:
    """CLUE's ``labels.json`` (one ``{"label": ..., "label_des(c)": ...}`` per line) must list
    exactly the registry's labels: a model's class ids are positions in that list."""
    assert spec.labels is not None
    listed: list[str] = []
    for lineno, line in enumerate(read_utf8(path, encoding="utf-8-sig").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            listed.append(str(json.loads(line)["label"]))
        except (json.JSONDecodeError, KeyError, TypeError):
            raise AlbertctlError(
                f'{path}:{lineno}: not a {{"label": ...}} object', hint="restore CLUE's labels.json"
            ) from None
    if sorted(listed) != sorted(spec.labels):
        extra = sorted(set(listed) - set(spec.labels))
        missing = sorted(set(spec.labels) - set(listed))
        raise AlbertctlError(
            f"{path} lists other labels than {spec.dir_name} has "
            f"(not in the task: {', '.join(extra) or 'none'}; absent: {', '.join(missing) or 'none'})",
            hint="use the labels.json of CLUE's own *_public.zip, or check that --task matches the data",
        )


def mark_wsc_spans(text: str, span1: tuple[int, str], span2: tuple[int, str], where: str) -> str:
    """CLUEWSC2020 as one sentence: the candidate (span 1) between ``_``, the pronoun (span 2)
    between ``[`` ``]``, as CLUE's baseline ``WscProcessor`` writes it.

    ``span`` is (character index into ``text``, span text); a span whose text is not at its index
    is an error naming ``where``. At an equal position a closing mark goes before an opening one,
    which is what the baseline's successive list inserts give for touching spans."""
    marks: list[tuple[int, int, str]] = []  # (position, 0 closing / 1 opening, mark)
    for (start, span), (left, right) in ((span1, ("_", "_")), (span2, ("[", "]"))):
        if not span or text[start : start + len(span)] != span:
            raise AlbertctlError(
                f"{where}: span {span!r} is not at character {start} of the text "
                f"(found {text[start : start + len(span)]!r})",
                hint="fix target.span1_index/span2_index of that line (0-based character offsets)",
            )
        marks += [(start, 1, left), (start + len(span), 0, right)]
    pieces, last = [], 0
    for position, _, mark in sorted(marks):
        pieces += [text[last:position], mark]
        last = position
    return "".join(pieces) + text[last:]


def _text(row: dict, key: str, fields: JsonFields, where: str) -> str:
    """A text value; a list of strings (CSL's keywords) is joined with ``list_separator``."""
    value = row[key]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return fields.list_separator.join(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise AlbertctlError(
            f"{where}: {key!r} is {type(value).__name__}, not text", hint="fix or remove that line"
        )
    return value


def _wsc_text(row: dict, fields: JsonFields, where: str) -> str:
    """CLUEWSC2020's text with its ``target`` spans marked (:func:`mark_wsc_spans`)."""
    assert fields.wsc_target is not None
    target = row[fields.wsc_target]
    try:
        span1 = (int(target["span1_index"]), str(target["span1_text"]))
        span2 = (int(target["span2_index"]), str(target["span2_text"]))
    except (KeyError, TypeError, ValueError):
        raise AlbertctlError(
            f"{where}: {fields.wsc_target!r} needs span1_index, span1_text, span2_index, span2_text",
            hint="the file is not CLUEWSC2020's layout, or that line is damaged",
        ) from None
    return mark_wsc_spans(_text(row, fields.text_a, fields, where), span1, span2, where)


def read_jsonl(path: Path, spec: TaskSpec, fields: JsonFields, *, labelled: bool = True) -> SplitData:
    """Read one JSON-lines split (CLUE): an object per line with the task's keys."""
    examples: list[Example] = []
    skipped = 0
    row_index = -1  # 0-based among non-blank lines: the id of a row without one
    for lineno, line in enumerate(read_utf8(path, encoding="utf-8-sig").split("\n"), start=1):
        if not line.strip():
            continue
        row_index += 1
        where = f"{path}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise AlbertctlError(
                f"{where}: not a JSON object ({exc.msg})", hint="fix or remove that line"
            ) from None
        wanted = (fields.text_a, fields.text_b, fields.wsc_target, fields.label if labelled else None)
        keys = [k for k in wanted if k is not None]
        missing = [k for k in keys if not isinstance(row, dict) or k not in row]
        if missing:
            raise AlbertctlError(
                f"{where}: no {', '.join(repr(k) for k in missing)} for {spec.dir_name}",
                hint="the file is not in the CLUE layout for this task, or that line is damaged",
            )
        if labelled and str(row[fields.label]).strip() in fields.skip_labels:
            skipped += 1
            continue
        label = _parse_label(spec, str(row[fields.label]), where) if labelled else None
        guid = next((str(row[k]) for k in fields.id_keys if k in row), str(row_index))
        text_a = (
            _wsc_text(row, fields, where) if fields.wsc_target else _text(row, fields.text_a, fields, where)
        )
        text_b = _text(row, fields.text_b, fields, where) if fields.text_b is not None else None
        examples.append(Example(guid=guid, text_a=text_a, text_b=text_b, label=label))
    return SplitData(examples=examples, source=path, skipped_rows=skipped)


def _column(row: list[str], index: int) -> str:
    return row[LAST] if index == LAST else row[index]


def _parse_label(spec: TaskSpec, value: str, where: str) -> int | float:
    """Label text -> class id or float, with a ``file:line`` error for anything else."""
    value = value.strip()
    if spec.labels is None:
        try:
            return float(value)
        except ValueError:
            raise AlbertctlError(
                f"{where}: label {value!r} is not a number ({spec.dir_name} is a regression task)",
                hint="fix or remove that row",
            ) from None
    if value not in spec.labels:
        raise AlbertctlError(
            f"{where}: label {value!r} is not one of {', '.join(spec.labels)} for {spec.dir_name}",
            hint="fix or remove that row, or check that --task matches the data",
        )
    return spec.label_id(value)


def parse_tsv_lines(lines: list[str], spec: TaskSpec, columns: TsvColumns, source: str) -> SplitData:
    """Parse the lines of one TSV file (pure: no I/O) into examples."""
    examples: list[Example] = []
    skipped = 0
    needed = max(c for c in (columns.text_a, columns.text_b, columns.label, columns.guid, 0) if c is not None)
    minimum = max(columns.min_columns, needed + 1)
    for lineno, raw in enumerate(lines, start=1):
        if lineno == 1 and columns.header:
            continue
        line = raw.rstrip("\n").rstrip("\r")
        if not line.strip():
            continue
        row = line.split("\t")
        where = f"{source}:{lineno}"
        bad = len(row) != columns.num_columns if columns.num_columns is not None else len(row) < minimum
        if bad and spec.skip_short_rows and len(row) < (columns.num_columns or minimum):
            skipped += 1
            continue
        if bad:
            expected = columns.num_columns if columns.num_columns is not None else f"at least {minimum}"
            raise AlbertctlError(
                f"{where}: expected {expected} tab-separated columns for {spec.dir_name}, found {len(row)}",
                hint="the file is not in the GLUE layout for this task, or that row is damaged",
            )
        label = _parse_label(spec, _column(row, columns.label), where) if columns.label is not None else None
        guid = _column(row, columns.guid).strip() if columns.guid is not None else str(len(examples))
        text_b = _column(row, columns.text_b) if columns.text_b is not None else None
        examples.append(Example(guid=guid, text_a=_column(row, columns.text_a), text_b=text_b, label=label))
    return SplitData(examples=examples, source=Path(source), skipped_rows=skipped)


def read_tsv(path: Path, spec: TaskSpec, columns: TsvColumns) -> SplitData:
    """Read one classic GLUE TSV file (``utf-8-sig``: a leading BOM is dropped)."""
    # newline="" keeps a stray "\r" inside a field from splitting a row.
    lines = read_utf8(path, encoding="utf-8-sig", newline="").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return parse_tsv_lines(lines, spec, columns, str(path))


def _hf_files(folder: Path, split: str) -> list[Path]:
    """The data files of one split in either Hugging Face layout."""
    split_dir = folder / split
    if split_dir.is_dir():
        files = sorted(split_dir.glob("data-*.arrow")) or sorted(split_dir.glob("*.arrow"))
        return files or sorted(split_dir.glob("*.parquet"))
    return sorted(folder.glob(f"{split}-*.parquet")) or sorted(folder.glob(f"{split}.parquet"))


def _read_arrow_table(path: Path):  # -> pyarrow.Table
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.suffix == ".parquet":
        return pq.read_table(path)
    try:
        with pa.memory_map(str(path)) as source:
            return pa.ipc.open_stream(source).read_all()
    except pa.ArrowInvalid:
        with pa.memory_map(str(path)) as source:
            return pa.ipc.open_file(source).read_all()


def _hf_label_names(folder: Path, split: str, spec: TaskSpec) -> tuple[str, ...] | None:
    """ClassLabel names from ``dataset_info.json`` when present, else the registry's."""
    for info in (folder / split / "dataset_info.json", folder / "dataset_info.json"):
        if info.is_file():
            names = (
                json.loads(info.read_text(encoding="utf-8")).get("features", {}).get("label", {}).get("names")
            )
            if names and spec.labels is not None and all(name in spec.labels for name in names):
                return tuple(names)
    return spec.hf_label_names


def read_hf_split(spec: TaskSpec, folder: Path, split: str) -> SplitData:
    """Read one split of a task saved by ``datasets`` (``save_to_disk``) or as parquet."""
    import pyarrow as pa

    hf_split = _HF_SPLITS.get(split, split)
    files = _hf_files(folder, hf_split)
    if not files:
        raise AlbertctlError(
            f"missing split {hf_split!r} of {spec.hf_name} under {folder}",
            hint="save that split too (datasets: load_dataset('glue', ...).save_to_disk(...))",
        )
    table = pa.concat_tables([_read_arrow_table(path) for path in files])
    col_a, col_b = spec.hf_columns
    for col in (col_a, col_b):
        if col is not None and col not in table.column_names:
            raise AlbertctlError(
                f"{files[0]}: no column {col!r} for {spec.hf_name} "
                f"(columns: {', '.join(table.column_names)})",
                hint="check that --task matches the data",
            )
    names = _hf_label_names(folder, hf_split, spec)
    text_a = table.column(col_a).to_pylist()
    text_b = table.column(col_b).to_pylist() if col_b is not None else [None] * len(text_a)
    labels = table.column("label").to_pylist() if "label" in table.column_names else [None] * len(text_a)
    guids = table.column("idx").to_pylist() if "idx" in table.column_names else list(range(len(text_a)))
    examples = []
    for row, (guid, a, b, raw) in enumerate(zip(guids, text_a, text_b, labels, strict=True)):
        examples.append(
            Example(guid=str(guid), text_a=a, text_b=b, label=_hf_label(spec, raw, names, files[0], row))
        )
    return SplitData(examples=examples, source=files[0])


def _hf_label(
    spec: TaskSpec, raw: int | float | None, names: tuple[str, ...] | None, source: Path, row: int
) -> int | float | None:
    """A Hugging Face label -> our label id (None for the ``-1`` of unlabeled test rows)."""
    if raw is None:
        return None
    if spec.labels is None:
        return float(raw)
    if raw < 0:
        return None
    if raw >= (len(names) if names is not None else spec.num_labels):
        raise AlbertctlError(
            f"{source}: row {row}: label {raw} is outside the {spec.num_labels} classes of {spec.hf_name}",
            hint="check that --task matches the data",
        )
    return spec.label_id(names[raw]) if names is not None else int(raw)
