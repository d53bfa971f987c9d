"""Compare pretraining recipes on the same data: held-out MLM/SOP accuracy at equal sequences seen.

Each recipe is ``NAME=OPTIMIZER:LR:BATCH:STEPS:WARMUP[:PRECISION]`` and runs as its own
``albertctl pretrain`` process (the real CLI), ``--parallel`` at a time, each evaluated on the
held-out data at ``--evals`` evenly spaced steps. A run still going after ``--budget-minutes`` gets
SIGTERM (the Ctrl-C path: it saves and stops). The table lists every evaluation by sequences seen,
so recipes with different batch sizes line up::

    .venv/bin/python benchmarks/pretrain_recipes.py --data D --eval-data E \\
        --recipe a=adamw:3e-4:64:4700:470 --recipe l=lamb:5e-3:128:2350:235 --parallel 2

On a GPU machine many tiny runs share the one device well (``--parallel 8 --threads 2``); the
sequences-seen axis makes its numbers comparable to a CPU run of the same recipe (bf16 autocast on
both, different kernels: expect small differences, not different conclusions).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def _parse(spec: str) -> dict[str, str]:
    name, _, rest = spec.partition("=")
    parts = rest.split(":")
    if not name or len(parts) not in (5, 6):
        raise SystemExit(f"--recipe {spec!r}: expected NAME=OPTIMIZER:LR:BATCH:STEPS:WARMUP[:PRECISION]")
    keys = ("optimizer", "lr", "batch_size", "max_steps", "warmup_steps", "precision")
    recipe = dict(zip(keys, parts, strict=False))
    recipe.setdefault("precision", "auto")
    recipe["name"] = name
    return recipe


def _command(recipe: dict[str, str], args: argparse.Namespace) -> list[str]:
    steps = int(recipe["max_steps"])
    return [
        sys.executable, "-m", "albertctl", "pretrain",
        *[f"--data={d}" for d in args.data], f"--eval-data={args.eval_data}",
        f"--out={args.work / recipe['name']}", "--overwrite", f"--model={args.model}",
        f"--optimizer={recipe['optimizer']}", f"--lr={recipe['lr']}",
        f"--batch-size={recipe['batch_size']}", f"--max-steps={steps}",
        f"--warmup-steps={recipe['warmup_steps']}", f"--precision={recipe['precision']}",
        f"--eval-every={max(1, steps // args.evals)}", f"--eval-max-sequences={args.eval_sequences}",
        f"--save-every={10**9}", "--keep-last=1", "--log-every=50", f"--device={args.device}",
        f"--seed={args.seed}", *([f"--threads={args.threads}"] if args.threads else []),
    ]  # fmt: skip


def _run_all(recipes: list[dict[str, str]], args: argparse.Namespace) -> None:
    args.work.mkdir(parents=True, exist_ok=True)
    pending, running = list(recipes), []
    while pending or running:
        while pending and len(running) < args.parallel:
            recipe = pending.pop(0)
            log = open(args.work / f"{recipe['name']}.log", "w")  # noqa: SIM115 - closed below
            proc = subprocess.Popen(_command(recipe, args), stdout=log, stderr=subprocess.STDOUT)
            running.append((recipe, proc, log, time.monotonic(), False))
        time.sleep(1.0)
        still = []
        for recipe, proc, log, started, signalled in running:
            if proc.poll() is not None:
                log.close()
                print(f"{recipe['name']}: exit {proc.returncode} after {time.monotonic() - started:.0f} s")
                continue
            if not signalled and time.monotonic() - started > args.budget_minutes * 60:
                proc.send_signal(signal.SIGTERM)
                signalled = True
            still.append((recipe, proc, log, started, signalled))
        running = still


def _table(recipes: list[dict[str, str]], args: argparse.Namespace) -> dict[str, list[dict]]:
    curves = {}
    for recipe in recipes:
        path = args.work / recipe["name"] / "metrics.jsonl"
        records = [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []
        batch = int(recipe["batch_size"])
        curves[recipe["name"]] = [
            {"step": r["step"], "sequences": r["step"] * batch, "loss": r["loss"],
             "mlm_acc": r["mlm_acc"], "sop_acc": r["sop_acc"]}
            for r in records if r["split"] == "eval"
        ]  # fmt: skip
    print(f"\n{'recipe':<10} {'optimizer':<9} {'lr':>8} {'batch':>5} {'steps':>6} "
          f"{'step':>6} {'seqs seen':>10} {'eval loss':>9} {'MLM acc':>8} {'SOP acc':>8}")  # fmt: skip
    for recipe in recipes:
        for point in curves[recipe["name"]]:
            print(
                f"{recipe['name']:<10} {recipe['optimizer']:<9} {float(recipe['lr']):>8.1e} "
                f"{recipe['batch_size']:>5} {recipe['max_steps']:>6} {point['step']:>6} "
                f"{point['sequences']:>10,} {point['loss']:>9.4f} {point['mlm_acc']:>8.2%} "
                f"{point['sop_acc']:>8.2%}"
            )
    return curves


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, action="append", required=True)
    parser.add_argument("--eval-data", type=Path, required=True)
    parser.add_argument(
        "--recipe", action="append", required=True, help="NAME=OPT:LR:BATCH:STEPS:WARMUP[:PREC]"
    )
    parser.add_argument("--work", type=Path, default=Path("bench-out/pretrain-recipes"))
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--evals", type=int, default=10, help="evaluations per run")
    parser.add_argument("--eval-sequences", type=int, default=1024)
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch threads per run (0: torch's default)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--budget-minutes", type=float, default=float("inf"), help="per run")
    parser.add_argument("--json", type=Path, help="also write the curves here")
    parser.add_argument("--report-only", action="store_true", help="print the table of earlier runs")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    recipes = [_parse(spec) for spec in args.recipe]
    if not args.report_only:
        _run_all(recipes, args)
    curves = _table(recipes, args)
    if args.json:
        args.json.write_text(json.dumps({"recipes": recipes, "curves": curves}, indent=1))


if __name__ == "__main__":
    main()
