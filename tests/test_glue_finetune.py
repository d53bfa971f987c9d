"""Fine-tuning on tiny in-process tasks: hyperparameter presets, length-grouped batches, the
training loop (learns, reproduces per seed), outputs, eval/predict and the leaderboard files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_glue_data import write_glue_dir

from albertctl.errors import AlbertctlError
from albertctl.glue.batching import EncodedSet, collate, eval_batches, train_batches
from albertctl.glue.evaluate import evaluate_glue, predict_glue, resolve_models
from albertctl.glue.finetune import (
    FinetuneConfig,
    finetune_glue,
    iter_train_steps,
    resolve_hparams,
)
from albertctl.glue.tasks import TASKS, parse_tasks

_WORDS = "the function returns a value from the list and the file is read by the module".split()


def _sentiment_rows(n: int, rng: np.random.Generator) -> list[tuple[str, int]]:
    """A learnable SST-2-like task: label 1 iff the sentence says "good"."""
    rows = []
    for i in range(n):
        words = list(rng.choice(_WORDS, size=int(rng.integers(3, 12))))
        label = i % 2
        words.insert(int(rng.integers(0, len(words))), "good" if label else "bad")
        rows.append((" ".join(words), label))
    return rows


def write_sentiment_dir(root: Path, *, train: int = 96, dev: int = 40) -> Path:
    """GLUE_DIR/SST-2/{train,dev,test}.tsv in the real layout, with the synthetic task."""
    rng = np.random.default_rng(0)
    folder = root / "SST-2"
    folder.mkdir(parents=True)
    for split, n in (("train", train), ("dev", dev)):
        lines = ["sentence\tlabel"] + [f"{s} \t{y}" for s, y in _sentiment_rows(n, rng)]
        (folder / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    test = ["index\tsentence"] + [f"{i}\t{s}" for i, (s, _) in enumerate(_sentiment_rows(10, rng))]
    (folder / "test.tsv").write_text("\n".join(test) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def checkpoint(tiny_vocab: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised debug-flavor ALBERT saved with the tiny vocabulary."""
    from albertctl.model import AlbertForPreTraining, get_config, save_model
    from albertctl.vocab import load_tokenizer

    tokenizer = load_tokenizer(tiny_vocab)
    config = get_config("debug", vocab_size=tokenizer.vocab_size)
    out = tmp_path_factory.mktemp("glue_ckpt") / "model"
    save_model(
        AlbertForPreTraining(config, generator=torch.Generator().manual_seed(0)), out, tokenizer=tokenizer
    )
    return out


_FAST = FinetuneConfig(lr=3e-3, batch_size=16, max_steps=40, eval_every=10, max_seq_length=32, device="cpu")


def test_presets_and_overrides() -> None:
    cola = TASKS["cola"]
    ref = resolve_hparams(cola, FinetuneConfig(), hidden_size=768, num_train=8551)
    assert (ref.preset, ref.lr, ref.batch_size, ref.max_steps, ref.warmup_steps) == (
        "reference",
        1e-5,
        16,
        5336,
        320,
    )
    small = resolve_hparams(cola, FinetuneConfig(), hidden_size=312, num_train=8551)
    # 3 epochs of ceil(8551 / 16) = 535 steps, 10% warm-up, lr 1e-4.
    assert (small.preset, small.lr, small.max_steps, small.warmup_steps) == ("small", 1e-4, 1605, 160)
    assert resolve_hparams(TASKS["qqp"], FinetuneConfig(), hidden_size=768, num_train=10).dropout == 0.1
    forced = resolve_hparams(
        cola, FinetuneConfig(preset="reference", lr=2e-5, max_steps=100), hidden_size=32, num_train=10
    )
    assert (forced.lr, forced.max_steps, forced.warmup_steps, forced.eval_every) == (2e-5, 100, 10, 10)
    assert (
        resolve_hparams(cola, FinetuneConfig(epochs=2, batch_size=10), hidden_size=32, num_train=95).max_steps
        == 20
    )
    with pytest.raises(AlbertctlError, match="warmup_steps"):
        resolve_hparams(cola, FinetuneConfig(max_steps=5, warmup_steps=6), hidden_size=32, num_train=10)
    with pytest.raises(AlbertctlError, match="lr must be > 0, got -1"):
        FinetuneConfig(lr=-1)


