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
    proc = subprocess.run([sys.executable, "-m", "albertctl", "--help"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    assert "build-vocab" in proc.stdout or "Usage" in proc.stdout
