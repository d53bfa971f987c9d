"""Atomic, self-describing outputs shared by every stage.

Every artifact directory is built in a sibling temporary directory and moved into place with
``os.replace`` only when complete, so a failed run never leaves a half-written output and never
destroys an existing one. JSON files are written ``*.tmp`` then renamed. Fingerprints are
sha256 digests used by manifests to tell whether an output still matches its inputs. One writer
per output: every command that writes one holds :func:`output_lock` on it while it runs.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import json
import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

from albertctl.errors import AlbertctlError

F = TypeVar("F", bound=Callable[..., Any])

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


def read_utf8(path: Path, *, encoding: str = "utf-8", newline: str | None = None) -> str:
    """The text of ``path``; bytes that are not UTF-8 are one clear error naming the file, line and
    byte (``encoding="utf-8-sig"`` drops a leading BOM; ``newline=""`` keeps "\r" as read)."""
    raw = Path(path).read_bytes()
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise AlbertctlError(
            f"{path} is not UTF-8 text (line {line}, byte {exc.start}: {exc.reason})",
            hint="convert it to UTF-8 (e.g. iconv -f cp1252 -t utf-8), or check that it is the right file",
        ) from None
    return text if newline == "" else text.replace("\r\n", "\n").replace("\r", "\n")


def read_json(path: Path) -> Any:
    """Read a JSON file, turning a missing or corrupt file into a clear error."""
    path = Path(path)
    if not path.is_file():
        raise AlbertctlError(f"{path} does not exist", hint="check the path, or rebuild that output")
    try:
        return json.loads(read_utf8(path))
    except json.JSONDecodeError as exc:
        raise AlbertctlError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
            hint="the file is corrupt or half-written; rebuild it",
        ) from exc


def write_safetensors(path: Path, tensors: dict[str, Any], *, fmt: str) -> None:
    """Write ``tensors`` as a safetensors file whose bytes depend only on the tensors.

    ``safetensors.torch.save_file`` orders a multi-key metadata header by a hash map (so equal
    runs gave different bytes) and creates the file 0600. Here the metadata has one key and the
    bytes are written through ``open``, so the mode follows the umask like every other output.
    """
    from safetensors.torch import save

    data = save(tensors, metadata={"format": fmt})
    tmp = Path(path).with_name(Path(path).name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


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


# Outputs this process holds the writer lock of, with a nesting count (locks are re-entrant here).
_HELD_LOCKS: dict[Path, int] = {}


def lock_path(out: Path) -> Path:
    """The lock file of an output: ``.NAME.lock`` beside it, present only while a writer holds it."""
    out = Path(out)
    return out.with_name(f".{out.name}.lock")


def _same_file(handle: Any, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except FileNotFoundError:
        return False


@contextlib.contextmanager
def output_lock(out: Path) -> Iterator[None]:
    """Be the only writer of ``out`` while the block runs; a second writer gets one clear error.

    An exclusive ``flock`` on :func:`lock_path`, taken without waiting: the OS releases it when the
    process ends, however it ends, so a killed run never blocks the next one. The holder writes
    its pid and host into the file for the message, and removes the file when done (while still
    holding the lock; a writer that locked a file already removed sees it and tries again, so
    two writers never hold two different files). Re-entrant within one process (a command that
    locks its output may call helpers that lock it again).
    """
    out = Path(out)
    key = out.absolute()
    if key in _HELD_LOCKS:
        _HELD_LOCKS[key] += 1
        try:
            yield
        finally:
            _HELD_LOCKS[key] -= 1
        return
    if fcntl is None:  # not a POSIX system: no lock (albertctl is tested on Linux)
        yield
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    path = lock_path(out)
    for _attempt in range(100):
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held for the block)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise AlbertctlError(
                f"{out} is being written by {holder}",
                hint="wait for that run to finish (or stop it), or choose another --out",
            ) from None
        if _same_file(handle, path):
            break
        handle.close()  # the previous holder removed that file as we locked it: lock the new one
    else:  # pragma: no cover - a hundred holders in a row
        raise AlbertctlError(f"could not lock {path}", hint="retry; another writer keeps taking it")
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"albertctl pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        _HELD_LOCKS[key] = 1
        try:
            yield
        finally:
            del _HELD_LOCKS[key]
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    finally:
        handle.close()  # releases the flock


def locks_output(param: str) -> Callable[[F], F]:
    """Decorator: hold :func:`output_lock` on the function's ``param`` argument while it runs."""

    def wrap(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def locked(*args: Any, **kwargs: Any) -> Any:
            with output_lock(Path(signature.bind(*args, **kwargs).arguments[param])):
                return fn(*args, **kwargs)

        return locked  # type: ignore[return-value]

    return wrap


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
    with output_lock(out):
        check_output_dir(out, overwrite=overwrite)
        out.parent.mkdir(parents=True, exist_ok=True)
        for stale in out.parent.glob(f".{out.name}.tmp-*"):  # left by a killed writer (we hold the lock)
            shutil.rmtree(stale, ignore_errors=True)
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
