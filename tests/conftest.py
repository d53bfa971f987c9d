"""Shared fixtures: where the optional real data lives, and small deterministic settings.

Tests make their tiny assets in-process; the real data in ``../shared/data`` (next to the
repository) is optional and tests that use it skip cleanly where it is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# Two cores are shared by the xdist workers: one intra-op thread each keeps tests predictable.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` when present, else skip the test."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present in this checkout")
    return SHARED_DATA
