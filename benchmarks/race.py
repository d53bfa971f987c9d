"""RACE fine-tuning speed and dev accuracy: ours vs transformers' ``AlbertForMultipleChoice``.

Reads ../shared/data/race/RACE_{train,dev}.tar.gz and keeps a fixed subset of each split:
whole articles, per level (middle, high) in the order ``read_race`` reads them (sorted file
names), until each level has its share of ``--train-questions`` / ``--dev-questions`` (the
split's own middle/high mix: 29% / 71% in both train and dev), so a run fits minutes on two
cores. The subset is written, as byte copies of the original article files, into a temporary
folder (or ``--out``) in the original layout, where ``finetune race`` reads it.

1. Speed. Both sides start from the same weights (our initial multiple-choice model, exported
   with ``export_hf``), see the same option rows, take the same number of steps of the same batch
   size (questions of four rows each) with AdamW (lr, warm-up + linear decay, clipping at 1.0):

   * ours: ``train_one_seed`` as ``finetune race`` runs it (length-grouped batches padded to their
     longest row) and the task's evaluate path (length-sorted batches, accuracy);
   * transformers: ``AlbertForMultipleChoice`` fed the reference's fixed-length rows (every row
     padded to ``--max-seq-length``, 512: ``collate(..., pad_to_max=True)``), random batches,
     ``torch.optim.AdamW``; prediction in example order at the same fixed length.

   It prints fine-tuning and prediction questions/s and the ratio ours / transformers (goal
   >= 1.5x); the sides alternate over ``--rounds`` and each keeps its best round.
2. Quality (``--model`` only). ``finetune_race`` on the train subset, accuracy (all, middle,
   high) on the dev subset, for the pretrained model and for the same architecture from random
   init (``random_init=True``), same settings and seeds; a table of best and final checkpoints.

Without ``--model`` the speed part uses a random-init ``--flavor`` model on a 4000-piece
vocabulary built from the train subset's articles, and the quality part is skipped. Commands
(2 threads; see docs/performance.md for timings)::

    .venv/bin/python benchmarks/race.py --threads 2                      # speed, random tiny
    .venv/bin/python benchmarks/race.py --threads 2 --model RUN_DIR      # speed + quality
    .venv/bin/python benchmarks/race.py --steps 2 --rounds 1 --train-questions 32 \\
        --dev-questions 16 --skip-quality                                # smoke run
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tarfile
import tempfile
import time
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from _heads import best_of, hf_inputs, hf_optimizer, initial_checkpoint, machine_line

from albertctl.glue.config import FinetuneConfig
from albertctl.model import AlbertForMultipleChoice
from albertctl.race.config import RaceFinetuneConfig, RaceOptions
from albertctl.race.data import LEVELS, read_race
from albertctl.race.features import ChoiceFeatures, build_features
from albertctl.race.finetune import race_scores, race_task

if TYPE_CHECKING:
    # Imported where used: albertctl.finetune.loop imported before albertctl.glue is a circular import.
    from albertctl.finetune.loop import EvalSettings, PreparedTask, TaskHParams

RACE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "race"


DROPOUT = {"hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "classifier_dropout_prob": 0.1}
"""The task preset's dropouts (paper Table 14) on both sides."""


def level_quotas(counts: dict[str, int], total: int) -> dict[str, int]:
    """Questions to keep per level: ``total`` split as the split's own level mix (pure)."""
    questions = sum(counts.values())
    middle = round(total * counts.get("middle", 0) / questions) if questions else 0
    return {"middle": middle, "high": total - middle}


