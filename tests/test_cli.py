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
