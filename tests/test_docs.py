"""The docs describe what exists: the CLI reference is regenerated and compared, and the other
pages only name commands that exist and error messages that the code really prints."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from albertctl import docgen
from albertctl.cli import app

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def test_cli_reference_is_up_to_date() -> None:
    expected = docgen.render_cli_reference(app)
    actual = docgen.CLI_DOC.read_text(encoding="utf-8") if docgen.CLI_DOC.is_file() else ""
    assert actual == expected, (
        "docs/cli.md is stale: run `.venv/bin/python -m albertctl.docgen` and commit it"
    )


def test_cli_reference_lists_every_command_and_flag() -> None:
    text = docgen.render_cli_reference(app)
    for path, command in docgen.iter_commands(typer.main.get_command(app)):
        assert f"## `albertctl {' '.join(path)}`" in text
        for param in command.params:
            for opt in param.opts:
                if opt.startswith("-"):
                    assert f"`{opt}`" in text, f"{opt} of {' '.join(path)} missing"


def test_render_a_small_app() -> None:
    small = typer.Typer()

    @small.command("go")
    def go(
        name: str = typer.Argument(help="Who."),
        times: int = typer.Option(2, "--times", min=1, help="How | often."),
        loud: bool = typer.Option(False, "--loud/--quiet", help="Volume."),
    ) -> None:
        """Say hello."""

    @small.command("stop")
    def stop() -> None:
        """Stop."""

    text = docgen.render_cli_reference(small)
    assert "## `albertctl go`" in text and "## `albertctl stop`" in text
    assert "| `--times` | int ≥ 1 | `2` | How \\| often. |" in text
    assert "| `--loud` / `--quiet` | bool | `--quiet` | Volume. |" in text
    assert "albertctl go [OPTIONS] NAME" in text


def source_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted((REPO / "albertctl").rglob("*.py")))


def test_troubleshooting_headings_are_real_messages() -> None:
    headings = re.findall(r"^### `([^`]+)`$", (DOCS / "troubleshooting.md").read_text(encoding="utf-8"), re.M)
    assert len(headings) >= 15
    source = source_text()
    missing = [h for h in headings if h not in source]
    assert not missing, f"troubleshooting.md names messages the code no longer prints: {missing}"


def test_docs_name_only_existing_commands() -> None:
    commands = {" ".join(path) for path, _ in docgen.iter_commands(typer.main.get_command(app))}
    firsts = {c.split()[0] for c in commands}
    for page in ("quickstart.md", "troubleshooting.md"):
        for used in re.findall(
            r"(?:^\s*|`)albertctl ([a-z][a-z-]+(?: [a-z]+)?)", (DOCS / page).read_text(encoding="utf-8"), re.M
        ):
            first = used.split()[0]
            assert first in firsts, f"{page} uses `albertctl {used}`, which does not exist"
            if first in ("finetune", "eval", "predict", "export"):
                assert used in commands, f"{page} uses `albertctl {used}`, which does not exist"


def test_demo_config_flags_exist() -> None:
    from albertctl import pipeline as pl
    from albertctl.cli.pipeline import known_flags

    config = pl.load_config(REPO / "configs" / "demo.toml")
    pl.validate_config(config, known_flags())
    assert set(known_flags()) == {"demo_data", "vocab", "data", "eval_data", "pretrain", "finetune"}
