"""SQuAD v1.1 fine-tuning speed and dev EM/F1: ours vs transformers' ``AlbertForQuestionAnswering``.

There is no SQuAD train file in ../shared/data/squad, only the official ``dev-v1.1.json`` (48
articles, 10,570 questions). This benchmark splits it BY ARTICLE, in file order: the first
``--train-articles`` (default 40: 8,981 questions) are the training set, the remaining articles
(default 8: 1,589 questions) the evaluation set, so no paragraph is seen on both sides. The two
parts are written as official-layout JSON files into a temporary folder (or ``--out``). Figures
from this split are NOT comparable to published SQuAD dev scores (those train on the 87,599
questions of train-v1.1.json and score all 48 dev articles).

1. Speed. Both sides start from the same weights (our initial QA model, exported with
   ``export_hf``), see the same windows (ours, built by ``build_features``), take the same number
   of steps of the same batch size with AdamW (lr, warm-up + linear decay, clipping at 1.0):

   * ours: ``train_one_seed`` as ``finetune squad`` runs it (length-grouped batches padded to
     their longest window) and the task's evaluate path (length-sorted batches, post-processing,
     the official metric);
   * transformers: ``AlbertForQuestionAnswering`` fed the reference's fixed-length features
     (every window padded to ``--max-seq-length``, 384), random batches, ``torch.optim.AdamW``;
     prediction in feature order at the same fixed length, then the same post-processing.

   It prints fine-tuning and prediction windows/s and the ratio ours / transformers (goal
   >= 1.5x); the two sides alternate over ``--rounds`` and each keeps its best round.
2. Quality (``--model`` only). ``finetune_squad`` on the train part, EM/F1 on the held-out
   articles, for the pretrained model and for the same architecture from random init
   (``random_init=True``), same settings and seeds; a table of best and final checkpoints.

Without ``--model`` the speed part uses a random-init ``--flavor`` model on a 4000-piece
vocabulary built from the train articles (speed does not depend on the weights), and the quality
part is skipped. Commands (2 threads; see docs/performance.md for timings)::

    .venv/bin/python benchmarks/squad.py --threads 2                      # speed, random tiny
    .venv/bin/python benchmarks/squad.py --threads 2 --model RUN_DIR      # speed + quality
    .venv/bin/python benchmarks/squad.py --steps 3 --rounds 1 --train-questions 64 \\
        --eval-questions 32 --skip-quality                                # smoke run
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from _heads import best_of, hf_inputs, hf_optimizer, initial_checkpoint, machine_line

from albertctl.glue.config import FinetuneConfig
from albertctl.model import AlbertForQuestionAnswering
from albertctl.squad.config import SquadFinetuneConfig, SquadOptions
from albertctl.squad.data import SquadData, read_squad
from albertctl.squad.features import SquadFeatures, build_features
from albertctl.squad.finetune import squad_scores, squad_task
from albertctl.squad.postprocess import postprocess

if TYPE_CHECKING:
    # Imported where used: albertctl.finetune.loop imported before albertctl.glue is a circular import.
    from albertctl.finetune.loop import EvalSettings, PreparedTask, TaskHParams

SQUAD_DEV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "squad" / "dev-v1.1.json"
NUM_ARTICLES = 48
"""Articles in the official dev-v1.1.json."""


DROPOUT = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
"""The task preset's dropouts (paper Table 14) on both sides."""


def split_articles(source: Path, train_articles: int, out: Path) -> tuple[Path, Path]:
    """Write the first ``train_articles`` articles of ``source`` and the rest as two SQuAD files."""
    obj = json.loads(source.read_text(encoding="utf-8"))
    articles = obj["data"]
    if not 0 < train_articles < len(articles):
        sys.exit(f"--train-articles must be between 1 and {len(articles) - 1}, got {train_articles}")
    out.mkdir(parents=True, exist_ok=True)
    paths = (out / "train-articles.json", out / "eval-articles.json")
    for path, part in zip(paths, (articles[:train_articles], articles[train_articles:]), strict=True):
        path.write_text(json.dumps({"version": obj.get("version", "1.1"), "data": part}), encoding="utf-8")
    return paths


