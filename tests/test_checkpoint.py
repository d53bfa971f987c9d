"""Our model folders: save/load round trips, head changes, overrides, run-dir resolution, safety."""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path

import pytest
import torch

from albertctl.errors import AlbertctlError
from albertctl.model.albert import AlbertForPreTraining, AlbertForSequenceClassification, AlbertModel
from albertctl.model.checkpoint import load_checkpoint, load_model, resolve_checkpoint, save_model
from albertctl.model.config import get_config


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class StandInTokenizer:
    """Stands in for albertctl.vocab's Tokenizer: only ``save(dir)`` matters here."""

    def save(self, out_dir: Path) -> None:
        (Path(out_dir) / "spiece.model").write_bytes(b"not a real model")
        (Path(out_dir) / "vocab_config.json").write_text("{}")


@pytest.fixture()
def config():
    return dataclasses.replace(
        get_config("debug"), num_hidden_layers=3, num_hidden_groups=2, inner_group_num=2
    )


@pytest.fixture()
def pretrained(tmp_path: Path, config) -> tuple[AlbertForPreTraining, Path]:
    model = AlbertForPreTraining(config, generator=seeded(0))
    with torch.no_grad():
        model.mlm_head.bias.add_(0.5)  # not the init value, so a lost tensor shows
    return model, save_model(model, tmp_path / "ck", tokenizer=StandInTokenizer())


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(5, 128, (2, 7), generator=seeded(1))
    return ids, torch.tensor([[1] * 7, [1] * 4 + [0] * 3])


def test_save_writes_a_self_describing_folder(pretrained) -> None:
    model, path = pretrained
    assert sorted(p.name for p in path.iterdir()) == [
        "config.json",
        "model.safetensors",
        "spiece.model",
        "vocab_config.json",
    ]
    data = json.loads((path / "config.json").read_text())
    assert (
        data["format"] == "albertctl-model" and data["head"] == "pretraining" and data["num_labels"] is None
    )
    assert data["inner_group_num"] == 2 and data["vocab_size"] == 128


def test_round_trip_is_exact(pretrained) -> None:
    model, path = pretrained
    loaded, config = load_model(path, head="pretraining")
    assert config == model.config and loaded.training
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True)
    )
    ids, mask = batch()
    assert torch.equal(model.eval()(ids, None, mask).mlm_logits, loaded.eval()(ids, None, mask).mlm_logits)


def test_classification_from_pretraining_initialises_only_the_classifier(pretrained) -> None:
    model, path = pretrained
    loaded = load_checkpoint(path, head="classification", num_labels=3, generator=seeded(9))
    assert isinstance(loaded.model, AlbertForSequenceClassification) and loaded.model.num_labels == 3
    assert loaded.initialized == ("classifier.weight", "classifier.bias")
    assert "mlm_head.bias" in loaded.unused and "sop_classifier.weight" in loaded.unused
    ours = model.albert.state_dict()
    assert all(torch.equal(ours[k], v) for k, v in loaded.model.albert.state_dict().items())
    with pytest.raises(AlbertctlError, match="num_labels must be given"):
        load_model(path, head="classification")


def test_classification_checkpoint_keeps_its_head_and_label_count(tmp_path: Path, config) -> None:
    model = AlbertForSequenceClassification(config, 3, generator=seeded(2))
    path = save_model(model, tmp_path / "ft")
    loaded = load_checkpoint(path, head="classification")
    assert loaded.initialized == () and loaded.model.num_labels == 3
    assert torch.equal(loaded.model.classifier.weight, model.classifier.weight)
    # Another task's label count: a fresh classifier, the backbone kept.
    other = load_checkpoint(path, head="classification", num_labels=1)
    assert other.initialized == ("classifier.weight", "classifier.bias")
    # And back to pretraining: the MLM and SOP heads are made up.
    again = load_checkpoint(path, head="pretraining")
    assert set(again.initialized) == {k for k in again.model.state_dict() if not k.startswith("albert.")}


