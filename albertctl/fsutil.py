"""Atomic, self-describing outputs shared by every stage.

Every artifact directory is built in a sibling temporary directory and moved into place with
``os.replace`` only when complete, so a failed run never leaves a half-written output and never
destroys an existing one. JSON files are written ``*.tmp`` then renamed. Fingerprints are
sha256 digests used by manifests to tell whether an output still matches its inputs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from albertctl.errors import AlbertctlError

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_json(obj: Any) -> str:
    """Hex sha256 of a JSON value in canonical form (sorted keys, no spaces)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically (``path.tmp`` then rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    """Read a JSON file, turning a missing or corrupt file into a clear error."""
    path = Path(path)
    if not path.is_file():
        raise AlbertctlError(f"{path} does not exist", hint="check the path, or rebuild that output")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise AlbertctlError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
            hint="the file is corrupt or half-written; rebuild it",
        ) from exc


def plain_file_name(name: Any, *, source: Path) -> str:
    """``name`` when it is a plain file name (no folder part, not ``.``/``..``), else one clear error.

    File names read from a manifest are joined to that manifest's directory; a name like
    ``../../x`` or ``/etc/x`` would read or write outside it.
    """
    if (
        not isinstance(name, str)
        or name in ("", ".", "..")
        or "/" in name
        or "\\" in name
        or "\0" in name
        or Path(name).is_absolute()
    ):
        raise AlbertctlError(
            f"{source} lists the file {name!r}, which is not a plain file name inside its directory",
            hint="the manifest was edited or damaged; rebuild that directory with albertctl make-data",
        )
    return name


def check_output_dir(out: Path, *, overwrite: bool) -> None:
    """Refuse to touch an existing, non-empty output directory unless ``overwrite`` is set."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise AlbertctlError(f"output {out} exists and is not a directory", hint="choose another --out")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise AlbertctlError(
            f"output directory {out} already exists and is not empty",
            hint="pass --overwrite to replace it, or choose another --out",
        )


@contextlib.contextmanager
def atomic_dir(out: Path, *, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary sibling of ``out`` to fill; move it into place only on success.

    The previous ``out`` (kept when ``overwrite`` is set) is replaced only after the new one is
    complete; on any exception the temporary directory is removed and ``out`` is untouched.
    """
    out = Path(out)
    check_output_dir(out, overwrite=overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