def test_length_grouped_batches_cover_every_row_once() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 128, size=1000)
    batches = train_batches(lengths, 8, np.random.default_rng(1), group_factor=10)
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(1000))
    assert sum(len(b) != 8 for b in batches) == 0  # 1000 = 125 x 8
    # Grouping: the padding waste is far below that of random batches.
    waste = sum(int(lengths[b].max() - lengths[b].min()) for b in batches)
    random_waste = sum(int(lengths[b].max() - lengths[b].min()) for b in np.split(rng.permutation(1000), 125))
    assert waste < random_waste / 4
    same = train_batches(lengths, 8, np.random.default_rng(1), group_factor=10)
    assert all(np.array_equal(a, b) for a, b in zip(batches, same, strict=True))
    other = train_batches(lengths, 8, np.random.default_rng(2), group_factor=10)
    assert not all(np.array_equal(a, b) for a, b in zip(batches, other, strict=True))
    steps = list(iter_train_steps(lengths[:20], 8, seed=3, max_steps=7))  # 3 batches per epoch
    assert len(steps) == 7 and sorted(np.concatenate(steps[:3]).tolist()) == list(range(20))
    assert sorted(np.concatenate(eval_batches(lengths, 64)).tolist()) == list(range(1000))


def test_collate_pads_to_the_longest_row_only() -> None:
    data = EncodedSet(
        [[2, 5, 3], [2, 6, 7, 8, 3]], [[0, 0, 0], [0, 0, 1, 1, 1]], np.array([0, 1]), ["a", "b"]
    )
    batch = collate(data, np.array([1, 0]), pad_id=0)
    assert batch["input_ids"].tolist() == [[2, 6, 7, 8, 3], [2, 5, 3, 0, 0]]
    assert batch["input_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    assert batch["token_type_ids"].tolist() == [[0, 0, 1, 1, 1], [0, 0, 0, 0, 0]]
    assert batch["labels"].tolist() == [1, 0]


def test_finetune_learns_and_writes_best_and_final(checkpoint: Path, tmp_path: Path) -> None:
    glue = write_sentiment_dir(tmp_path / "glue")
    out = tmp_path / "ft"
    report = finetune_glue(_FAST, tasks=parse_tasks("sst2"), data_dir=glue, model_path=checkpoint, out=out)
    results = json.loads((out / "results.json").read_text())
    assert results == json.loads(json.dumps(report.results))
    sst2 = results["tasks"]["sst2"]
    seed = sst2["seeds"][0]
    assert seed["best"]["metrics"]["accuracy"] >= 0.9  # "good" vs "bad" is learnable in 40 steps
    assert seed["final"]["step"] == 40 and seed["best"]["step"] in (10, 20, 30, 40)
    assert seed["best"]["metrics"]["accuracy"] >= seed["final"]["metrics"]["accuracy"]
    for which in ("best", "final"):
        folder = out / seed[which]["checkpoint"]
        assert json.loads((folder / "glue.json").read_text())["checkpoint"] == which
        # The saved checkpoint reproduces the recorded dev metrics through `eval glue`.
        spec, metrics = evaluate_glue(out, glue, which=which, device="cpu")
        assert spec.name == "sst2"
        assert metrics["accuracy"] == pytest.approx(seed[which]["metrics"]["accuracy"])
    records = [
        json.loads(line) for line in (out / "sst2" / "seed-1" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["step"] for r in records if r["split"] == "dev"] == [10, 20, 30, 40]
    assert (out / "manifest.json").is_file()
    with pytest.raises(AlbertctlError, match="already exists"):
        finetune_glue(_FAST, tasks=parse_tasks("sst2"), data_dir=glue, model_path=checkpoint, out=out)

    sub = tmp_path / "sub"
    sub.mkdir()
    written = predict_glue(resolve_models(out), glue, sub, device="cpu")
    assert written == {"SST-2.tsv": 10}
    lines = (sub / "SST-2.tsv").read_text().split("\n")
    assert lines[0] == "index\tprediction" and lines[-1] == "" and len(lines) == 12
    assert all(line.split("\t")[1] in ("0", "1") for line in lines[1:-1])
    assert [line.split("\t")[0] for line in lines[1:-1]] == [str(i) for i in range(10)]


def test_same_seed_same_numbers_other_seed_differs(checkpoint: Path, tmp_path: Path) -> None:
    glue = write_sentiment_dir(tmp_path / "glue", train=48, dev=16)
    config = FinetuneConfig(
        lr=1e-3, batch_size=8, max_steps=6, eval_every=3, device="cpu", seeds=(1, 2, 1 + 2)
    )
    runs = [
        finetune_glue(
            config, tasks=parse_tasks("sst2"), data_dir=glue, model_path=checkpoint, out=tmp_path / f"r{i}"
        )
        for i in range(2)
    ]
    seeds = [run.results["tasks"]["sst2"]["seeds"] for run in runs]
    for a, b in zip(seeds[0], seeds[1], strict=True):
        assert a["best"] == b["best"] and a["final"] == b["final"]
    weights = [_weights(tmp_path / "r0" / "sst2" / f"seed-{s}" / "final") for s in (1, 2)]
    assert not torch.equal(weights[0]["classifier.weight"], weights[1]["classifier.weight"])
    again = _weights(tmp_path / "r1" / "sst2" / "seed-1" / "final")
    assert all(torch.equal(again[k], weights[0][k]) for k in again)
    summary = runs[0].results["tasks"]["sst2"]["final"]["accuracy"]
    values = [s["final"]["metrics"]["accuracy"] for s in seeds[0]]
    assert summary["mean"] == pytest.approx(np.mean(values))
    assert summary["std"] == pytest.approx(np.std(values, ddof=1))


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_random_init_keeps_architecture_not_weights(checkpoint: Path, tmp_path: Path) -> None:
    glue = write_sentiment_dir(tmp_path / "glue", train=16, dev=8)
    config = FinetuneConfig(lr=1e-9, batch_size=8, max_steps=1, device="cpu", random_init=True)
    finetune_glue(
        config, tasks=parse_tasks("sst2"), data_dir=glue, model_path=checkpoint, out=tmp_path / "ft"
    )
    fresh = _weights(tmp_path / "ft" / "sst2" / "seed-1" / "final")
    pretrained = _weights(checkpoint)
    key = "albert.embeddings.word_embeddings.weight"
    assert fresh[key].shape == pretrained[key].shape
    assert not torch.allclose(fresh[key], pretrained[key], atol=1e-4)


def test_regression_and_two_dev_sets(checkpoint: Path, tmp_path: Path) -> None:
    glue = write_glue_dir(tmp_path / "glue", ("stsb", "mnli"))
    config = FinetuneConfig(batch_size=2, max_steps=2, device="cpu")
    report = finetune_glue(
        config, tasks=parse_tasks("stsb,mnli"), data_dir=glue, model_path=checkpoint, out=tmp_path / "ft"
    )
    tasks = report.results["tasks"]
    assert set(tasks["stsb"]["best"]) == {"pearson", "spearman"}
    assert set(tasks["mnli"]["best"]) == {"accuracy", "accuracy_mm"}
    assert tasks["mnli"]["dev_examples"] == {"dev_matched": 4, "dev_mismatched": 4}
    sub = tmp_path / "sub"
    sub.mkdir()
    written = predict_glue(resolve_models(tmp_path / "ft"), glue, sub, device="cpu")
    assert written == {"STS-B.tsv": 4, "MNLI-m.tsv": 4, "MNLI-mm.tsv": 4, "AX.tsv": 4}
    for line in (sub / "STS-B.tsv").read_text().splitlines()[1:]:
        assert 0.0 <= float(line.split("\t")[1]) <= 5.0
    assert {line.split("\t")[1] for line in (sub / "AX.tsv").read_text().splitlines()[1:]} <= set(
        TASKS["mnli"].labels
    )


def test_bad_inputs(checkpoint: Path, tmp_path: Path, tiny_vocab: Path) -> None:
    glue = write_sentiment_dir(tmp_path / "glue", train=8, dev=4)
    with pytest.raises(AlbertctlError, match="no CoLA data"):
        finetune_glue(
            _FAST, tasks=parse_tasks("cola"), data_dir=glue, model_path=checkpoint, out=tmp_path / "a"
        )
    assert not (tmp_path / "a").exists()
    # A model whose vocabulary is not the tokenizer's.
    from albertctl.model import AlbertForPreTraining, get_config, save_model

    other = tmp_path / "other"
    save_model(AlbertForPreTraining(get_config("debug", vocab_size=500)), other)
    with pytest.raises(AlbertctlError, match="holds no tokenizer"):
        finetune_glue(_FAST, tasks=parse_tasks("sst2"), data_dir=glue, model_path=other, out=tmp_path / "b")
    with pytest.raises(AlbertctlError, match="vocab_size 500 .* 1000 pieces"):
        finetune_glue(
            _FAST,
            tasks=parse_tasks("sst2"),
            data_dir=glue,
            model_path=other,
            out=tmp_path / "b",
            vocab=tiny_vocab,
        )


def test_max_steps_and_epochs_together_are_refused() -> None:
    with pytest.raises(AlbertctlError, match="both set the run's length"):
        FinetuneConfig(max_steps=10, epochs=2)


def test_vocab_overriding_the_models_own_is_refused(checkpoint: Path, tmp_path: Path) -> None:
    glue = write_sentiment_dir(tmp_path / "glue", train=8, dev=4)
    other = tmp_path / "wordpiece"
    other.mkdir()
    (other / "vocab.txt").write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"]) + "\n"
    )
    run = dict(tasks=parse_tasks("sst2"), data_dir=glue, model_path=checkpoint, vocab=other)
    with pytest.raises(AlbertctlError, match=r"vocabularies differ: .*--vocab .*the model's own") as info:
        finetune_glue(_FAST, out=tmp_path / "a", **run)
    assert "--allow-vocab-mismatch" in info.value.hint
    assert not (tmp_path / "a").exists()
    # Allowed, the next check still stands: the model's 1000 ids do not fit a 7-piece vocabulary.
    with pytest.raises(AlbertctlError, match="vocab_size 1000 but its tokenizer has 7 pieces"):
        finetune_glue(_FAST, out=tmp_path / "a", allow_vocab_mismatch=True, **run)


def _finetune_argv(glue: Path, model: Path, out: Path, *extra: str) -> list[str]:
    return [
        "finetune", "glue", "--task", "sst2", "--data-dir", str(glue), "--model", str(model),
        "--out", str(out), "--lr", "3e-3", "--batch-size", "8", "--max-steps", "60", "--eval-every", "5",
        "--max-seq-length", "32", "--device", "cpu", "--seeds", "1,2", *extra,
    ]  # fmt: skip


def _outcome(out: Path) -> tuple[list, dict[str, torch.Tensor]]:
    from safetensors.torch import load_file

    results = json.loads((out / "results.json").read_text())
    seeds = [{k: s[k] for k in ("seed", "best", "final")} for s in results["tasks"]["sst2"]["seeds"]]
    weights = {
        f"{p.parent.parent.name}/{p.parent.name}/{k}": v
        for p in sorted(out.glob("sst2/seed-*/*/model.safetensors"))
        for k, v in load_file(str(p)).items()
    }
    return seeds, weights


def test_killed_finetune_resumes_to_the_same_results(checkpoint: Path, tmp_path: Path) -> None:
    """SIGKILL while seed 2 trains (seed 1 done): the same command keeps seed 1, resumes seed 2
    from its last dev evaluation, and ends with the uninterrupted run's metrics and weights."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from albertctl.cli import main

    glue = write_sentiment_dir(tmp_path / "glue", train=160, dev=24)
    with pytest.raises(SystemExit):
        main(_finetune_argv(glue, checkpoint, tmp_path / "straight"))
    killed = tmp_path / "killed"
    state = tmp_path / ".killed.partial" / "sst2" / "seed-2" / "state.pt"
    # One intra-op thread, as the tests' own process: the same float sums on both sides.
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "albertctl", *_finetune_argv(glue, checkpoint, killed)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not state.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before seed 2 saved a resume point"
    assert (tmp_path / ".killed.partial" / "sst2" / "seed-1" / "seed.json").is_file()
    assert not killed.exists()
    with pytest.raises(SystemExit):
        main(_finetune_argv(glue, checkpoint, killed))
    assert not (tmp_path / ".killed.partial").exists()
    (seeds_a, weights_a), (seeds_b, weights_b) = _outcome(tmp_path / "straight"), _outcome(killed)
    assert seeds_a == seeds_b
    assert weights_a.keys() == weights_b.keys() and len(weights_a) > 0
    for key in weights_a:
        assert torch.equal(weights_a[key], weights_b[key]), key


def test_two_gloo_processes_finetune_like_one(checkpoint: Path, tmp_path: Path) -> None:
    """Under torchrun each process trains its half of every batch; without dropout the result is
    the single process's (up to summation order)."""
    import os
    import subprocess
    import sys

    from albertctl.cli import main

    glue = write_sentiment_dir(tmp_path / "glue", train=64, dev=16)
    flags = ("--dropout", "0", "--classifier-dropout", "0", "--max-steps", "10", "--seeds", "1")
    with pytest.raises(SystemExit):
        main([*_finetune_argv(glue, checkpoint, tmp_path / "one"), *flags])
    args = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        "-m", "albertctl", *_finetune_argv(glue, checkpoint, tmp_path / "two"), *flags,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (seeds_1, weights_1), (seeds_2, weights_2) = _outcome(tmp_path / "one"), _outcome(tmp_path / "two")
    for a, b in zip(seeds_1, seeds_2, strict=True):
        assert a["best"]["step"] == b["best"]["step"]
        for key, value in a["final"]["metrics"].items():
            assert value == pytest.approx(b["final"]["metrics"][key], abs=1e-6), key
    for key in weights_1:
        assert torch.allclose(weights_1[key], weights_2[key], atol=1e-5), key
