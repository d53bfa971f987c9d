"""Run every benchmark once, in a short configuration, one after another (``make bench``).

Each script prints its own comparison against the reference it names, measured in the same
run; this only runs them in sequence (never in parallel: they time the CPU) and says which
were skipped because ``../shared/data`` is absent. The full-size runs and their figures are in
docs/performance.md, with the command behind each.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"

# (script, arguments, needs ../shared/data)
RUNS: list[tuple[str, list[str], bool]] = [
    ("model_throughput.py", ["--flavors", "tiny", "--steps", "5", "--warmup", "2"], False),
    ("pretrain.py", ["--steps", "6", "--warmup", "2", "--precision", "bf16"], False),
    ("pretrain_bf16.py", [], False),
    ("finetune.py", ["--flavors", "tiny"], True),
    ("make_data.py", [], True),
    ("build_vocab.py", ["--lines", "50000", "--vocab-size", "8000", "--skip", "memory"], True),
    ("sentence_split.py", [], True),
    ("wordpiece.py", ["--megabytes", "1"], True),
]


def main() -> int:
    failed: list[str] = []
    for script, args, needs_shared in RUNS:
        if needs_shared and not SHARED.is_dir():
            print(f"== {script}: skipped ({SHARED} is absent)", flush=True)
            continue
        print(f"== {script} {' '.join(args)}", flush=True)
        start = time.perf_counter()
        code = subprocess.call([sys.executable, str(ROOT / "benchmarks" / script), *args], cwd=ROOT)
        print(f"== {script}: exit {code} after {time.perf_counter() - start:.0f} s", flush=True)
        if code != 0:
            failed.append(script)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
