"""The ``albertctl`` command line: wires one module per command and is the single error boundary.

Commands are thin: flags -> config dataclass -> one library call -> render. Any
:class:`~albertctl.errors.AlbertctlError`, ``ValueError`` or file error raised below, and any bad
flag (unknown, wrong type, out of range), is printed as one ``error: ...`` line and exits with
code 1; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import errno
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from albertctl import __version__
from albertctl.cli import (
    build_vocab,
    clue,
    cmrc,
    eval_pretrain,
    export,
    finetune,
    importer,
    make_data,
    pipeline,
    pretrain,
    reading,
)
from albertctl.cli.options import typer_app
from albertctl.errors import AlbertctlError

app = typer_app("albertctl", "From raw text to a pretrained and fine-tuned ALBERT.")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"albertctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks for errors.")] = False,
) -> None:
    """albertctl: build-vocab -> make-data -> pretrain -> finetune glue."""


for _module in (
    build_vocab,
    make_data,
    pretrain,
    finetune,
    clue,
    reading,
    cmrc,
    eval_pretrain,
    export,
    importer,
    pipeline,
):
    _module.register(app)

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
        code = app(args, prog_name="albertctl", standalone_mode=False)
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
