"""Hugging Face interop: ``export hf`` loads in transformers cleanly; transformers' folders load in ours."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from albertctl.cli import main
from albertctl.model.albert import AlbertForPreTraining, AlbertForSequenceClassification
from albertctl.model.checkpoint import load_checkpoint, save_model
from albertctl.model.config import get_config
from albertctl.model.export import export_hf

transformers = pytest.importorskip("transformers")

TOL = 1e-5


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture()
def config():
    return dataclasses.replace(
        get_config("debug"), num_hidden_layers=3, num_hidden_groups=2, inner_group_num=2
    )


def batch() -> dict[str, torch.Tensor]:
    ids = torch.randint(5, 128, (2, 9), generator=seeded(1))
    mask = torch.tensor([[1] * 9, [1] * 6 + [0] * 3])
    return {
        "input_ids": ids * mask,
        "token_type_ids": torch.tensor([[0] * 4 + [1] * 5] * 2) * mask,
        "mask": mask,
    }


def ours_forward(model: torch.nn.Module, b: dict[str, torch.Tensor]):
    return model.eval()(b["input_ids"], b["token_type_ids"], b["mask"])


def hf_forward(model: torch.nn.Module, b: dict[str, torch.Tensor]):
    return model.eval()(
        input_ids=b["input_ids"], token_type_ids=b["token_type_ids"], attention_mask=b["mask"]
    )


def test_exported_pretraining_model_loads_cleanly_with_the_same_outputs(
    tmp_path: Path, config, tiny_vocab
) -> None:
    from albertctl.vocab import load_tokenizer

    model = AlbertForPreTraining(config, generator=seeded(0))
    with torch.no_grad():
        model.mlm_head.bias.normal_(generator=seeded(5))
    checkpoint = save_model(model, tmp_path / "ck", tokenizer=load_tokenizer(tiny_vocab))
    report = export_hf(checkpoint, tmp_path / "hf")
    assert report.architecture == "AlbertForPreTraining" and report.tokenizer
    names = sorted(p.name for p in (tmp_path / "hf").iterdir())
    assert {
        "config.json",
        "model.safetensors",
        "spiece.model",
        "tokenizer.json",
        "tokenizer_config.json",
    } <= set(names)
    hf_config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert hf_config["model_type"] == "albert" and hf_config["hidden_act"] == "gelu_new"
    assert len(hf_config["id2label"]) == 2 and hf_config["tie_word_embeddings"] is True

    theirs, info = transformers.AlbertForPreTraining.from_pretrained(
        tmp_path / "hf", output_loading_info=True
    )
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    ours_out, their_out = ours_forward(model, batch()), hf_forward(theirs, batch())
    assert (ours_out.mlm_logits - their_out.prediction_logits).abs().max().item() <= TOL
    assert (ours_out.sop_logits - their_out.sop_logits).abs().max().item() <= TOL

    # The backbone also goes into a classifier: only the new classifier is missing there.
    classifier, info = transformers.AlbertForSequenceClassification.from_pretrained(
        tmp_path / "hf", output_loading_info=True
    )
    assert info["missing_keys"] == {"classifier.weight", "classifier.bias"}

    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    assert tokenizer.pad_token_id == 0 and tokenizer.mask_token_id == 4
    # tokenizer.json travels with the export, so transformers 5 splits user symbols and
    # digit-commas as we (and the TF reference) do, unlike a bare spiece.model.
    text = "A well-known value, 3.0 or 1,000 (roughly)."
    ours = load_tokenizer(tiny_vocab).encode(text)
    assert tokenizer(text, add_special_tokens=False)["input_ids"] == ours


@pytest.mark.parametrize("num_labels", [3, 1])
def test_exported_classifier_loads_cleanly(tmp_path: Path, config, num_labels: int) -> None:
    model = AlbertForSequenceClassification(config, num_labels, generator=seeded(2))
    report = export_hf(save_model(model, tmp_path / "ft"), tmp_path / "hf")
    assert report.architecture == "AlbertForSequenceClassification"
    theirs, info = transformers.AlbertForSequenceClassification.from_pretrained(
        tmp_path / "hf", output_loading_info=True
    )
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    assert theirs.config.num_labels == num_labels
    assert theirs.config.problem_type == ("regression" if num_labels == 1 else "single_label_classification")
    assert (ours_forward(model, batch()) - hf_forward(theirs, batch()).logits).abs().max().item() <= TOL


@pytest.mark.parametrize(
    "cls_name", ["AlbertForPreTraining", "AlbertForSequenceClassification", "AlbertModel"]
)
@pytest.mark.parametrize("layout", ["safetensors", "bin"])
def test_folders_saved_by_transformers_load_in_ours(
    tmp_path: Path, config, cls_name: str, layout: str
) -> None:
    from albertctl.model import hf

    head = {"AlbertForPreTraining": "pretraining", "AlbertForSequenceClassification": "classification"}.get(
        cls_name, "backbone"
    )
    hf_config = transformers.AlbertConfig(**hf.to_hf_config(config, head=head, num_labels=3))
    torch.manual_seed(0)  # transformers initialises from the global RNG
    theirs = getattr(transformers, cls_name)(hf_config).eval()
    with torch.no_grad():
        for param in theirs.parameters():  # make every tensor distinctive, including zero-init biases
            param.add_(torch.randn(param.shape, generator=seeded(param.numel())) * 0.01)
    theirs.save_pretrained(tmp_path / "hf")
    if layout == "bin":
        (tmp_path / "hf" / "model.safetensors").unlink()
        torch.save(theirs.state_dict(), tmp_path / "hf" / "pytorch_model.bin")

    loaded = load_checkpoint(tmp_path / "hf", head=head)  # type: ignore[arg-type]
    assert loaded.source_format == "huggingface" and loaded.initialized == ()
    ours_out, their_out = ours_forward(loaded.model, batch()), hf_forward(theirs, batch())
    if head == "pretraining":
        assert (ours_out.mlm_logits - their_out.prediction_logits).abs().max().item() <= TOL
        assert (ours_out.sop_logits - their_out.sop_logits).abs().max().item() <= TOL
    elif head == "classification":
        assert loaded.model.num_labels == 3
        assert (ours_out - their_out.logits).abs().max().item() <= TOL
    else:
        assert (ours_out[0] - their_out.last_hidden_state).abs().max().item() <= TOL
        assert (ours_out[1] - their_out.pooler_output).abs().max().item() <= TOL
        # Hub checkpoints have no SOP head: pretraining from them initialises the heads.
        again = load_checkpoint(tmp_path / "hf", head="pretraining")
        assert {k.split(".")[0] for k in again.initialized} == {"mlm_head", "sop_classifier"}


def test_export_round_trips_through_our_loader(tmp_path: Path, config) -> None:
    model = AlbertForPreTraining(config, generator=seeded(3))
    export_hf(save_model(model, tmp_path / "ck"), tmp_path / "hf")
    loaded = load_checkpoint(tmp_path / "hf", head="pretraining")
    assert loaded.initialized == () and loaded.unused == ()
    assert all(torch.equal(v, loaded.model.state_dict()[k]) for k, v in model.state_dict().items())


def test_cli_export_from_a_run_directory(tmp_path: Path, config, capsys: pytest.CaptureFixture[str]) -> None:
    model = AlbertForPreTraining(config, generator=seeded(4))
    for step in (10, 20):
        save_model(model, tmp_path / "run" / "checkpoints" / f"step-{step:06d}")
    out = tmp_path / "exported"
    with pytest.raises(SystemExit) as done:
        main(["export", "hf", str(tmp_path / "run"), str(out)])
    assert done.value.code in (0, None)
    assert "step-000020" in capsys.readouterr().out
    assert (out / "model.safetensors").is_file()
    with pytest.raises(SystemExit) as done:
        main(["export", "hf", str(tmp_path / "run"), str(out)])
    assert done.value.code == 1
    assert capsys.readouterr().err.startswith("error: output directory")
    with pytest.raises(SystemExit) as done:
        main(["export", "hf", str(tmp_path / "run"), str(out), "--overwrite"])
    assert done.value.code in (0, None)
    with pytest.raises(SystemExit) as done:
        main(["export", "hf", str(tmp_path / "nothing"), str(tmp_path / "x")])
    assert done.value.code == 1 and "does not exist" in capsys.readouterr().err