def write_subset(archive: Path, split: str, questions: int, out: Path) -> dict[str, int]:
    """Copy whole articles of ``split`` into ``out/<split>/<level>/`` until each level holds its
    quota of questions (:func:`level_quotas`); returns the questions kept per level."""
    files: dict[str, list[tuple[str, bytes, int]]] = {level: [] for level in LEVELS}
    with tarfile.open(archive, mode="r|*") as tar:
        for member in tar:
            parts = PurePosixPath(member.name).parts
            if not member.isfile() or len(parts) < 3 or parts[-3] != split or parts[-2] not in files:
                continue
            handle = tar.extractfile(member)
            assert handle is not None  # a regular file has contents
            raw = handle.read()
            num = len(json.loads(raw.decode("utf-8-sig"))["questions"])
            files[parts[-2]].append((parts[-1], raw, num))
    quotas = level_quotas({level: sum(n for _, _, n in f) for level, f in files.items()}, questions)
    kept = dict.fromkeys(LEVELS, 0)
    shutil.rmtree(out / split, ignore_errors=True)  # a subset of another size left by an earlier --out run
    for level in LEVELS:
        folder = out / split / level
        folder.mkdir(parents=True, exist_ok=True)
        for name, raw, num in sorted(files[level]):  # read_race's order: sorted file names
            if kept[level] >= quotas[level]:
                break
            (folder / name).write_bytes(raw)
            kept[level] += num
    return kept


def build_vocab_from_race(archive: Path, out: Path, *, articles_per_level: int = 1000) -> Path:
    """A 4000-piece vocabulary from the first ``articles_per_level`` train articles of each level
    and their questions (runs without --model; independent of the subset size)."""
    from albertctl.vocab import BuildVocabConfig, build_vocab

    lines: list[str] = []
    taken: dict[str, dict[str, None]] = {level: {} for level in LEVELS}
    for e in read_race(archive, "train").examples:
        articles = taken[e.level]
        if e.article in articles or len(articles) < articles_per_level:
            if e.article not in articles:
                articles[e.article] = None
                lines.append(e.article)
            lines.append(e.question)
    corpus = out / "corpus.txt"
    corpus.write_text("\n".join(line.replace("\n", " ") for line in lines) + "\n", encoding="utf-8")
    build_vocab([corpus], out / "vocab", BuildVocabConfig(vocab_size=4000, seed=0))
    return out / "vocab"


def hf_train_and_eval(
    hf_dir: Path,
    train: ChoiceFeatures,
    dev: ChoiceFeatures,
    hp: TaskHParams,
    settings: EvalSettings,
    *,
    seed: int,
) -> dict[str, Any]:
    """The reference recipe: random batches of questions, every row padded to max_seq_length,
    AdamW, warm-up + linear decay, clipping at 1.0; prediction in example order at that length."""
    import transformers

    from albertctl.train.runtime import autocast
    from albertctl.train.schedule import linear_warmup_poly_decay

    transformers.utils.logging.disable_progress_bar()
    device = settings.device
    model = transformers.AlbertForMultipleChoice.from_pretrained(hf_dir).to(device)
    optimizer = hf_optimizer(model, hp.lr)
    rng = np.random.default_rng((seed, 0))
    epochs = 1 + hp.max_steps * hp.batch_size // len(train)
    order = np.concatenate([rng.permutation(len(train)) for _ in range(epochs)])
    torch.manual_seed(seed)
    model.train()
    start, seen = time.perf_counter(), 0
    for step in range(hp.max_steps):
        rows = order[step * hp.batch_size : (step + 1) * hp.batch_size]
        for group in optimizer.param_groups:
            group["lr"] = linear_warmup_poly_decay(
                step, base_lr=hp.lr, warmup_steps=hp.warmup_steps, total_steps=hp.max_steps
            )
        batch = train.collate(rows, pad_id=settings.pad_id, pad_to_max=True)  # (B, 4, 512)
        with autocast(device, settings.precision):
            loss = model(**hf_inputs(batch, device), labels=batch["labels"].to(device)).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        seen += len(rows)
    train_eps = seen / (time.perf_counter() - start)
    model.eval()
    logits = np.zeros((len(dev), dev.max_choices), dtype=np.float32)
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(dev), settings.batch_size):
            rows = np.arange(i, min(i + settings.batch_size, len(dev)))
            batch = dev.collate(rows, pad_id=settings.pad_id, pad_to_max=True)
            with autocast(device, settings.precision):
                logits[rows] = model(**hf_inputs(batch, device)).logits.float().cpu().numpy()  # (B, 4)
    metrics = race_scores(logits, dev)
    eval_eps = len(dev) / (time.perf_counter() - start)
    return {"train_eps": train_eps, "eval_eps": eval_eps, "metrics": metrics}


