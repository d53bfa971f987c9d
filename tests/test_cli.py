"""The CLI skeleton: help, version, and the single error boundary."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from albertctl import __version__
from albertctl.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"albertctl {__version__}"


def test_module_entry_point_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "albertctl", "--help"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0
    assert "build-vocab" in proc.stdout or "Usage" in proc.stdout


_IMPORTED = (
    "import sys\n"
    "from albertctl.cli import main\n"
    "try:\n"
    "    main(sys.argv[1:])\n"
    "except SystemExit:\n"
    "    pass\n"
    "print(sorted(m for m in sys.modules if m.startswith('albertctl.cli.')), 'torch' in sys.modules)\n"
    "import os\n"
    "print(os.environ.get('OPENBLAS_NUM_THREADS'))\n"
)


@pytest.mark.parametrize(
    ("argv", "modules"),
    [
        (["make-data", "--help"], ["albertctl.cli.make_data", "albertctl.cli.options"]),
        (["--debug", "build-vocab", "--help"], ["albertctl.cli.build_vocab", "albertctl.cli.options"]),
    ],
)
def test_a_command_imports_only_its_modules(argv: list[str], modules: list[str]) -> None:
    """A run imports its command's modules only (no torch for the data commands), and a data
    command starts no BLAS threads: start-up is paid by every make-data worker and short command."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    proc = subprocess.run(
        [sys.executable, "-c", _IMPORTED, *argv], capture_output=True, text=True, check=True, env=env
    )
    assert proc.stdout.strip().splitlines()[-2:] == [f"{modules} False", "1"]  # no BLAS threads
    env["OPENBLAS_NUM_THREADS"] = "2"  # the user's choice stands
    proc = subprocess.run(
        [sys.executable, "-c", _IMPORTED, *argv], capture_output=True, text=True, check=True, env=env
    )
    assert proc.stdout.strip().splitlines()[-1] == "2"


def test_command_table_matches_the_registered_commands() -> None:
    """``COMMAND_MODULES`` names every top-level command of the whole app, in help order, and
    registering a command's modules alone gives a working help for it."""
    import typer

    from albertctl import cli

    root = typer.main.get_command(cli.app)
    assert list(root.list_commands(None)) == list(cli.COMMAND_MODULES)
    for command in cli.COMMAND_MODULES:
        proc = subprocess.run(
            [sys.executable, "-m", "albertctl", command, "--help"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, (command, proc.stderr)
        assert f"albertctl {command}" in proc.stdout


def test_user_error_is_one_line_and_exit_1(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["build-vocab", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "vocab")])
    assert exit_info.value.code == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "missing.txt" in lines[0]
    assert not (tmp_path / "vocab").exists()


def _all_commands():
    import typer

    from albertctl.cli import app
    from albertctl.docgen import iter_commands

    return list(iter_commands(typer.main.get_command(app)))


def test_help_texts_are_plain() -> None:
    """Help is printed as written (click's layout, no rich markup), so no text may carry escapes."""
    found = [
        f"{' '.join(path)} {getattr(param, 'name', '')}: {text!r}"
        for path, command in _all_commands()
        for param in [None, *command.params]
        for text in [command.help if param is None else getattr(param, "help", None)]
        if text and "\\" in text
    ]
    assert not found


def test_help_reads_at_80_columns(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every option name whole, no line past 80 columns, no metavar on flags, a default shown once."""
    import re

    monkeypatch.setenv("COLUMNS", "80")
    commands = _all_commands()
    assert len(commands) >= 10
    for path, command in commands:
        with pytest.raises(SystemExit) as exit_info:
            main([*path, "--help"])
        assert exit_info.value.code == 0
        shown = capsys.readouterr().out
        where = " ".join(path)
        assert max(len(line) for line in shown.splitlines()) <= 80, where
        assert "<bool>" not in shown, where
        for param in command.params:
            for name in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]:
                if name.startswith("-"):
                    assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", shown), (where, name)
            record = param.get_help_record(command.make_context(path[-1], ["--help"], resilient_parsing=True))
            if record:  # (names, help with its default): the default is named at most once
                assert record[1].lower().count("default") <= 1, (where, record)


def test_bracketed_help_is_shown(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit):
        main(["pipeline", "--help"])
    assert "overrides [inputs] glue_dir" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["build-vocab", "x.txt", "--out", "v", "--vocab-size", "0"], "Invalid value for '--vocab-size'"),
        (["make-data", "x.txt", "--vocab", "v", "--out", "d", "--workers", "0"], "'--workers'"),
        (["pretrain", "--max-steps", "abc"], "'--max-steps'"),
        (["make-data", "--bogus"], "No such option: --bogus"),
    ],
)
def test_bad_flags_are_one_error_line_and_exit_1(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert f"(see albertctl {argv[0]} --help)" in lines[0] and captured.out == ""
    assert not any(tmp_path.iterdir())  # nothing written


def test_disk_full_is_one_line_and_keeps_the_old_output(
    tiny_corpus: Path, tiny_vocab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    """ENOSPC from any writer (here: the vocabulary's manifest, a make-data shard) is one line,
    exit 1, no temporary left, and an output being replaced with --overwrite is still there."""
    import errno
    import shutil

    import albertctl.data.shards
    import albertctl.vocab.build

    def full(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    old = tmp_path / "vocab"
    shutil.copytree(tiny_vocab, old)
    before = sorted(p.name for p in old.iterdir())
    monkeypatch.setattr(albertctl.vocab.build, "write_json", full)
    monkeypatch.setattr(albertctl.data.shards, "write_shard", full)
    for argv, out in (
        (["build-vocab", str(tiny_corpus), "--out", str(old), "--vocab-size", "300", "--overwrite"], old),
        (["make-data", str(tiny_corpus), "--vocab", str(tiny_vocab), "--out", str(tmp_path / "data")],
         tmp_path / "data"),
    ):  # fmt: skip
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 1
        lines = capsys.readouterr().err.strip().splitlines()  # progress lines come first
        errors = [line for line in lines if line.startswith("error:")]
        assert (
            errors == lines[-1:] and errors[0].startswith("error: cannot write ") and "No space" in errors[0]
        )
        assert not list(tmp_path.glob(f".{out.name}.tmp-*"))
    assert sorted(p.name for p in old.iterdir()) == before
    assert not (tmp_path / "data").exists()
