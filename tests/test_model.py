"""The model core on tiny configs: config validation and flavors, sharing, masking, heads, losses, init."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from albertctl.errors import AlbertctlError
from albertctl.model.albert import (
    AlbertForPreTraining,
    AlbertForSequenceClassification,
    AlbertModel,
    PreTrainingOutput,
    group_of_layer,
    pretraining_loss,
    sequence_classification_loss,
)
from albertctl.model.config import FLAVORS, AlbertConfig, get_config


def debug(**changes: object) -> AlbertConfig:
    return dataclasses.replace(get_config("debug"), **changes)


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- config -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("vocab_size", 0),
        ("hidden_size", 30),  # not a multiple of 4 heads
        ("num_hidden_groups", 3),  # more groups than the 2 layers
        ("inner_group_num", 0),
        ("hidden_dropout_prob", 1.0),
        ("attention_probs_dropout_prob", -0.1),
        ("layer_norm_eps", 0.0),
        ("hidden_act", "tanh"),
        ("num_attention_heads", True),
    ],
)
def test_config_rejects_bad_values_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(AlbertctlError, match=field):
        debug(**{field: value})


def test_config_is_frozen_and_keyword_only() -> None:
    config = get_config("debug")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.hidden_size = 64  # type: ignore[misc]
    with pytest.raises(TypeError):
        AlbertConfig(100)  # type: ignore[misc]


def test_flavors_have_the_released_shapes() -> None:
    assert set(FLAVORS) == {
        "debug",
        "tiny",
        "base",
        "large",
        "xlarge",
        "xxlarge",
        "tiny-zh",
        "tiny-zh-brightmart",
    }
    tiny = get_config("tiny")
    assert (tiny.hidden_size, tiny.embedding_size, tiny.num_hidden_layers) == (312, 128, 4)
    assert (tiny.num_attention_heads, tiny.intermediate_size, tiny.head_size) == (12, 1248, 26)
    xxlarge = get_config("xxlarge")
    assert (xxlarge.hidden_size, xxlarge.num_attention_heads, xxlarge.intermediate_size) == (4096, 64, 16384)
    for name in ("base", "large", "xlarge", "xxlarge"):
        config = get_config(name)
        assert config.hidden_act == "gelu_new" and config.hidden_dropout_prob == 0.0  # v2
        assert config.max_position_embeddings == 512 and config.num_hidden_groups == 1


def test_get_config_takes_vocab_size_from_the_vocabulary() -> None:
    assert get_config("base", vocab_size=1000).vocab_size == 1000
    assert get_config("base").vocab_size == 30000


def test_get_config_reads_json_ours_and_hugging_face(tmp_path: Path) -> None:
    ours = tmp_path / "ours.json"
    ours.write_text(json.dumps(debug(hidden_size=48, num_attention_heads=6).to_dict()))
    assert get_config(ours).hidden_size == 48
    hf_file = tmp_path / "hf.json"
    hf_file.write_text(
        json.dumps({"model_type": "albert", "architectures": ["X"], **get_config("tiny").to_dict()})
    )
    assert get_config(hf_file, vocab_size=77) == dataclasses.replace(get_config("tiny"), vocab_size=77)
    typo = tmp_path / "typo.json"
    typo.write_text(json.dumps({"hiden_size": 48}))
    with pytest.raises(AlbertctlError, match="hiden_size"):
        get_config(typo)
    with pytest.raises(AlbertctlError, match="unknown model 'huge'"):
        get_config("huge")


def test_config_dict_round_trip() -> None:
    config = debug(num_hidden_groups=2, inner_group_num=3)
    assert AlbertConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


# --- backbone ---------------------------------------------------------------------------------


def test_layers_use_groups_like_tf() -> None:
    config = debug(num_hidden_layers=12, num_hidden_groups=3)
    assert [group_of_layer(i, config) for i in range(12)] == [0] * 4 + [1] * 4 + [2] * 4
    config = debug(num_hidden_layers=5, num_hidden_groups=3)
    assert [group_of_layer(i, config) for i in range(5)] == [int(i / 5 * 3) for i in range(5)]


def test_parameters_are_shared_across_layers_but_not_inside_a_group() -> None:
    def count(config: AlbertConfig) -> int:
        return sum(p.numel() for p in AlbertModel(config).parameters())

    assert count(debug(num_hidden_layers=2)) == count(debug(num_hidden_layers=8))
    block = count(debug(inner_group_num=2)) - count(debug())
    assert block > 0 and count(debug(num_hidden_layers=4, num_hidden_groups=2)) - count(debug()) == block


def test_padding_does_not_change_real_positions() -> None:
    model = AlbertModel(debug(), generator=seeded(0)).eval()
    ids = torch.randint(5, 128, (1, 6), generator=seeded(1))
    short, pooled = model(ids, input_mask=torch.ones_like(ids))
    padded_ids = torch.cat([ids, torch.randint(5, 128, (1, 4), generator=seeded(2))], dim=1)  # junk padding
    mask = torch.tensor([[1] * 6 + [0] * 4])
    long, pooled_long = model(padded_ids, input_mask=mask)
    assert torch.allclose(long[:, :6], short, atol=1e-6)
    assert torch.allclose(pooled_long, pooled, atol=1e-6)
    unmasked, _ = model(padded_ids, input_mask=torch.ones_like(padded_ids))
    assert not torch.allclose(unmasked[:, :6], short, atol=1e-3)  # the mask is what keeps them equal


def test_all_padding_row_stays_finite() -> None:
    model = AlbertModel(debug(), generator=seeded(0)).eval()
    ids = torch.zeros(2, 5, dtype=torch.long)
    sequence, pooled = model(ids, input_mask=torch.zeros_like(ids))
    assert torch.isfinite(sequence).all() and torch.isfinite(pooled).all()


def test_too_long_sequence_is_refused() -> None:
    model = AlbertModel(debug(max_position_embeddings=8))
    with pytest.raises(ValueError, match="max_position_embeddings 8"):
        model(torch.zeros(1, 9, dtype=torch.long))


def test_token_types_default_to_zero() -> None:
    model = AlbertModel(debug(), generator=seeded(0)).eval()
    ids = torch.randint(5, 128, (2, 7), generator=seeded(3))
    assert torch.equal(model(ids)[0], model(ids, torch.zeros_like(ids))[0])
    assert not torch.allclose(model(ids)[0], model(ids, torch.ones_like(ids))[0])


# --- heads and losses -------------------------------------------------------------------------


def test_mlm_logits_at_positions_equal_full_logits_gathered() -> None:
    model = AlbertForPreTraining(debug(), generator=seeded(0)).eval()
    ids = torch.randint(5, 128, (2, 10), generator=seeded(4))
    positions = torch.tensor([[0, 3, 9], [4, 4, 0]])
    full = model(ids)
    sparse = model(ids, masked_lm_positions=positions)
    assert full.mlm_logits.shape == (2, 10, 128) and sparse.mlm_logits.shape == (2, 3, 128)
    expected = torch.stack([full.mlm_logits[b, positions[b]] for b in range(2)])
    assert torch.allclose(sparse.mlm_logits, expected, atol=1e-6)
    assert sparse.sop_logits.shape == (2, 2)


def test_mlm_decoder_is_tied_to_the_word_embeddings() -> None:
    model = AlbertForPreTraining(debug(), generator=seeded(0))
    names = [name for name, _ in model.named_parameters()]
    assert not any("decoder" in name for name in names)
    out = model(torch.tensor([[2, 7, 3]]), masked_lm_positions=torch.tensor([[1]]))
    out.mlm_logits[0, 0, 11].backward()
    assert model.albert.embeddings.word_embeddings.weight.grad[11].abs().sum() > 0  # via the decoder


def test_pretraining_loss_follows_the_tf_weighting() -> None:
    logits = torch.log_softmax(torch.randn(2, 3, 5, generator=seeded(5)), dim=-1)
    sop = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    ids = torch.tensor([[1, 2, 3], [4, -100, 0]])  # padded slots may hold anything
    weights = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    result = pretraining_loss(PreTrainingOutput(logits, sop), ids, weights, torch.tensor([0, 0]))
    nll = [-logits[0, 0, 1], -logits[0, 1, 2], -logits[0, 2, 3], -logits[1, 0, 4]]
    assert math.isclose(result.mlm_loss.item(), (sum(nll) / (4 + 1e-5)).item(), rel_tol=1e-6)
    expected_sop = (F.cross_entropy(sop, torch.tensor([0, 0]))).item()
    assert math.isclose(result.sop_loss.item(), expected_sop, rel_tol=1e-6)
    assert math.isclose(result.loss.item(), result.mlm_loss.item() + expected_sop, rel_tol=1e-6)
    assert result.mlm_count.item() == 4 and result.sop_count.item() == 2
    correct = sum(int(logits[0, j].argmax() == ids[0, j]) for j in range(3)) + int(logits[1, 0].argmax() == 4)
    assert result.mlm_correct.item() == correct
    assert result.sop_correct.item() == 1


def test_pretraining_loss_with_no_real_predictions_is_zero_not_nan() -> None:
    out = PreTrainingOutput(torch.randn(1, 2, 5), torch.randn(1, 2))
    result = pretraining_loss(out, torch.zeros(1, 2, dtype=torch.long), torch.zeros(1, 2), torch.tensor([1]))
    assert result.mlm_loss.item() == 0.0 and torch.isfinite(result.loss)


def test_pretraining_loss_refuses_full_length_logits() -> None:
    out = PreTrainingOutput(torch.randn(1, 7, 5), torch.randn(1, 2))
    with pytest.raises(ValueError, match="masked_lm_positions"):
        pretraining_loss(out, torch.zeros(1, 2, dtype=torch.long), torch.ones(1, 2), torch.tensor([1]))


def test_classification_and_regression_heads() -> None:
    ids = torch.randint(5, 128, (3, 6), generator=seeded(6))
    classifier = AlbertForSequenceClassification(debug(), 3, generator=seeded(0)).eval()
    logits = classifier(ids)
    assert logits.shape == (3, 3)
    labels = torch.tensor([0, 2, 1])
    assert torch.isclose(sequence_classification_loss(logits, labels), F.cross_entropy(logits, labels))
    regressor = AlbertForSequenceClassification(debug(), 1, generator=seeded(0)).eval()
    scores = regressor(ids)
    targets = torch.tensor([0.5, 4.0, 2.5])
    assert torch.isclose(sequence_classification_loss(scores, targets), F.mse_loss(scores[:, 0], targets))
    with pytest.raises(ValueError, match="num_labels"):
        AlbertForSequenceClassification(debug(), 0)


# --- dropout: TF behaviour --------------------------------------------------------------------


def test_ffn_dropout_is_applied_in_training() -> None:
    model = AlbertModel(debug(hidden_dropout_prob=0.5), generator=seeded(0)).train()
    calls = []
    block = model.groups[0].blocks[0]
    block.dropout.register_forward_hook(lambda *args: calls.append(1))
    model(torch.randint(5, 128, (1, 4), generator=seeded(7)))
    assert len(calls) == 2  # once per layer: the FFN output dropout transformers 5 never runs


def test_sop_head_has_no_dropout() -> None:
    model = AlbertForPreTraining(debug(classifier_dropout_prob=0.5), generator=seeded(0))
    ids = torch.randint(5, 128, (4, 6), generator=seeded(8))
    train = model.train()(ids).sop_logits
    evaluated = model.eval()(ids).sop_logits
    assert torch.equal(train, evaluated)  # hidden dropouts are 0, so only a SOP dropout could differ


def test_classifier_dropout_is_applied_in_training() -> None:
    model = AlbertForSequenceClassification(debug(classifier_dropout_prob=0.5), 2, generator=seeded(0))
    ids = torch.randint(5, 128, (4, 6), generator=seeded(9))
    assert not torch.equal(model.train()(ids), model.eval()(ids))


# --- init, dtype ------------------------------------------------------------------------------


def test_init_is_tf_like_and_seeded() -> None:
    config = debug()
    a = AlbertForPreTraining(config, generator=seeded(3)).state_dict()
    b = AlbertForPreTraining(config, generator=seeded(3)).state_dict()
    c = AlbertForPreTraining(config, generator=seeded(4)).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["albert.pooler.weight"], c["albert.pooler.weight"])
    assert torch.equal(
        AlbertModel(config).state_dict()["pooler.weight"], AlbertModel(config).state_dict()["pooler.weight"]
    )
    for key, tensor in a.items():
        if "layer_norm.weight" in key:
            assert torch.all(tensor == 1), key
        elif key.endswith("bias"):
            assert torch.all(tensor == 0), key
        else:
            assert tensor.abs().max() <= 2 * config.initializer_range, key
            assert 0.6 * config.initializer_range < tensor.std() < 1.1 * config.initializer_range, key


def test_bf16_autocast_runs_and_loss_is_fp32() -> None:
    model = AlbertForPreTraining(debug(), generator=seeded(0))
    ids = torch.randint(5, 128, (2, 8), generator=seeded(10))
    mask = torch.tensor([[1] * 8, [1] * 5 + [0] * 3])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(ids, None, mask, torch.tensor([[1, 2], [3, 0]]))
        loss = pretraining_loss(
            out, torch.tensor([[5, 6], [7, 0]]), torch.tensor([[1.0, 1], [1, 0]]), torch.tensor([0, 1])
        )
    assert out.mlm_logits.dtype == torch.bfloat16
    assert loss.loss.dtype == torch.float32 and torch.isfinite(loss.loss)
    loss.loss.backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters())