def ours_train_and_eval(
    ckpt: Path, task: PreparedTask, num_dev: int, settings: EvalSettings, *, seed: int
) -> dict[str, Any]:
    """``train_one_seed`` on ``task``; its final dev evaluation (the task's own path) is timed."""
    from albertctl.finetune.loop import train_one_seed
    from albertctl.model.checkpoint import load_model

    timing: dict[str, float] = {}
    evaluate = task.evaluate

    def timed(model: torch.nn.Module, eval_settings: EvalSettings) -> dict[str, float]:
        started = time.perf_counter()
        metrics = evaluate(model, eval_settings)
        timing["eval_s"] = time.perf_counter() - started
        return metrics

    model, _ = load_model(ckpt, head="multiple_choice")
    result, _ = train_one_seed(
        model,
        dataclasses.replace(task, evaluate=timed),
        seed=seed,
        pad_id=settings.pad_id,
        device=settings.device,
        precision=settings.precision,
        config=FinetuneConfig(eval_batch_size=settings.batch_size),
    )
    return {
        "train_eps": result.train_examples_per_s,
        "eval_eps": num_dev / timing["eval_s"],
        "metrics": result.final.metrics,
    }


def same_logits(ckpt: Path, hf_dir: Path, features: ChoiceFeatures, pad_id: int) -> float:
    """Max |ours - transformers| option logit over a few questions at step 0 (same weights -> ~1e-6)."""
    import transformers

    from albertctl.model.checkpoint import load_model

    transformers.utils.logging.disable_progress_bar()
    ours, _ = load_model(ckpt, head="multiple_choice")
    theirs = transformers.AlbertForMultipleChoice.from_pretrained(hf_dir)
    batch = features.collate(np.arange(min(2, len(features))), pad_id=pad_id)
    with torch.inference_mode():
        a = ours.eval()(batch["input_ids"], batch["token_type_ids"], batch["input_mask"])  # (B, C)
        b = theirs.eval()(**hf_inputs(batch, torch.device("cpu"))).logits  # (B, C)
    return float((a - b).abs().max())


