"""GLUE fine-tuning speed and dev metrics: ours vs transformers' ``AlbertForSequenceClassification``.

For each flavor (tiny, base) and task (SST-2, MRPC from ../shared/data/glue), both sides start
from the same weights (our initial classifier, exported with ``export_hf``) and see the same
training examples in the same epoch order from the same seed:

* ours: ``train_one_seed`` as ``finetune glue`` runs it (length-grouped batches padded to their
  longest row, the reference AdamW, warm-up + linear decay);
* transformers: ``AlbertForSequenceClassification`` fed batches padded to 128 as its GLUE example
  does (``pad_to_max_length``), ``torch.optim.AdamW``, the same schedule.

It prints fine-tuning examples/s, dev-evaluation examples/s, the ratios ours / transformers
(goal >= 2x on SST-2, whose sentences are short) and both dev metrics (they should agree within
noise). Without ``--model`` the weights are random (speed does not depend on them); with a
pretrained tiny checkpoint the metrics mean something.

    .venv/bin/python benchmarks/finetune.py                        # tiny + base, SST-2 + MRPC
    .venv/bin/python benchmarks/finetune.py --flavors tiny --steps 30 --model RUN_DIR
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from albertctl.glue.batching import EncodedSet, encode_examples
from albertctl.glue.evaluate import dev_metrics, predict_logits
from albertctl.glue.finetune import FinetuneConfig, TaskHParams, glue_task, train_one_seed
from albertctl.glue.readers import read_split
from albertctl.glue.tasks import TASKS, TaskSpec

GLUE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "glue"
HF_MAX_LENGTH = 128


def build_vocab_from_glue(out: Path) -> Path:
    """A 4000-piece vocabulary from SST-2 + MRPC train sentences (for runs without --model)."""
    from albertctl.vocab import BuildVocabConfig, build_vocab

    lines = [e.text_a for e in read_split(TASKS["sst2"], GLUE, "train").examples[:20000]]
    for e in read_split(TASKS["mrpc"], GLUE, "train").examples:
        lines += [e.text_a, e.text_b or ""]
    corpus = out / "corpus.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    build_vocab([corpus], out / "vocab", BuildVocabConfig(vocab_size=4000, seed=0))
    return out / "vocab"


def initial_checkpoint(
    flavor: str, model: Path | None, vocab: Path, spec: TaskSpec, seed: int, out: Path
) -> Path:
    """Our classifier at step 0 (pretrained backbone or random), saved as a checkpoint folder."""
    from albertctl.model import AlbertForSequenceClassification, get_config, resolve_checkpoint, save_model
    from albertctl.model.checkpoint import load_model
    from albertctl.vocab import load_tokenizer

    overrides = {
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "classifier_dropout_prob": 0.1,
    }
    generator = torch.Generator().manual_seed(seed)
    if model is not None:
        ckpt = resolve_checkpoint(model)
        clf, _ = load_model(
            ckpt, head="classification", num_labels=spec.num_labels, overrides=overrides, generator=generator
        )
        tokenizer = load_tokenizer(ckpt)
    else:
        tokenizer = load_tokenizer(vocab)
        config = get_config(flavor, vocab_size=tokenizer.vocab_size)
        from albertctl.model import AlbertConfig

        config = AlbertConfig.from_dict({**config.to_dict(), **overrides})
        clf = AlbertForSequenceClassification(config, spec.num_labels, generator=generator)
    return save_model(clf, out, tokenizer=tokenizer)


def hf_train_and_eval(
    hf_dir: Path,
    train: EncodedSet,
    dev: EncodedSet,
    hp: TaskHParams,
    spec: TaskSpec,
    *,
    seed: int,
    eval_batch: int,
    device: torch.device,
) -> dict[str, object]:
    """transformers' recipe: random batches padded to 128, AdamW, warm-up + linear decay."""
    import transformers

    from albertctl.train.schedule import linear_warmup_poly_decay

    model = transformers.AlbertForSequenceClassification.from_pretrained(hf_dir).to(device)
    no_decay = [p for n, p in model.named_parameters() if "bias" in n or "LayerNorm" in n]
    decay = [p for n, p in model.named_parameters() if not ("bias" in n or "LayerNorm" in n)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
        lr=hp.lr,
        eps=1e-6,
    )

    def padded(data: EncodedSet, rows: np.ndarray) -> dict[str, torch.Tensor]:
        ids = torch.zeros((len(rows), HF_MAX_LENGTH), dtype=torch.long)
        types, mask = torch.zeros_like(ids), torch.zeros_like(ids)
        for i, r in enumerate(rows):
            n = len(data.input_ids[r])
            ids[i, :n] = torch.tensor(data.input_ids[r])
            types[i, :n] = torch.tensor(data.token_type_ids[r])
            mask[i, :n] = 1
        return {
            "input_ids": ids.to(device),
            "token_type_ids": types.to(device),
            "attention_mask": mask.to(device),
        }

    rng = np.random.default_rng((seed, 0))
    order = np.concatenate(
        [rng.permutation(len(train)) for _ in range(1 + hp.max_steps * hp.batch_size // len(train))]
    )
    torch.manual_seed(seed)
    model.train()
    start, seen = time.perf_counter(), 0
    for step in range(hp.max_steps):
        rows = order[step * hp.batch_size : (step + 1) * hp.batch_size]
        for group in optimizer.param_groups:
            group["lr"] = linear_warmup_poly_decay(
                step, base_lr=hp.lr, warmup_steps=hp.warmup_steps, total_steps=hp.max_steps
            )
        labels = torch.from_numpy(train.labels[rows]).to(device)
        loss = model(**padded(train, rows), labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        seen += len(rows)
    train_eps = seen / (time.perf_counter() - start)
    model.eval()
    logits = np.zeros((len(dev), spec.num_labels), dtype=np.float32)
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(dev), eval_batch):
            rows = np.arange(i, min(i + eval_batch, len(dev)))
            logits[rows] = model(**padded(dev, rows)).logits.float().cpu().numpy()
    eval_eps = len(dev) / (time.perf_counter() - start)
    return {
        "train_eps": train_eps,
        "eval_eps": eval_eps,
        "metrics": dev_metrics(spec, {"dev": logits}, {"dev": dev}),
    }


def ours_train_and_eval(
    ckpt: Path,
    train: EncodedSet,
    dev: EncodedSet,
    hp: TaskHParams,
    spec: TaskSpec,
    *,
    seed: int,
    eval_batch: int,
    device: torch.device,
) -> dict[str, object]:
    from albertctl.model.checkpoint import load_model

    model, _ = load_model(ckpt, head="classification", num_labels=spec.num_labels)
    task = glue_task(spec, train, {"dev": dev}, hp, max_seq_length=max(train.lengths))
    result, _ = train_one_seed(
        model, task, seed=seed, pad_id=0, device=device, config=FinetuneConfig(eval_batch_size=eval_batch),
    )  # fmt: skip
    start = time.perf_counter()
    predict_logits(model, dev, batch_size=eval_batch, pad_id=0, device=device)
    eval_eps = len(dev) / (time.perf_counter() - start)
    return {"train_eps": result.train_examples_per_s, "eval_eps": eval_eps, "metrics": result.final.metrics}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flavors", default="tiny,base")
    parser.add_argument("--tasks", default="sst2,mrpc")
    parser.add_argument("--model", type=Path, default=None, help="pretrained checkpoint (tiny flavor only)")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: tiny 20, base 2)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--eval-examples", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 on a shared machine)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--train-examples", type=int, default=4000, help="train rows encoded (the pool)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds; best throughput is kept")
    args = parser.parse_args()
    if not GLUE.is_dir():
        sys.exit(f"{GLUE} is missing: this benchmark reads the real SST-2 and MRPC files")
    torch.set_num_threads(args.threads)
    from albertctl.train.runtime import resolve_device

    device = resolve_device(args.device)
    from albertctl.model.export import export_hf
    from albertctl.vocab import load_tokenizer

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        vocab = build_vocab_from_glue(tmp)
        print(
            f"torch {torch.__version__}, {device}, {args.threads} threads, "
            f"batch {args.batch_size}, seed {args.seed}"
        )
        for flavor in args.flavors.split(","):
            steps = args.steps or (20 if flavor == "tiny" else 2)
            model = args.model if flavor == "tiny" else None
            for name in args.tasks.split(","):
                spec = TASKS[name]
                ckpt = initial_checkpoint(flavor, model, vocab, spec, args.seed, tmp / f"{flavor}-{name}")
                export_hf(ckpt, tmp / f"{flavor}-{name}-hf")
                tokenizer = load_tokenizer(ckpt)
                encode = {
                    "tokenizer": tokenizer,
                    "max_seq_length": HF_MAX_LENGTH,
                    "regression": spec.is_regression,
                }
                train = encode_examples(
                    examples=read_split(spec, GLUE, "train").examples[: args.train_examples], **encode
                )
                dev = encode_examples(
                    examples=read_split(spec, GLUE, "dev").examples[: args.eval_examples], **encode
                )
                hp = TaskHParams(
                    preset="bench", lr=args.lr, batch_size=args.batch_size, max_steps=steps,
                    warmup_steps=steps // 10, dropout=0.0, eval_every=steps,
                )  # fmt: skip
                hf_dir = tmp / f"{flavor}-{name}-hf"
                kwargs = {"seed": args.seed, "eval_batch": args.batch_size, "device": device}
                # Alternate the two sides for --rounds rounds and keep each side's best throughput:
                # on a shared machine the load changes between runs (metrics are the same each round).
                rounds = [
                    (
                        ours_train_and_eval(ckpt, train, dev, hp, spec, **kwargs),
                        hf_train_and_eval(hf_dir, train, dev, hp, spec, **kwargs),
                    )
                    for _ in range(args.rounds)
                ]
                ours = {
                    **rounds[0][0],
                    **{k: max(r[0][k] for r in rounds) for k in ("train_eps", "eval_eps")},
                }
                hf = {**rounds[0][1], **{k: max(r[1][k] for r in rounds) for k in ("train_eps", "eval_eps")}}
                mean_len = float(np.mean(train.lengths))
                print(
                    f"{flavor:5s} {spec.dir_name:6s} steps {steps:3d} x {args.rounds} rounds "
                    f"(mean train length {mean_len:.1f} tokens)"
                )
                for label, key in (("fine-tune", "train_eps"), ("dev eval ", "eval_eps")):
                    ratio = ours[key] / hf[key]
                    print(
                        f"  {label} examples/s: ours {ours[key]:8.1f}  "
                        f"transformers {hf[key]:8.1f}  ratio {ratio:.2f}x"
                    )
                print(
                    f"  dev metrics: ours {_fmt(ours['metrics'])}  transformers {_fmt(hf['metrics'])}",
                    flush=True,
                )


def _fmt(metrics: object) -> str:
    assert isinstance(metrics, dict)
    return " ".join(f"{k} {v:.4f}" for k, v in metrics.items())


if __name__ == "__main__":
    main()
