"""Placeholder for the `pipeline` command module; its owner replaces this file."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