def run_speed(
    args: argparse.Namespace, data_dir: Path, train_archive: Path, tmp: Path, device: torch.device
) -> None:
    """Part 1: fine-tuning and prediction questions/s of both sides, and their ratio."""
    from albertctl.finetune.loop import EvalSettings, TaskHParams
    from albertctl.model.export import export_hf
    from albertctl.vocab import load_tokenizer

    vocab = None if args.model is not None else build_vocab_from_race(train_archive, tmp)
    ckpt = initial_checkpoint(
        "multiple_choice",
        AlbertForMultipleChoice,
        DROPOUT,
        flavor=args.flavor,
        model=args.model,
        vocab=vocab,
        seed=args.seed,
        out=tmp / "initial",
    )
    hf_dir = tmp / "initial-hf"
    export_hf(ckpt, hf_dir)
    tokenizer = load_tokenizer(ckpt)
    options = RaceOptions(max_seq_length=args.max_seq_length, max_qa_length=args.max_qa_length)
    rows = {"max_seq_length": options.max_seq_length, "max_qa_length": options.max_qa_length}
    train = build_features(read_race(data_dir, "train"), tokenizer, **rows)
    dev_data = read_race(data_dir, "dev")
    # Evenly spaced over the subset (middle questions come first in it): both levels, their mix.
    picked = np.unique(
        np.linspace(0, len(dev_data) - 1, min(args.speed_eval_questions, len(dev_data))).round()
    )
    dev = build_features([dev_data.examples[int(i)] for i in picked], tokenizer, **rows)
    steps = args.steps
    hp = TaskHParams(
        preset="bench", lr=args.lr, batch_size=args.batch_size, max_steps=steps,
        warmup_steps=steps // 10, dropout=0.1, eval_every=steps,
    )  # fmt: skip
    task = race_task(train, dev, hp, options=options)
    settings = EvalSettings(args.eval_batch_size, tokenizer.pad_id, device, args.precision)
    full = float(np.mean(train.row_lengths == options.max_seq_length))
    print(
        f"speed: {'--model ' + str(args.model) if args.model else 'random-init ' + args.flavor}, "
        f"{len(train):,} train questions ({len(train.row_lengths):,} option rows, mean "
        f"{train.row_lengths.mean():.0f} tokens, {full:.0%} at {options.max_seq_length}; transformers "
        f"pads all to {options.max_seq_length}); {len(dev):,} dev questions (mean row "
        f"{dev.row_lengths.mean():.0f})"
    )
    gap = same_logits(ckpt, hf_dir, dev, tokenizer.pad_id)
    print(f"  step-0 option logits, max |ours - transformers|: {gap:.2e}")
    # Alternate the two sides and keep each side's best throughput: on a shared machine the load
    # changes between runs (the metrics are the same every round).
    rounds = [
        (
            ours_train_and_eval(ckpt, task, len(dev), settings, seed=args.seed),
            hf_train_and_eval(hf_dir, train, dev, hp, settings, seed=args.seed),
        )
        for _ in range(args.rounds)
    ]
    ours, hf = best_of([r[0] for r in rounds]), best_of([r[1] for r in rounds])
    print(f"  {steps} steps of {args.batch_size} questions, {args.precision}, best of {args.rounds} rounds")
    for label, key in (("fine-tune ", "train_eps"), ("prediction", "eval_eps")):
        print(
            f"  {label} questions/s: ours {ours[key]:7.2f}  transformers {hf[key]:7.2f}  "
            f"ratio {ours[key] / hf[key]:.2f}x"
        )
    print(f"  dev after {steps} steps: ours {_fmt(ours['metrics'])}  transformers {_fmt(hf['metrics'])}")


def run_quality(args: argparse.Namespace, data_dir: Path, out: Path) -> None:
    """Part 2: ``finetune_race`` of --model and of a random-init twin; accuracy on the dev subset."""
    from albertctl.race.finetune import finetune_race

    results = {}
    for label, random_init in (("pretrained", False), ("random init", True)):
        config = RaceFinetuneConfig(
            lr=args.lr,
            batch_size=args.batch_size,
            max_steps=args.quality_steps if args.epochs is None else None,
            epochs=args.epochs,
            eval_every=args.eval_every,
            eval_batch_size=args.eval_batch_size,
            seeds=tuple(args.seeds),
            random_init=random_init,
            max_seq_length=args.max_seq_length,
            max_qa_length=args.max_qa_length,
            device=args.device,
            precision=args.precision,
        )
        started = time.perf_counter()
        report = finetune_race(
            config,
            data_dir=data_dir,
            model_path=args.model,
            out=out / ("random-init" if random_init else "pretrained"),
            overwrite=True,
            log=lambda line: print(f"  {line}", flush=True),
        )
        results[label] = report.results["tasks"]["race"]
        print(f"  {label}: {time.perf_counter() - started:.0f} s", flush=True)
    first = results["pretrained"]
    hp = first["hparams"]
    print(
        f"quality: RACE dev subset ({first['dev_examples']['dev']:,} questions), trained on "
        f"{first['train_examples']:,} train questions; {hp['max_steps']} steps of {hp['batch_size']}, "
        f"lr {hp['lr']:g}, dropout {hp['dropout']:g}, seeds {args.seeds}; accuracy in %"
    )
    names = ("accuracy", "accuracy_middle", "accuracy_high")
    header = " ".join(f"{w + ' ' + n.replace('accuracy_', '').replace('accuracy', 'all'):>13s}"
                      for w in ("best", "final") for n in names)  # fmt: skip
    print(f"  {'model':12s} {header}")
    for label, task in results.items():
        cells = [_mean_std(task[which][name]) for which in ("best", "final") for name in names]
        print(f"  {label:12s} " + " ".join(f"{c:>13s}" for c in cells))
    gain = 100 * (first["best"]["accuracy"]["mean"] - results["random init"]["best"]["accuracy"]["mean"])
    print(f"  pretrained - random init, best accuracy: {gain:+.1f} points")


