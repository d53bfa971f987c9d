"""Parity with transformers: identical weights give identical outputs and gradients (fp32, 1e-5).

Our weights are copied into transformers' ``AlbertForPreTraining``, ``AlbertForSequenceClassification``
and ``AlbertModel`` through ``hf.py``'s key map (strict: only the tied decoder may be "missing"),
then both run the same padded batch in eval mode. transformers runs its eager attention.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from albertctl.model import hf
from albertctl.model.albert import (
    AlbertForPreTraining,
    AlbertForSequenceClassification,
    AlbertModel,
    PreTrainingOutput,
    pretraining_loss,
    sequence_classification_loss,
)
from albertctl.model.config import AlbertConfig, get_config

transformers = pytest.importorskip("transformers")

TOL = 1e-5

CONFIGS = {
    "debug": {},
    "groups2-inner2": {"num_hidden_layers": 4, "num_hidden_groups": 2, "inner_group_num": 2},
    "groups3-of-5": {"num_hidden_layers": 5, "num_hidden_groups": 3},
    "e-equals-h-erf-gelu": {"embedding_size": 32, "hidden_act": "gelu", "type_vocab_size": 3},
    "dropout-in-config": {"hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1},
}


def make_config(name: str) -> AlbertConfig:
    return dataclasses.replace(get_config("debug"), **CONFIGS[name])


def make_batch(config: AlbertConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    """A padded batch: lengths 12, 9 and 4 in a (3, 12) tensor; pad id 0, two segments."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([12, 9, 4])
    ids = torch.randint(5, config.vocab_size, (3, 12), generator=gen)
    mask = (torch.arange(12)[None, :] < lengths[:, None]).long()  # (B, L)
    types = (torch.arange(12)[None, :] >= (lengths[:, None] // 2)).long() * mask  # (B, L)
    positions = torch.tensor([[1, 5, 10], [2, 7, 0], [1, 3, 0]])  # (B, P), padded with 0
    weights = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    mlm_ids = torch.randint(5, config.vocab_size, (3, 3), generator=gen)
    return {
        "input_ids": ids * mask,
        "token_type_ids": types,
        "input_mask": mask,
        "masked_lm_positions": positions,
        "masked_lm_weights": weights,
        "masked_lm_ids": mlm_ids,
        "sentence_order_label": torch.tensor([0, 1, 1]),
    }


def hf_model(
    cls_name: str, config: AlbertConfig, state: dict[str, torch.Tensor], *, head: str, num_labels=None
):
    """A transformers model of class ``cls_name`` holding exactly ``state`` (our names)."""
    hf_config = transformers.AlbertConfig(**hf.to_hf_config(config, head=head, num_labels=num_labels))
    hf_config._attn_implementation = "eager"
    model = getattr(transformers, cls_name)(hf_config)
    result = model.load_state_dict(hf.to_hf_state_dict(state), strict=False)
    assert not result.unexpected_keys
    assert set(result.missing_keys) <= {"predictions.decoder.weight", "predictions.decoder.bias"}
    if hasattr(model, "tie_weights"):
        model.tie_weights()
    return model.eval()


def compare_grads(ours: torch.nn.Module, theirs: torch.nn.Module) -> None:
    """Every parameter's gradient, matched through the key map, agrees within TOL."""
    our_grads = {k: p.grad for k, p in ours.named_parameters()}
    their_params = dict(theirs.named_parameters())
    mapped = hf.to_hf_state_dict(our_grads)
    checked = 0
    for key, grad in mapped.items():
        their = their_params[key].grad
        assert grad is not None and their is not None, key
        assert (grad - their).abs().max().item() <= TOL, key
        checked += 1
    assert checked == len(our_grads)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_pretraining_outputs_and_gradients_match_transformers(name: str) -> None:
    config = make_config(name)
    ours = AlbertForPreTraining(config, generator=torch.Generator().manual_seed(1)).eval()
    theirs = hf_model("AlbertForPreTraining", config, ours.state_dict(), head="pretraining")
    batch = make_batch(config)

    full = ours(batch["input_ids"], batch["token_type_ids"], batch["input_mask"])
    reference = theirs(
        input_ids=batch["input_ids"],
        token_type_ids=batch["token_type_ids"],
        attention_mask=batch["input_mask"],
    )
    assert (full.mlm_logits - reference.prediction_logits).abs().max().item() <= TOL
    assert (full.sop_logits - reference.sop_logits).abs().max().item() <= TOL

    # Logits at the masked positions only, and the loss built on them; gradients through both.
    out = ours(batch["input_ids"], batch["token_type_ids"], batch["input_mask"], batch["masked_lm_positions"])
    index = batch["masked_lm_positions"][:, :, None].expand(-1, -1, config.vocab_size)
    gathered = torch.gather(reference.prediction_logits, 1, index)  # (B, P, V)
    assert (out.mlm_logits - gathered).abs().max().item() <= TOL
    labels = (batch["masked_lm_ids"], batch["masked_lm_weights"], batch["sentence_order_label"])
    our_loss = pretraining_loss(out, *labels)
    their_loss = pretraining_loss(PreTrainingOutput(gathered, reference.sop_logits), *labels)
    assert abs(our_loss.loss.item() - their_loss.loss.item()) <= TOL
    our_loss.loss.backward()
    their_loss.loss.backward()
    compare_grads(ours, theirs)


@pytest.mark.parametrize("num_labels", [3, 1])
@pytest.mark.parametrize("name", ["debug", "groups2-inner2"])
def test_sequence_classification_matches_transformers(name: str, num_labels: int) -> None:
    config = make_config(name)
    ours = AlbertForSequenceClassification(
        config, num_labels, generator=torch.Generator().manual_seed(2)
    ).eval()
    theirs = hf_model(
        "AlbertForSequenceClassification",
        config,
        ours.state_dict(),
        head="classification",
        num_labels=num_labels,
    )
    batch = make_batch(config, seed=3)
    logits = ours(batch["input_ids"], batch["token_type_ids"], batch["input_mask"])
    reference = theirs(
        input_ids=batch["input_ids"],
        token_type_ids=batch["token_type_ids"],
        attention_mask=batch["input_mask"],
    ).logits
    assert logits.shape == (3, num_labels)
    assert (logits - reference).abs().max().item() <= TOL
    labels = torch.tensor([0.5, 2.0, -1.0]) if num_labels == 1 else torch.tensor([0, 2, 1])
    our_loss = sequence_classification_loss(logits, labels)
    expected = (
        F.mse_loss(reference.squeeze(-1), labels) if num_labels == 1 else F.cross_entropy(reference, labels)
    )
    assert abs(our_loss.item() - expected.item()) <= TOL
    our_loss.backward()
    expected.backward()
    compare_grads(ours, theirs)


def test_backbone_matches_transformers_albert_model() -> None:
    config = make_config("groups2-inner2")
    ours = AlbertModel(config, generator=torch.Generator().manual_seed(4)).eval()
    theirs = hf_model("AlbertModel", config, ours.state_dict(), head="backbone")
    batch = make_batch(config, seed=5)
    sequence, pooled = ours(batch["input_ids"], batch["token_type_ids"], batch["input_mask"])
    reference = theirs(
        input_ids=batch["input_ids"],
        token_type_ids=batch["token_type_ids"],
        attention_mask=batch["input_mask"],
    )
    assert (sequence - reference.last_hidden_state).abs().max().item() <= TOL
    assert (pooled - reference.pooler_output).abs().max().item() <= TOL
    real = batch["input_mask"].bool()
    (sequence[real].square().mean() + pooled.sum()).backward()
    (reference.last_hidden_state[real].square().mean() + reference.pooler_output.sum()).backward()
    compare_grads(ours, theirs)
