"""Does pretraining help? GLUE dev results of a pretrained model beside the same architecture
fine-tuned from random initialization (issue 6's quality comparison).

For each task, ``finetune glue`` runs twice with the same hyperparameters and seeds: once from
``--model`` (a pretraining run directory or checkpoint, e.g. the one ``pretrain_quality.py``
wrote) and once with ``--random-init`` (same config and tokenizer, fresh weights). Prints, per
task, the official metric's mean ± std over seeds for the best-on-dev evaluation (what the
reference reports) and for the final step::

    .venv/bin/python benchmarks/finetune_quality.py --model bench-out/pretrain-quality/run-lamb
    .venv/bin/python benchmarks/finetune_quality.py --model RUN --tasks cola,mrpc --seeds 1,2,3 \\
        --epochs sst2=1

Hyperparameters are the ``small`` preset unless overridden (lr 1e-4, the reference's batch sizes,
3 epochs, 10% warm-up; docs/glue.md).

The random-init side does not depend on the pretrained weights, so comparing a second pretraining
run can reuse the first comparison's random-init runs: ``--random-from bench-out/finetune-quality``
reads ``DIR/TASK-random`` and refuses it unless its device, seeds, fine-tuning config, resolved
hyperparameters, vocabulary and architecture match this run's.

The table's last column is the gain paired by seed (a seed fixes the batch order and the
classifier's initial weights on both sides): the mean of pretrained minus random over seeds,
± its standard error. ``--summarize A.json B.json`` merges the ``--json`` tables of runs over
different seeds (e.g. seeds 1-3 and 4-6 of the same model) and prints the table of all seeds::

    .venv/bin/python benchmarks/finetune_quality.py --summarize cola-123.json cola-456.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

GLUE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "glue"


def _summary(results: dict, task: str) -> dict[str, list[float]]:
    seeds = results["tasks"][task]["seeds"]
    out: dict[str, list[float]] = {}
    for which in ("best", "final"):
        for name in seeds[0][which]["metrics"]:
            out[f"{which}:{name}"] = [s[which]["metrics"][name] for s in seeds]
    return out


def _fmt(values: list[float]) -> str:
    mean = statistics.mean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean * 100:6.2f} ± {std * 100:4.2f}"


def _paired(pretrained: list[float], random: list[float]) -> str:
    diffs = [p - r for p, r in zip(pretrained, random, strict=True)]
    se = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else 0.0
    return f"{statistics.mean(diffs) * 100:+6.2f} ± {se * 100:4.2f}"


def _print_table(title: str, table: dict[str, dict]) -> None:
    print(f"\n{title}; mean ± std over seeds (x100), paired gain ± standard error")
    print(f"{'task':<6} {'metric':<12} {'pretrained best':>16} {'random best':>16} "
          f"{'pretrained final':>17} {'random final':>16} {'best gain':>15}")  # fmt: skip
    for task, row in table.items():
        names = [k.split(":", 1)[1] for k in row["pretrained"]["metrics"] if k.startswith("best:")]
        for name in names:
            p, r = row["pretrained"]["metrics"], row["random"]["metrics"]
            print(
                f"{task:<6} {name:<12} {_fmt(p['best:' + name]):>16} {_fmt(r['best:' + name]):>16} "
                f"{_fmt(p['final:' + name]):>17} {_fmt(r['final:' + name]):>16} "
                f"{_paired(p['best:' + name], r['best:' + name]):>15}"
            )


def _summarize(paths: list[Path]) -> None:
    """Merge the --json tables of one model's runs over different seeds, task by task."""
    merged: dict[str, dict] = {}
    models, seeds = set(), []
    for path in paths:
        saved = json.loads(path.read_text())
        models.add(saved["model"])
        seeds += saved["seeds"]
        for task, row in saved["tasks"].items():
            into = merged.setdefault(
                task, {side: {"metrics": {}, "hparams": r["hparams"]} for side, r in row.items()}
            )
            for side, result in row.items():
                if result["hparams"] != into[side]["hparams"]:
                    raise SystemExit(f"{path}: {task} {side} was fine-tuned with other hyperparameters")
                for name, values in result["metrics"].items():
                    into[side]["metrics"].setdefault(name, []).extend(values)
    if len(models) != 1:
        raise SystemExit(f"the tables are of different models: {sorted(models)}")
    if len(set(seeds)) != len(seeds):
        raise SystemExit(f"a seed appears in more than one table: {seeds}")
    _print_table(f"model {models.pop()}, seeds {','.join(map(str, seeds))}, dev set", merged)