def first_questions(data: SquadData, limit: int | None) -> SquadData:
    """The first ``limit`` questions (all when None), as ``finetune squad --max-*-examples`` takes them."""
    return data if limit is None else dataclasses.replace(data, examples=data.examples[:limit])


def build_vocab_from_squad(train_file: Path, out: Path) -> Path:
    """A 4000-piece vocabulary from the train articles' paragraphs and questions (runs without --model)."""
    from albertctl.vocab import BuildVocabConfig, build_vocab

    data = read_squad(train_file, version="1.1")
    lines = list(dict.fromkeys(e.context for e in data.examples)) + [e.question for e in data.examples]
    corpus = out / "corpus.txt"
    corpus.write_text("\n".join(line.replace("\n", " ") for line in lines) + "\n", encoding="utf-8")
    build_vocab([corpus], out / "vocab", BuildVocabConfig(vocab_size=4000, seed=0))
    return out / "vocab"


def hf_train_and_eval(
    hf_dir: Path,
    train: SquadFeatures,
    dev_data: SquadData,
    dev: SquadFeatures,
    hp: TaskHParams,
    options: SquadOptions,
    settings: EvalSettings,
    *,
    seed: int,
) -> dict[str, Any]:
    """The reference recipe: random batches of windows padded to max_seq_length, AdamW, warm-up +
    linear decay, clipping at 1.0; prediction in feature order at the same fixed length."""
    import transformers

    from albertctl.train.runtime import autocast
    from albertctl.train.schedule import linear_warmup_poly_decay

    transformers.utils.logging.disable_progress_bar()
    device, pad_to = settings.device, train.max_seq_length
    model = transformers.AlbertForQuestionAnswering.from_pretrained(hf_dir).to(device)
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
        batch = train.collate(rows, pad_id=settings.pad_id, pad_to=pad_to)
        with autocast(device, settings.precision):
            loss = model(
                **hf_inputs(batch, device),
                start_positions=batch["start_positions"].to(device),
                end_positions=batch["end_positions"].to(device),
            ).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        seen += len(rows)
    train_eps = seen / (time.perf_counter() - start)
    model.eval()
    lengths = dev.lengths
    starts: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(dev), settings.batch_size):
            rows = np.arange(i, min(i + settings.batch_size, len(dev)))
            with autocast(device, settings.precision):
                out = model(**hf_inputs(dev.collate(rows, pad_id=settings.pad_id, pad_to=pad_to), device))
            s, e = out.start_logits.float().cpu().numpy(), out.end_logits.float().cpu().numpy()  # (B, 384)
            for j, r in enumerate(rows.tolist()):
                starts.append(s[j, : lengths[r]])
                ends.append(e[j, : lengths[r]])
    answers, _ = postprocess(
        dev, dev_data, starts, ends, n_best=options.n_best, max_answer_length=options.max_answer_length,
        version="1.1",
    )  # fmt: skip
    metrics = squad_scores(dev_data, answers, None, "1.1")
    eval_eps = len(dev) / (time.perf_counter() - start)
    return {"train_eps": train_eps, "eval_eps": eval_eps, "metrics": metrics}


def ours_train_and_eval(
    ckpt: Path, task: PreparedTask, num_windows: int, settings: EvalSettings, *, seed: int
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

    model, _ = load_model(ckpt, head="question_answering")
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
        "eval_eps": num_windows / timing["eval_s"],
        "metrics": result.final.metrics,
    }


def same_start_logits(ckpt: Path, hf_dir: Path, features: SquadFeatures, pad_id: int) -> float:
    """Max |ours - transformers| start logit over a few windows at step 0 (same weights -> ~1e-6)."""
    import transformers

    from albertctl.model.checkpoint import load_model

    transformers.utils.logging.disable_progress_bar()
    ours, _ = load_model(ckpt, head="question_answering")
    theirs = transformers.AlbertForQuestionAnswering.from_pretrained(hf_dir)
    batch = features.collate(np.arange(min(4, len(features))), pad_id=pad_id)
    with torch.inference_mode():
        a = ours.eval()(batch["input_ids"], batch["token_type_ids"], batch["input_mask"]).start
        b = theirs.eval()(**hf_inputs(batch, torch.device("cpu"))).start_logits
    mask = batch["input_mask"].bool()
    return float((a - b).abs()[mask].max())


