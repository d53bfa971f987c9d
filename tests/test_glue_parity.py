"""Parity with transformers both ways: a model saved by transformers fine-tunes with us, and a
model we fine-tune, exported with ``export_hf``, gives the same dev logits in transformers."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from test_glue_finetune import write_sentiment_dir

from albertctl.glue.batching import encode_examples
from albertctl.glue.evaluate import load_finetuned, predict_logits, resolve_finetuned
from albertctl.glue.finetune import FinetuneConfig, finetune_glue
from albertctl.glue.readers import read_split
from albertctl.glue.tasks import TASKS, parse_tasks

transformers = pytest.importorskip("transformers")


def _hf_config(vocab_size: int, **extra: object) -> object:
    return transformers.AlbertConfig(
        vocab_size=vocab_size,
        embedding_size=16,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        hidden_act="gelu_new",
        **extra,
    )


@pytest.mark.parametrize("cls_name", ["AlbertModel", "AlbertForSequenceClassification"])
def test_transformers_model_finetunes_with_us(tiny_vocab: Path, tmp_path: Path, cls_name: str) -> None:
    from safetensors.torch import load_file

    torch.manual_seed(0)  # transformers initialises from the global RNG
    hf_dir = tmp_path / "hf"
    hf_model = getattr(transformers, cls_name)(_hf_config(1000))
    hf_model.save_pretrained(hf_dir)
    shutil.copyfile(tiny_vocab / "spiece.model", hf_dir / "spiece.model")  # an HF dir holds spiece.model only
    glue = write_sentiment_dir(tmp_path / "glue", train=16, dev=8)
    # lr ~ 0: the fine-tuned backbone must still be the transformers weights, so they were loaded.
    config = FinetuneConfig(lr=1e-12, batch_size=8, max_steps=2, device="cpu")
    report = finetune_glue(
        config, tasks=parse_tasks("sst2"), data_dir=glue, model_path=hf_dir, out=tmp_path / "ft"
    )
    ours = load_file(
        str(
            tmp_path
            / "ft"
            / report.results["tasks"]["sst2"]["seeds"][0]["final"]["checkpoint"]
            / "model.safetensors"
        )
    )
    backbone = hf_model.albert if cls_name != "AlbertModel" else hf_model
    expected = backbone.embeddings.word_embeddings.weight.detach()
    assert torch.allclose(ours["albert.embeddings.word_embeddings.weight"], expected, atol=1e-6)


def test_our_finetuned_model_gives_same_dev_predictions_in_transformers(
    tiny_vocab: Path, tmp_path: Path
) -> None:
    from albertctl.model import AlbertForPreTraining, get_config, save_model
    from albertctl.model.export import export_hf
    from albertctl.vocab import load_tokenizer

    tokenizer = load_tokenizer(tiny_vocab)
    ckpt = tmp_path / "ckpt"
    save_model(
        AlbertForPreTraining(
            get_config("debug", vocab_size=tokenizer.vocab_size), generator=torch.Generator().manual_seed(0)
        ),
        ckpt,
        tokenizer=tokenizer,
    )
    glue = write_sentiment_dir(tmp_path / "glue", train=32, dev=24)
    config = FinetuneConfig(lr=2e-3, batch_size=8, max_steps=8, device="cpu")
    finetune_glue(config, tasks=parse_tasks("sst2"), data_dir=glue, model_path=ckpt, out=tmp_path / "ft")
    ft = resolve_finetuned(tmp_path / "ft", TASKS["sst2"])
    export_hf(ft.path, tmp_path / "hf")

    model, tok = load_finetuned(ft, torch.device("cpu"))
    dev = encode_examples(
        tok, read_split(TASKS["sst2"], glue, "dev").examples, max_seq_length=128, regression=False
    )
    ours = predict_logits(model, dev, batch_size=7, pad_id=tok.pad_id, device=torch.device("cpu"))

    hf = transformers.AlbertForSequenceClassification.from_pretrained(tmp_path / "hf").eval()
    width = max(len(ids) for ids in dev.input_ids)
    ids = torch.zeros((len(dev), width), dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for i, (row, row_types) in enumerate(zip(dev.input_ids, dev.token_type_ids, strict=True)):
        ids[i, : len(row)] = torch.tensor(row)
        types[i, : len(row)] = torch.tensor(row_types)
        mask[i, : len(row)] = 1
    with torch.no_grad():
        theirs = hf(input_ids=ids, token_type_ids=types, attention_mask=mask).logits.numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    assert np.array_equal(ours.argmax(-1), theirs.argmax(-1))


def _saved_hf_classifier(tiny_vocab: Path, out: Path, **config: object) -> object:
    from albertctl.vocab import load_tokenizer

    torch.manual_seed(0)
    model = transformers.AlbertForSequenceClassification(_hf_config(1000, **config)).eval()
    model.save_pretrained(out)
    load_tokenizer(tiny_vocab).save(out)
    return model


def test_transformers_saved_classifier_predicts_with_its_label_names(
    tiny_vocab: Path, tmp_path: Path
) -> None:
    """A folder transformers saved (no glue.json): the task from --task, each output's label from
    id2label, here in the opposite order to SST-2's."""
    from albertctl.glue.evaluate import evaluate_glue, predict_glue, resolve_models

    hf_dir = tmp_path / "hf"
    hf = _saved_hf_classifier(tiny_vocab, hf_dir, id2label={0: "1", 1: "0"}, label2id={"1": 0, "0": 1})
    glue = write_sentiment_dir(tmp_path / "glue", train=8, dev=24)
    ft = resolve_finetuned(hf_dir, TASKS["sst2"])
    assert ft.columns == (1, 0)
    model, tok = load_finetuned(ft, torch.device("cpu"))
    test = encode_examples(
        tok, read_split(TASKS["sst2"], glue, "test").examples, max_seq_length=128, regression=False
    )
    raw = predict_logits(model, test, batch_size=4, pad_id=tok.pad_id, device=torch.device("cpu"))
    out = tmp_path / "sub"
    out.mkdir()
    predict_glue(resolve_models(hf_dir, "sst2"), glue, out, device="cpu")
    rows = (out / "SST-2.tsv").read_text().splitlines()[1:]
    written = [row.split("\t")[1] for row in rows]
    assert written == [hf.config.id2label[int(i)] for i in raw.argmax(-1)]
    _, metrics = evaluate_glue(hf_dir, glue, task="sst2", device="cpu")
    dev = encode_examples(
        tok, read_split(TASKS["sst2"], glue, "dev").examples, max_seq_length=128, regression=False
    )
    dev_raw = predict_logits(model, dev, batch_size=4, pad_id=tok.pad_id, device=torch.device("cpu"))
    expected = np.mean((1 - dev_raw.argmax(-1)) == dev.labels)
    assert metrics["accuracy"] == pytest.approx(expected)


def test_transformers_saved_classifier_without_a_label_mapping_is_refused(
    tiny_vocab: Path, tmp_path: Path
) -> None:
    hf_dir = tmp_path / "hf"
    _saved_hf_classifier(tiny_vocab, hf_dir, num_labels=3)
    with pytest.raises(Exception, match=r"LABEL_0\.\.LABEL_2, so which is contradiction, entailment"):
        resolve_finetuned(hf_dir, TASKS["mnli"])
    with pytest.raises(Exception, match="does not say which task"):
        resolve_finetuned(hf_dir, None)
    with pytest.raises(Exception, match="has 3 outputs; sst2 has 2 labels"):
        resolve_finetuned(hf_dir, TASKS["sst2"])