def _model_config(run: Path, task: str) -> dict:
    seed = json.loads((run / "config.json").read_text())["config"]["seeds"][0]
    return json.loads((run / task / f"seed-{seed}" / "final" / "config.json").read_text())


def _reuse(run: Path, args: argparse.Namespace, task: str) -> dict:
    """The summary of an earlier random-init run, if it is the run this one would make."""
    new = args.work / f"{task}-pretrained"
    old_config, new_config = (json.loads((d / "config.json").read_text()) for d in (run, new))
    old_manifest, new_manifest = (json.loads((d / "manifest.json").read_text()) for d in (run, new))
    old_results, new_results = (json.loads((d / "results.json").read_text()) for d in (run, new))
    checks = {
        "random init": old_config["config"]["random_init"],
        "device": old_results["device"] == new_results["device"],
        "fine-tuning config": {**old_config["config"], "random_init": False} == new_config["config"],
        "hyperparameters": old_config["hparams"] == new_config["hparams"],
        "vocabulary": old_manifest["vocab_fingerprint"] == new_manifest["vocab_fingerprint"],
        "architecture": _model_config(run, task) == _model_config(new, task),
    }
    if not all(checks.values()):
        bad = ", ".join(name for name, ok in checks.items() if not ok)
        raise SystemExit(f"{run}: cannot reuse, {bad} differ from this run; drop --random-from")
    return {"metrics": _summary(old_results, task), "seconds": 0.0, "hparams": old_config["hparams"][task],
            "reused": str(run)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, help="pretraining run dir or checkpoint")
    parser.add_argument("--glue-dir", type=Path, default=GLUE)
    parser.add_argument("--tasks", default="cola,sst2,mrpc")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--epochs", action="append", default=[], help="TASK=EPOCHS, e.g. sst2=1")
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--work", type=Path, default=Path("bench-out/finetune-quality"))
    parser.add_argument("--json", type=Path, help="also write the table here")
    parser.add_argument(
        "--random-from", type=Path, help="reuse random-init runs from this earlier --work dir"
    )
    parser.add_argument("--summarize", type=Path, nargs="+", help="merge these --json tables; run nothing")
    args = parser.parse_args()
    if args.summarize:
        return _summarize(args.summarize)
    if args.model is None:
        parser.error("--model is required (or --summarize)")
    if not args.glue_dir.is_dir():
        raise SystemExit(f"{args.glue_dir} not found (the shared data is optional; pass --glue-dir)")

    from albertctl.glue.finetune import FinetuneConfig, finetune_glue
    from albertctl.glue.tasks import parse_tasks

    epochs = {k: float(v) for k, v in (item.split("=", 1) for item in args.epochs)}
    seeds = tuple(int(s) for s in args.seeds.split(","))
    table: dict[str, dict] = {}
    for spec in parse_tasks(args.tasks):
        table[spec.name] = {}
        for init in ("pretrained", "random"):
            if init == "random" and args.random_from:
                table[spec.name][init] = _reuse(args.random_from / f"{spec.name}-random", args, spec.name)
                print(f"{spec.name} random: reused {args.random_from / f'{spec.name}-random'}", flush=True)
                continue
            config = FinetuneConfig(
                lr=args.lr,
                epochs=epochs.get(spec.name),
                max_seq_length=args.max_seq_length,
                seeds=seeds,
                random_init=init == "random",
                precision=args.precision,
                device=args.device,
            )
            started = time.monotonic()
            report = finetune_glue(
                config,
                tasks=(spec,),
                data_dir=args.glue_dir,
                model_path=args.model,
                out=args.work / f"{spec.name}-{init}",
                overwrite=True,
            )
            table[spec.name][init] = {
                "metrics": _summary(report.results, spec.name),
                "seconds": time.monotonic() - started,
                "hparams": report.results["tasks"][spec.name].get("hparams"),
            }
            print(f"{spec.name} {init}: {time.monotonic() - started:.0f} s", flush=True)

    _print_table(f"model {args.model}, seeds {args.seeds}, dev set", table)
    if args.json:
        args.json.write_text(json.dumps({"model": str(args.model), "seeds": seeds, "tasks": table}, indent=1))


if __name__ == "__main__":
    main()