def run_speed(args: argparse.Namespace, files: tuple[Path, Path], tmp: Path, device: torch.device) -> None:
    """Part 1: fine-tuning and prediction windows/s of both sides, and their ratio."""
    from albertctl.finetune.loop import EvalSettings, TaskHParams
    from albertctl.model.export import export_hf
    from albertctl.vocab import load_tokenizer

    vocab = None if args.model is not None else build_vocab_from_squad(files[0], tmp)
    ckpt = initial_checkpoint(
        "question_answering",
        AlbertForQuestionAnswering,
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
    options = SquadOptions(max_seq_length=args.max_seq_length, doc_stride=args.doc_stride)
    train_data = first_questions(read_squad(files[0], version="1.1"), args.train_questions)
    dev_data = first_questions(read_squad(files[1], version="1.1"), args.speed_eval_questions)
    window = {"max_seq_length": options.max_seq_length, "doc_stride": options.doc_stride}
    train = build_features(train_data, tokenizer, training=True, **window)
    dev = build_features(dev_data, tokenizer, training=False, **window)
    steps = args.steps
    hp = TaskHParams(
        preset="bench", lr=args.lr, batch_size=args.batch_size, max_steps=steps,
        warmup_steps=steps // 10, dropout=0.0, eval_every=steps,
    )  # fmt: skip
    task = squad_task(train, dev_data, dev, hp, options=options)
    settings = EvalSettings(args.eval_batch_size, tokenizer.pad_id, device, args.precision)
    print(
        f"speed: {'--model ' + str(args.model) if args.model else 'random-init ' + args.flavor}, "
        f"{len(train_data.examples):,} train questions -> {len(train):,} windows "
        f"(mean {train.lengths.mean():.0f} tokens, transformers pads to {options.max_seq_length}); "
        f"{len(dev_data.examples):,} held-out questions -> {len(dev):,} windows "
        f"(mean {dev.lengths.mean():.0f} tokens)"
    )
    gap = same_start_logits(ckpt, hf_dir, dev, tokenizer.pad_id)
    print(f"  step-0 start logits, max |ours - transformers|: {gap:.2e}")
    # Alternate the two sides and keep each side's best throughput: on a shared machine the load
    # changes between runs (the metrics are the same every round).
    rounds = [
        (
            ours_train_and_eval(ckpt, task, len(dev), settings, seed=args.seed),
            hf_train_and_eval(hf_dir, train, dev_data, dev, hp, options, settings, seed=args.seed),
        )
        for _ in range(args.rounds)
    ]
    ours, hf = best_of([r[0] for r in rounds]), best_of([r[1] for r in rounds])
    print(f"  {steps} steps of batch {args.batch_size}, {args.precision}, best of {args.rounds} rounds")
    for label, key in (("fine-tune ", "train_eps"), ("prediction", "eval_eps")):
        print(
            f"  {label} windows/s: ours {ours[key]:8.1f}  transformers {hf[key]:8.1f}  "
            f"ratio {ours[key] / hf[key]:.2f}x"
        )
    print(f"  held-out after {steps} steps: ours {_fmt(ours['metrics'])}  transformers {_fmt(hf['metrics'])}")


def run_quality(args: argparse.Namespace, files: tuple[Path, Path], out: Path) -> None:
    """Part 2: ``finetune_squad`` of --model and of a random-init twin; EM/F1 on the held-out articles."""
    from albertctl.squad.finetune import finetune_squad

    results = {}
    for label, random_init in (("pretrained", False), ("random init", True)):
        config = SquadFinetuneConfig(
            lr=args.lr,
            batch_size=args.batch_size,
            max_steps=args.quality_steps if args.epochs is None else None,
            epochs=args.epochs,
            eval_every=args.eval_every,
            eval_batch_size=args.eval_batch_size,
            seeds=tuple(args.seeds),
            random_init=random_init,
            max_train_examples=args.train_questions,
            max_eval_examples=args.eval_questions,
            max_seq_length=args.max_seq_length,
            doc_stride=args.doc_stride,
            device=args.device,
            precision=args.precision,
        )
        started = time.perf_counter()
        report = finetune_squad(
            config,
            train_file=files[0],
            dev_file=files[1],
            model_path=args.model,
            out=out / ("random-init" if random_init else "pretrained"),
            overwrite=True,
            log=lambda line: print(f"  {line}", flush=True),
        )
        results[label] = report.results["tasks"]["squad"]
        print(f"  {label}: {time.perf_counter() - started:.0f} s", flush=True)
    hp = results["pretrained"]["hparams"]
    print(
        f"quality: held-out articles {args.train_articles + 1}-{NUM_ARTICLES} of dev-v1.1.json "
        f"({results['pretrained']['dev_examples']['dev']:,} questions), trained on articles "
        f"1-{args.train_articles} ({results['pretrained']['train_examples']:,} windows); "
        f"{hp['max_steps']} steps of {hp['batch_size']}, lr {hp['lr']:g}, seeds {args.seeds}"
    )
    print(f"  {'model':12s} {'best EM':>14s} {'best F1':>14s} {'final EM':>14s} {'final F1':>14s}")
    for label, task in results.items():
        cells = [_mean_std(task[which][m]) for which in ("best", "final") for m in ("exact_match", "f1")]
        print(f"  {label:12s} " + " ".join(f"{c:>14s}" for c in cells))
    gain = results["pretrained"]["best"]["f1"]["mean"] - results["random init"]["best"]["f1"]["mean"]
    print(f"  pretrained - random init, best F1: {gain:+.2f}")


def _mean_std(entry: dict[str, float]) -> str:
    return f"{entry['mean']:.2f} ± {entry['std']:.2f}"


def _fmt(metrics: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.2f}" for k, v in metrics.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="pretrained checkpoint or run dir")
    parser.add_argument("--flavor", default="tiny", help="architecture without --model (speed only)")
    parser.add_argument("--train-articles", type=int, default=40, help="first N articles train, rest eval")
    parser.add_argument("--train-questions", type=int, default=None, help="first N train questions (all)")
    parser.add_argument("--eval-questions", type=int, default=None, help="first N held-out questions (all)")
    parser.add_argument("--speed-eval-questions", type=int, default=300, help="speed: first N held-out")
    parser.add_argument("--max-seq-length", type=int, default=384)
    parser.add_argument("--doc-stride", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20, help="speed: training steps per side and round")
    parser.add_argument("--rounds", type=int, default=2, help="speed: alternating rounds, best kept")
    parser.add_argument("--quality-steps", type=int, default=300, help="quality: training steps")
    parser.add_argument("--epochs", type=float, default=None, help="quality: epochs instead of steps")
    parser.add_argument("--eval-every", type=int, default=100, help="quality: dev eval every N steps")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--eval-batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=1, help="speed: the seed of both sides")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="quality: seeds")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 on a shared machine)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"), help="both sides")
    parser.add_argument("--out", type=Path, default=None, help="keep the split and fine-tuning runs here")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    if not SQUAD_DEV.is_file():
        sys.exit(f"{SQUAD_DEV} is missing: this benchmark reads the official SQuAD v1.1 dev file")
    torch.set_num_threads(args.threads)
    from albertctl.train.runtime import resolve_device

    device = resolve_device(args.device)
    print(machine_line(args.threads, device))
    with tempfile.TemporaryDirectory() as tmp_name:
        out = args.out or Path(tmp_name)
        files = split_articles(SQUAD_DEV, args.train_articles, out / "split")
        print(
            f"data: dev-v1.1.json split by article: articles 1-{args.train_articles} train, "
            f"{args.train_articles + 1}-{NUM_ARTICLES} held out (no SQuAD train file here; "
            "not comparable to published dev scores)",
            flush=True,
        )
        if not args.skip_speed:
            started = time.perf_counter()
            run_speed(args, files, Path(tmp_name), device)
            print(f"  speed part: {time.perf_counter() - started:.0f} s wall", flush=True)
        if args.skip_quality:
            return
        if args.model is None:
            print("quality: skipped (needs --model: a pretrained checkpoint to compare with random init)")
            return
        run_quality(args, files, out / "finetune")


if __name__ == "__main__":
    main()
