"""Tests about another library's behaviour name the versions they describe, and skip outside them.

A parity test or a test that pins an upstream bug describes that library as it was when it was
written; an upstream release that fixes the bug must not turn our suite red. ``make test`` runs the
locked versions (requirements/test.lock), where every such test runs; ``make test-latest`` shows
which of them newer releases skip, so the range can be widened after checking::

    @describes("transformers", ">=5.0,<5.25", "the converter adds a '▁' after a glued user symbol")
    def test_...
"""

from __future__ import annotations

from importlib import metadata

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version


def installed_version(dist: str) -> Version | None:
    try:
        return Version(metadata.version(dist))
    except metadata.PackageNotFoundError:
        return None


def describes(dist: str, versions: str, what: str) -> pytest.MarkDecorator:
    """Skip (saying why) unless the installed ``dist`` is in ``versions``, a PEP 440 specifier."""
    version = installed_version(dist)
    inside = version is not None and SpecifierSet(versions).contains(version, prereleases=True)
    shown = "not installed" if version is None else f"installed {version}"
    return pytest.mark.skipif(not inside, reason=f"describes {dist}{versions} ({what}); {dist} is {shown}")