def test_backbone_round_trip(tmp_path: Path, pretrained) -> None:
    model, path = pretrained
    backbone, _ = load_model(path, head="backbone")
    assert isinstance(backbone, AlbertModel)
    saved = save_model(backbone, tmp_path / "backbone")
    assert json.loads((saved / "config.json").read_text())["head"] == "backbone"
    again = load_checkpoint(saved, head="pretraining")
    assert all(
        torch.equal(model.albert.state_dict()[k], v) for k, v in again.model.albert.state_dict().items()
    )


def test_overrides_change_dropout_but_not_shapes(pretrained) -> None:
    _, path = pretrained
    _, config = load_model(path, overrides={"hidden_dropout_prob": 0.1, "classifier_dropout_prob": 0.0})
    assert config.hidden_dropout_prob == 0.1 and config.classifier_dropout_prob == 0.0
    with pytest.raises(AlbertctlError, match="hidden_size"):
        load_model(path, overrides={"hidden_size": 64})


def test_config_that_does_not_match_the_weights_is_an_error(pretrained) -> None:
    _, path = pretrained
    data = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**data, "num_hidden_groups": 1}))
    with pytest.raises(AlbertctlError, match="layout"):
        load_model(path)
    (path / "config.json").write_text(json.dumps({**data, "intermediate_size": 32}))
    with pytest.raises(AlbertctlError, match="shape"):
        load_model(path)


def test_save_refuses_to_replace_without_overwrite(pretrained) -> None:
    model, path = pretrained
    with pytest.raises(AlbertctlError, match="--overwrite"):
        save_model(model, path)
    save_model(model, path, overwrite=True)
    assert (path / "model.safetensors").is_file() and not (path / "spiece.model").exists()


def test_resolve_checkpoint_picks_the_newest_complete_step(tmp_path: Path, pretrained) -> None:
    model, path = pretrained
    assert resolve_checkpoint(path) == path
    run = tmp_path / "run"
    for step in (100, 2000):
        save_model(model, run / "checkpoints" / f"step-{step:06d}")
    (run / "checkpoints" / "step-003000").mkdir()  # being written by someone else: no weights yet
    (run / "checkpoints" / ".step-004000.tmp-1234").mkdir()
    assert resolve_checkpoint(run) == run / "checkpoints" / "step-002000"
    loaded, _ = load_model(run)
    assert torch.equal(loaded.mlm_head.bias, model.mlm_head.bias)
    with pytest.raises(AlbertctlError, match="no complete checkpoints"):
        resolve_checkpoint(tmp_path / "run" / "checkpoints" / "step-003000")
    with pytest.raises(AlbertctlError, match="does not exist"):
        resolve_checkpoint(tmp_path / "missing")


def test_unknown_head_and_foreign_config(tmp_path: Path, pretrained) -> None:
    _, path = pretrained
    with pytest.raises(AlbertctlError, match="unknown head"):
        load_model(path, head="mlm")  # type: ignore[arg-type]
    (path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(AlbertctlError, match="neither"):
        load_model(path)


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_pickled_objects_are_never_loaded(tmp_path: Path, config) -> None:
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "albert", **config.to_dict()}))
    with open(folder / "pytorch_model.bin", "wb") as handle:
        pickle.dump({"albert.pooler.weight": _Payload()}, handle, protocol=2)
    with pytest.raises(AlbertctlError, match="safely"):
        load_model(folder)


def test_model_files_are_byte_stable_and_world_readable(tmp_path: Path, config) -> None:
    import hashlib
    import os

    def saved(k: int) -> Path:
        model = AlbertForPreTraining(config, generator=seeded(0))
        return save_model(model, tmp_path / f"m{k}") / "model.safetensors"

    files = [saved(k) for k in range(4)]  # the old writer's header order changed run to run
    digests = {hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    assert len(digests) == 1
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(files[0]).st_mode & 0o777 == 0o666 & ~umask
    assert os.stat(files[0]).st_mode & 0o777 == os.stat(files[0].with_name("config.json")).st_mode & 0o777
