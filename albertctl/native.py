"""The compiled parts of albertctl, and the one switch that turns them off.

Two optional C extensions, built by setup.py where a compiler is at hand: make-data's pass over
a group (``albertctl.data._instances``) and the normalizer's fast check
(``albertctl.vocab._normalize``). Each has a pure-Python twin that gives the same bytes and is
its specification; ``ALBERTCTL_PURE_PYTHON=1`` makes every caller use the twins (to compare, or
to rule the compiled code out).
"""

from __future__ import annotations

import os

PURE_PYTHON_ENV = "ALBERTCTL_PURE_PYTHON"

PURE_PYTHON = os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0")
"""``ALBERTCTL_PURE_PYTHON`` as this process started (worker processes read it too); read once,
as the tokenizer asks for every text (an environment lookup costs as much as a short check)."""


def compiled_allowed() -> bool:
    """Whether the compiled parts may run (``ALBERTCTL_PURE_PYTHON`` unset, empty or 0)."""
    return not PURE_PYTHON
