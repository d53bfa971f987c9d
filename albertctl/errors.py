"""The one exception type for user mistakes.

Library code raises :class:`AlbertctlError` (a ``ValueError``) when the input, a flag or a
file is wrong; the CLI turns it into a single ``error: ...`` line and exit code 1. The message
says what was wrong and where; ``hint`` says how to fix it.
"""

from __future__ import annotations


class AlbertctlError(ValueError):
    """A mistake the user can fix: bad input, a bad flag, a missing or clashing file."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message
