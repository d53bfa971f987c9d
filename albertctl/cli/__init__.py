"""The ``albertctl`` command line: wires one module per command and is the single error boundary.

Commands are thin: flags -> config dataclass -> one library call -> render. Any
:class:`~albertctl.errors.AlbertctlError`, ``ValueError`` or file error raised below, and any bad
flag (unknown, wrong type, out of range), is printed as one ``error: ...`` line and exits with
code 1; ``--debug`` shows the traceback instead. A run imports only the modules of its command
(``COMMAND_MODULES``); ``albertctl.cli.app`` is the whole app.
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from albertctl import __version__
from albertctl.cli.options import typer_app
from albertctl.errors import AlbertctlError

# The command modules, and for each top-level command (in help order: click lists commands, then
# groups) the modules that add it; a group's are every module adding a subcommand to it. A run
# imports only its command's modules: the others' imports (torch among them) would be most of a
# short command's start-up. Help for the whole app, or an unknown command, registers all of them.
_MODULES = (
    "build_vocab",
    "make_data",
    "pretrain",
    "finetune",
    "clue",
    "reading",
    "cmrc",
    "eval_pretrain",
    "export",
    "importer",
    "pipeline",
)
_TASK_GROUPS = ("finetune", "clue", "reading", "cmrc", "eval_pretrain")
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "build-vocab": ("build_vocab",),
    "make-data": ("make_data",),
    "inspect-data": ("make_data",),
    "merge-data": ("make_data",),
    "pretrain": ("pretrain",),
    "plot": ("pretrain",),
    "pipeline": ("pipeline",),
    "demo-data": ("pipeline",),
    "finetune": _TASK_GROUPS,
    "eval": _TASK_GROUPS,
    "predict": _TASK_GROUPS,
    "export": ("export",),
    "import": ("importer",),
}

# Commands that never multiply matrices with numpy: numpy's OpenBLAS need not start a thread per
# core at import (~70 ms of CPU in each process, make-data's workers included) unless the user
# asked for it.
_NO_BLAS_THREADS = frozenset({"build-vocab", "make-data", "inspect-data", "merge-data"})

_app = typer_app("albertctl", "From raw text to a pretrained and fine-tuned ALBERT.")
_registered: set[str] = set()


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"albertctl {__version__}")
        raise typer.Exit()


@_app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks for errors.")] = False,
) -> None:
    """albertctl: build-vocab -> make-data -> pretrain -> finetune glue."""


def _register(modules: tuple[str, ...] = _MODULES) -> typer.Typer:
    """The app with (at least) ``modules`` registered, each once per process, commands in help order."""
    for name in _MODULES:
        if name in modules and name not in _registered:
            importlib.import_module(f"albertctl.cli.{name}").register(_app)
            _registered.add(name)
    order = {name: index for index, name in enumerate(COMMAND_MODULES)}
    _app.registered_commands.sort(key=lambda info: order.get(str(info.name), len(order)))
    _app.registered_groups.sort(key=lambda info: order.get(str(info.name), len(order)))
    return _app


def _command_of(args: list[str]) -> str | None:
    """The top-level command of a command line (root options take no value), if any."""
    return next((a for a in args if not a.startswith("-")), None)


def __getattr__(name: str) -> typer.Typer:
    if name == "app":  # the whole app (docs, tests): every command registered
        return _register()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# click's usage-error and abort classes, found through typer's public BadParameter/Abort so this
# works whether typer vendors click (0.26+) or uses the click package.
_USAGE_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
_ABORT = typer.Abort

# User mistakes and file-system errors are one line; anything else is a bug and shows its traceback.
_USER_ERRORS = (
    AlbertctlError,
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
)

# Errors of the storage, not of albertctl or its input: one line like a user error.
_STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app and turn user errors into one line + exit 1."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        command = _command_of(args)
        if command in _NO_BLAS_THREADS and "numpy" not in sys.modules:
            os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        modules = COMMAND_MODULES.get(command, _MODULES) if command is not None else _MODULES
        code = _register(modules)(args, prog_name="albertctl", standalone_mode=False)
    except _USAGE_ERROR as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: its help, as click prints it
            exc.show()
            raise SystemExit(exc.exit_code) from None
        # A bad flag or value (unknown option, out of range, wrong type): one line, exit 1.
        where = exc.ctx.command_path if exc.ctx is not None else "albertctl"
        err.print(Text.assemble(("error:", "bold red"), f" {exc.format_message()} (see {where} --help)"))
        raise SystemExit(1) from None
    except _USER_ERRORS as exc:
        if debug:
            raise
        # The message is plain text: square brackets (e.g. "albertctl[plot]") must survive.
        err.print(Text.assemble(("error:", "bold red"), f" {exc}"))
        raise SystemExit(1) from None
    except OSError as exc:
        if debug or exc.errno not in _STORAGE_ERRNOS:
            raise
        # Disk full (or quota, read-only, file too large) from any writer: the outputs are atomic,
        # so the partial one is already gone; say where, and how to go on.
        where = f" {exc.filename}" if exc.filename else ""
        err.print(
            Text.assemble(
                ("error:", "bold red"),
                f" cannot write{where}: {exc.strerror} (free space there or choose another --out, "
                "then rerun; nothing half-written was kept, and a pretraining run goes on with --resume)",
            )
        )
        raise SystemExit(1) from None
    except (KeyboardInterrupt, _ABORT):
        err.print("interrupted")
        raise SystemExit(130) from None
    raise SystemExit(code if isinstance(code, int) else 0)
