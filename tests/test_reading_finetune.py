"""``finetune|predict|eval squad`` and ``... race`` end to end on tiny in-process data: the shared
loop's outputs, the official files, and that eval re-scores exactly what fine-tuning reported."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from albertctl.errors import AlbertctlError

_WORDS = "the function returns a value from the list and the file is read by the module".split()
_NAMES = "alpha beta gamma delta epsilon zeta theta kappa".split()


def _squad_file(path: Path, *, questions: int, seed: int, version: str = "1.1") -> Path:
    """An official-layout SQuAD file: each paragraph says which name a module has; questions ask it."""
    rng = np.random.default_rng(seed)
    paragraphs = []
    for q in range(questions):
        name = _NAMES[int(rng.integers(len(_NAMES)))]
        filler = " ".join(rng.choice(_WORDS, size=int(rng.integers(6, 30))))
        context = f"{filler.capitalize()}. The module is called {name} here. {filler}."
        impossible = version == "2.0" and q % 3 == 0
        qa = {"id": f"q{seed}-{q}", "question": "What is the module called?"}
        if impossible:
            qa.update(question="What is the colour of the file?", answers=[], is_impossible=True)
        else:
            start = context.index(f"called {name}") + len("called ")
            qa["answers"] = [{"text": name, "answer_start": start}] * 2
        paragraphs.append({"context": context, "qas": [qa]})
    data = {"version": version, "data": [{"title": "modules", "paragraphs": paragraphs}]}
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def checkpoint(tiny_vocab: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from albertctl.model import AlbertForPreTraining, get_config, save_model
    from albertctl.vocab import load_tokenizer

    tokenizer = load_tokenizer(tiny_vocab)
    out = tmp_path_factory.mktemp("reading_ckpt") / "model"
    config = get_config("debug", vocab_size=tokenizer.vocab_size)
    save_model(
        AlbertForPreTraining(config, generator=torch.Generator().manual_seed(0)), out, tokenizer=tokenizer
    )
    return out


@pytest.mark.parametrize("version", ["1.1", "2.0"])
def test_finetune_predict_and_eval_squad_agree(checkpoint: Path, tmp_path: Path, version: str) -> None:
    from albertctl.squad.config import SquadFinetuneConfig
    from albertctl.squad.finetune import finetune_squad, predict_squad
    from albertctl.squad.metrics import evaluate_files

    train = _squad_file(tmp_path / "train.json", questions=24, seed=1, version=version)
    dev = _squad_file(tmp_path / "dev.json", questions=9, seed=2, version=version)
    config = SquadFinetuneConfig(
        version=version, lr=3e-3, batch_size=8, max_steps=6, eval_every=3, max_seq_length=48,
        doc_stride=16, max_query_length=12, device="cpu",
    )  # fmt: skip
    report = finetune_squad(
        config, train_file=train, dev_file=dev, model_path=checkpoint, out=tmp_path / "ft"
    )
    task = report.results["tasks"]["squad"]
    assert task["selection_metric"] == "f1" and task["dev_examples"] == {"dev": 9}
    expected = {"1.1": {"exact_match", "f1"}, "2.0": {"exact", "f1", "HasAns_exact", "best_f1_thresh"}}
    assert expected[version] <= set(task["metrics"])
    final = tmp_path / "ft" / task["seeds"][0]["final"]["checkpoint"]
    meta = json.loads((final / "squad.json").read_text())
    assert (meta["version"], meta["max_seq_length"], meta["doc_stride"]) == (version, 48, 16)

    predicted = predict_squad(tmp_path / "ft", dev, tmp_path / "pred", which="final", device="cpu")
    answers = json.loads((tmp_path / "pred" / "predictions.json").read_text())
    assert set(answers) == {f"q2-{q}" for q in range(9)}
    null_odds = tmp_path / "pred" / "null_odds.json"
    assert null_odds.is_file() == (version == "2.0")
    # eval squad re-scores the written files exactly as the run's final dev evaluation.
    rescored = evaluate_files(
        dev, tmp_path / "pred" / "predictions.json", null_odds if version == "2.0" else None
    )
    for name, value in task["seeds"][0]["final"]["metrics"].items():
        assert rescored[name] == pytest.approx(value, abs=1e-9), name
        assert predicted["metrics"][name] == pytest.approx(value, abs=1e-9), name


def _race_archive(root: Path, split: str, articles: int, seed: int) -> None:
    """RACE_<split>.tar.gz in the original member layout: the right option repeats the article's name."""
    rng = np.random.default_rng(seed)
    with tarfile.open(root / f"RACE_{split}.tar.gz", "w:gz") as tar:
        for a in range(articles):
            level = ("middle", "high")[a % 2]
            name = _NAMES[int(rng.integers(len(_NAMES)))]
            filler = " ".join(rng.choice(_WORDS, size=int(rng.integers(8, 40))))
            answer = int(rng.integers(4))
            others = [n for n in _NAMES if n != name]
            options = [str(o) for o in rng.choice(others, size=4, replace=False)]
            options[answer] = name
            obj = {
                "answers": ["ABCD"[answer]],
                "options": [options],
                "questions": ["The module is called _ ."],
                "article": f"{filler}. The module is called {name}. {filler}.",
                "id": f"{level}{a}.txt",
            }
            raw = json.dumps(obj).encode()
            info = tarfile.TarInfo(f"RACE/{split}/{level}/{a}.txt")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))


