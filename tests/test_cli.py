"""The CLI skeleton: help, version, and the single error boundary."""

from __future__ import annotations

import subprocess
import sys

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


def test_user_error_is_one_line_and_exit_1(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["build-vocab", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "vocab")])
    assert exit_info.value.code == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "missing.txt" in lines[0]
    assert not (tmp_path / "vocab").exists()


def test_help_texts_survive_rich_markup() -> None:
    """Rich reads "[word]" in help text as a style tag and drops it; such brackets must be escaped."""
    import re

    import typer

    from albertctl.cli import app
    from albertctl.docgen import iter_commands

    tag = re.compile(r"(?<!\\)\[/?[a-z][\w .=#-]*\]")  # what rich would take for markup
    found = [
        f"{' '.join(path)} {getattr(param, 'name', '')}: {text!r}"
        for path, command in iter_commands(typer.main.get_command(app))
        for param in [None, *command.params]
        for text in [command.help if param is None else getattr(param, "help", None)]
        if text and tag.search(text)
    ]
    assert not found


def test_bracketed_help_is_shown(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit):
        main(["pipeline", "--help"])
    assert "overrides [inputs] glue_dir" in capsys.readouterr().out
