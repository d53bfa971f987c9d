"""Print the installed packages whose version differs from a lock file (for `make test-latest`).

    python requirements/compare.py requirements/test.lock

Reads the lock's ``name==version ; marker`` lines, keeps those whose marker holds for this
interpreter, and compares them with what this environment has installed. Exit code 0 always:
the suite run that follows decides whether a difference broke anything.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata

from packaging.markers import Marker
from packaging.utils import canonicalize_name

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def locked_versions(text: str) -> dict[str, str]:
    """``{canonical name: version}`` of the pins that apply to this interpreter."""
    pins = {}
    for line in text.splitlines():
        match = _PIN.match(line.strip())
        if match and (match.group(3) is None or Marker(match.group(3)).evaluate()):
            pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def main(lock: str) -> None:
    with open(lock, encoding="utf-8") as handle:
        pins = locked_versions(handle.read())
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    moved = [
        (name, pins[name], installed[name])
        for name in sorted(pins)
        if installed.get(name, pins[name]) != pins[name]
    ]
    if not moved:
        print(f"test-latest: every package is at its {lock} version")
    for name, old, new in moved:
        print(f"test-latest: {name} {old} (lock) -> {new} (newest allowed)")


if __name__ == "__main__":
    main(sys.argv[1])