def test_finetune_predict_and_eval_race_agree(checkpoint: Path, tmp_path: Path) -> None:
    from albertctl.race.config import RaceFinetuneConfig
    from albertctl.race.finetune import evaluate_race, finetune_race, predict_race

    data = tmp_path / "race"
    data.mkdir()
    _race_archive(data, "train", 24, seed=1)
    _race_archive(data, "dev", 10, seed=2)
    _race_archive(data, "test", 6, seed=3)
    config = RaceFinetuneConfig(
        lr=3e-3, batch_size=8, max_steps=4, eval_every=2, max_seq_length=64, max_qa_length=16, device="cpu"
    )
    report = finetune_race(config, data_dir=data, model_path=checkpoint, out=tmp_path / "ft")
    task = report.results["tasks"]["race"]
    assert task["metrics"] == ["accuracy", "accuracy_middle", "accuracy_high"]
    assert task["train_examples"] == 24 and task["dev_examples"] == {"dev": 10}
    best = task["seeds"][0]["best"]
    assert evaluate_race(tmp_path / "ft", data, split="dev", device="cpu") == pytest.approx(best["metrics"])
    out = predict_race(tmp_path / "ft", data, tmp_path / "pred", device="cpu")
    written = json.loads((tmp_path / "pred" / "predictions.json").read_text())
    assert out["questions"] == 6 and len(written) == 6 and set(written.values()) <= set("ABCD")


def test_squad_user_mistakes_are_one_error_line(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from conftest import run_cli_error

    train = _squad_file(tmp_path / "train.json", questions=4, seed=1)
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": "1.1", "data": [', encoding="utf-8")
    base = [
        "finetune",
        "squad",
        "--train-file",
        str(train),
        "--model",
        str(checkpoint),
        "--out",
        str(tmp_path / "o"),
    ]
    assert "SQuAD version '3.0' is not one of 1.1, 2.0" in run_cli_error(
        [*base, "--dev-file", str(train), "--version", "3.0"], capsys
    )
    line = run_cli_error([*base, "--dev-file", str(bad)], capsys)
    assert f"{bad}:1:" in line and "not valid JSON" in line
    assert not (tmp_path / "o").exists()
    with pytest.raises(AlbertctlError, match="is not a fine-tuned squad model"):
        from albertctl.squad.finetune import resolve_squad_model

        resolve_squad_model(checkpoint)


def test_a_transformers_qa_folder_finetunes_predicts_and_evaluates(tiny_vocab: Path, tmp_path: Path) -> None:
    """A folder ``AlbertForQuestionAnswering.save_pretrained`` wrote (no squad.json): fine-tuned from,
    and predicted and scored as it is, with the default windows."""
    transformers = pytest.importorskip("transformers")
    from albertctl.squad.config import SquadFinetuneConfig
    from albertctl.squad.finetune import finetune_squad, predict_squad
    from albertctl.squad.metrics import evaluate_files
    from albertctl.vocab import load_tokenizer

    torch.manual_seed(0)
    hf_config = transformers.AlbertConfig(
        vocab_size=1000, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, hidden_act="gelu_new",
    )  # fmt: skip
    hf_dir = tmp_path / "hf"
    transformers.AlbertForQuestionAnswering(hf_config).save_pretrained(hf_dir)
    load_tokenizer(tiny_vocab).save(hf_dir)
    train = _squad_file(tmp_path / "train.json", questions=12, seed=1)
    dev = _squad_file(tmp_path / "dev.json", questions=5, seed=2)

    predicted = predict_squad(hf_dir, dev, tmp_path / "pred-hf", device="cpu")
    assert predicted["version"] == "1.1" and set(predicted["metrics"]) == {"exact_match", "f1"}
    rescored = evaluate_files(dev, tmp_path / "pred-hf" / "predictions.json")
    assert rescored["f1"] == pytest.approx(predicted["metrics"]["f1"])

    config = SquadFinetuneConfig(lr=1e-3, batch_size=4, max_steps=2, max_seq_length=48, doc_stride=16,
                                 max_query_length=12, device="cpu")  # fmt: skip
    report = finetune_squad(config, train_file=train, dev_file=dev, model_path=hf_dir, out=tmp_path / "ft")
    assert report.results["tasks"]["squad"]["seeds"][0]["final"]["step"] == 2


def test_eval_squad_scores_another_tools_file_and_refuses_a_bad_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from conftest import run_cli_error

    from albertctl.cli import main

    dev = _squad_file(tmp_path / "dev.json", questions=4, seed=2)
    gold = {qa["id"]: qa["answers"][0]["text"] for p in json.loads(dev.read_text())["data"][0]["paragraphs"]
            for qa in p["qas"]}  # fmt: skip
    ids = sorted(gold)
    predictions = tmp_path / "p.json"
    predictions.write_text(
        json.dumps({ids[0]: gold[ids[0]], ids[1]: "The " + gold[ids[1]].upper(), ids[2]: "x"})
    )
    with pytest.raises(SystemExit) as done:
        main(["eval", "squad", "--dev-file", str(dev), "--predictions", str(predictions)])
    assert done.value.code in (0, None)
    out = capsys.readouterr().out
    # 2 of 4 exact (normalization drops "The" and case), one wrong, one missing.
    assert "exact_match" in out and "50.00" in out
    predictions.write_text(json.dumps({"nope": "x"}))
    line = run_cli_error(["eval", "squad", "--dev-file", str(dev), "--predictions", str(predictions)], capsys)
    assert "1 prediction(s) are for questions the dev set does not have, e.g. nope" in line