def _mean_std(entry: dict[str, float]) -> str:
    return f"{100 * entry['mean']:.1f} ± {100 * entry['std']:.1f}"


def _fmt(metrics: dict[str, float]) -> str:
    return " ".join(f"{k} {100 * v:.1f}" for k, v in metrics.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="pretrained checkpoint or run dir")
    parser.add_argument("--flavor", default="tiny", help="architecture without --model (speed only)")
    parser.add_argument("--train-questions", type=int, default=800, help="train subset size (questions)")
    parser.add_argument("--dev-questions", type=int, default=300, help="dev subset size (questions)")
    parser.add_argument("--speed-eval-questions", type=int, default=100, help="speed: first N dev questions")
    parser.add_argument("--max-seq-length", type=int, default=512)
    parser.add_argument("--max-qa-length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=6, help="speed: training steps per side and round")
    parser.add_argument("--rounds", type=int, default=2, help="speed: alternating rounds, best kept")
    parser.add_argument("--quality-steps", type=int, default=100, help="quality: training steps")
    parser.add_argument("--epochs", type=float, default=None, help="quality: epochs instead of steps")
    parser.add_argument("--eval-every", type=int, default=50, help="quality: dev eval every N steps")
    parser.add_argument("--batch-size", type=int, default=8, help="questions per step (4 rows each)")
    parser.add_argument("--eval-batch-size", type=int, default=8, help="questions per eval batch")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=1, help="speed: the seed of both sides")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1], help="quality: seeds")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 on a shared machine)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"), help="both sides")
    parser.add_argument("--out", type=Path, default=None, help="keep the subset and fine-tuning runs here")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    archives = [RACE / f"RACE_{split}.tar.gz" for split in ("train", "dev")]
    if not all(a.is_file() for a in archives):
        sys.exit(f"{RACE}/RACE_{{train,dev}}.tar.gz are missing: this benchmark reads the real RACE archives")
    torch.set_num_threads(args.threads)
    from albertctl.train.runtime import resolve_device

    device = resolve_device(args.device)
    print(machine_line(args.threads, device))
    with tempfile.TemporaryDirectory() as tmp_name:
        out = args.out or Path(tmp_name)
        data_dir = out / "subset"
        kept = {
            split: write_subset(archive, split, size, data_dir)
            for split, archive, size in zip(
                ("train", "dev"), archives, (args.train_questions, args.dev_questions), strict=True
            )
        }
        shown = "; ".join(f"{split} {v['middle']:,} middle + {v['high']:,} high" for split, v in kept.items())
        print(
            f"data: fixed RACE subset (whole articles, first in file-name order per level): {shown}",
            flush=True,
        )
        if not args.skip_speed:
            started = time.perf_counter()
            run_speed(args, data_dir, archives[0], Path(tmp_name), device)
            print(f"  speed part: {time.perf_counter() - started:.0f} s wall", flush=True)
        if args.skip_quality:
            return
        if args.model is None:
            print("quality: skipped (needs --model: a pretrained checkpoint to compare with random init)")
            return
        run_quality(args, data_dir, out / "finetune")


if __name__ == "__main__":
    main()
