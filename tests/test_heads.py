"""Question answering and multiple choice heads: parity with transformers, their losses, HF in/out.

Our weights are copied into transformers' ``AlbertForQuestionAnswering`` / ``AlbertForMultipleChoice``
through ``hf.py``'s key map (strict), then both run the same padded batch in eval mode (fp32, eager
attention). Folders written by ``export hf`` load in transformers, and folders written by
transformers' ``save_pretrained`` (including a sequence classifier with its own ``id2label``) load in
ours. Everything is a random tiny config made here.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from upstream import describes

from albertctl.errors import AlbertctlError
from albertctl.model import hf
from albertctl.model.albert import (
    AlbertForMultipleChoice,
    AlbertForPreTraining,
    AlbertForQuestionAnswering,
    AlbertForSequenceClassification,
    AlbertModel,
    SpanLogits,
    multiple_choice_loss,
    span_loss,
)
from albertctl.model.checkpoint import load_checkpoint, read_checkpoint, save_model
from albertctl.model.config import AlbertConfig, get_config
from albertctl.model.export import export_hf

transformers = pytest.importorskip("transformers")

TOL = 1e-5
# The transformers these tests were written against: its QA head (no pooler, 2 outputs, positions
# clamped to [0, L] with L ignored), its MC head (choices flattened, Linear H -> 1) and its key names.
TRANSFORMERS_HEADS = describes(
    "transformers", ">=5.0,<5.26", "AlbertForQuestionAnswering / AlbertForMultipleChoice and their losses"
)

CONFIGS = {
    "debug": {},
    "groups2-inner2": {"num_hidden_layers": 3, "num_hidden_groups": 2, "inner_group_num": 2},
}


def make_config(name: str = "groups2-inner2") -> AlbertConfig:
    return dataclasses.replace(get_config("debug"), **CONFIGS[name])


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def padded_batch(
    config: AlbertConfig, lengths: list[int], width: int, seed: int = 0
) -> dict[str, torch.Tensor]:
    """(B, width) ids, two segments, pad id 0 past each length."""
    gen = seeded(seed)
    lengths_t = torch.tensor(lengths)
    ids = torch.randint(5, config.vocab_size, (len(lengths), width), generator=gen)
    mask = (torch.arange(width)[None, :] < lengths_t[:, None]).long()  # (B, L)
    types = (torch.arange(width)[None, :] >= (lengths_t[:, None] // 2)).long() * mask  # (B, L)
    return {"input_ids": ids * mask, "token_type_ids": types, "input_mask": mask}


def choice_batch(config: AlbertConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    """(B=2, C=3, L=10) with lengths differing per choice."""
    flat = padded_batch(config, [10, 7, 4, 9, 10, 5], 10, seed=seed)
    return {k: v.view(2, 3, 10) for k, v in flat.items()}


def hf_model(cls_name: str, config: AlbertConfig, state: dict[str, torch.Tensor], *, head: str):
    """A transformers model of class ``cls_name`` holding exactly ``state`` (our names)."""
    hf_config = transformers.AlbertConfig(**hf.to_hf_config(config, head=head, num_labels=None))
    hf_config._attn_implementation = "eager"
    model = getattr(transformers, cls_name)(hf_config)
    result = model.load_state_dict(hf.to_hf_state_dict(state), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    return model.eval()


def hf_kwargs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {
        "input_ids": batch["input_ids"],
        "token_type_ids": batch["token_type_ids"],
        "attention_mask": batch["input_mask"],
    }


def ours_forward(model: torch.nn.Module, batch: dict[str, torch.Tensor]):
    return model.eval()(batch["input_ids"], batch["token_type_ids"], batch["input_mask"])


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


def compare_grads(ours: torch.nn.Module, theirs: torch.nn.Module) -> None:
    """Every parameter's gradient, matched through the key map, agrees within TOL."""
    our_grads = {k: p.grad for k, p in ours.named_parameters()}
    their_params = dict(theirs.named_parameters())
    mapped = hf.to_hf_state_dict(our_grads)
    assert len(mapped) == len(our_grads) == len(their_params)
    for key, grad in mapped.items():
        their = their_params[key].grad
        assert grad is not None and their is not None, key
        assert max_diff(grad, their) <= TOL, key


# --- the modules ----------------------------------------------------------------------------------


def test_backbone_without_pooler_has_no_pooler_and_the_same_other_weights() -> None:
    config = make_config()
    full = AlbertModel(config, generator=seeded(0))
    bare = AlbertModel(config, add_pooling_layer=False, generator=seeded(0))
    assert not any(k.startswith("pooler.") for k in bare.state_dict())
    assert set(full.state_dict()) - set(bare.state_dict()) == {"pooler.weight", "pooler.bias"}
    assert all(torch.equal(v, full.state_dict()[k]) for k, v in bare.state_dict().items())
    batch = padded_batch(config, [8, 5], 8)
    sequence, pooled = ours_forward(bare, batch)
    assert pooled is None and torch.allclose(sequence, ours_forward(full, batch)[0])


def test_new_heads_initialise_deterministically_from_the_generator() -> None:
    config = make_config()
    for cls in (AlbertForQuestionAnswering, AlbertForMultipleChoice):
        a, b, c = (
            cls(config, generator=seeded(3)),
            cls(config, generator=seeded(3)),
            cls(config, generator=seeded(4)),
        )
        assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
        head = "qa_outputs.weight" if cls is AlbertForQuestionAnswering else "classifier.weight"
        assert not torch.equal(a.state_dict()[head], c.state_dict()[head])
        assert a.state_dict()[head].std().item() > 0.5 * config.initializer_range


# --- parity with transformers ---------------------------------------------------------------------


@TRANSFORMERS_HEADS
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_question_answering_logits_match_transformers(name: str) -> None:
    config = make_config(name)
    ours = AlbertForQuestionAnswering(config, generator=seeded(1)).eval()
    assert not any(k.startswith("albert.pooler.") for k in ours.state_dict())
    theirs = hf_model("AlbertForQuestionAnswering", config, ours.state_dict(), head="question_answering")
    batch = padded_batch(config, [12, 9, 4], 12, seed=2)
    logits = ours_forward(ours, batch)
    reference = theirs(**hf_kwargs(batch))
    assert isinstance(logits, SpanLogits) and logits.start.shape == logits.end.shape == (3, 12)
    assert max_diff(logits.start, reference.start_logits) <= TOL
    assert max_diff(logits.end, reference.end_logits) <= TOL


@TRANSFORMERS_HEADS
def test_span_loss_and_gradients_match_transformers_without_padding() -> None:
    config = make_config()
    ours = AlbertForQuestionAnswering(config, generator=seeded(5)).eval()
    theirs = hf_model("AlbertForQuestionAnswering", config, ours.state_dict(), head="question_answering")
    batch = padded_batch(config, [10, 10, 10, 10], 10, seed=6)
    # In range; 0 (no answer); past the end (ignored by transformers); negative (clamped to 0).
    starts, ends = torch.tensor([3, 0, 12, -1]), torch.tensor([5, 0, 10, 2])
    logits = ours_forward(ours, batch)
    reference = theirs(**hf_kwargs(batch), start_positions=starts, end_positions=ends)
    ours_loss = span_loss(logits, starts, ends)
    assert abs(ours_loss.item() - reference.loss.item()) <= TOL
    # An all-ones mask changes nothing; (B, 1) positions are accepted as transformers does.
    masked = span_loss(logits, starts[:, None], ends[:, None], input_mask=batch["input_mask"])
    assert abs(masked.item() - reference.loss.item()) <= TOL
    # Written out: the ignored start is left out of the start mean, the negative one aims at token 0.
    start_ce = F.cross_entropy(logits.start[[0, 1, 3]], torch.tensor([3, 0, 0]))
    end_ce = F.cross_entropy(logits.end[[0, 1, 3]], torch.tensor([5, 0, 2]))
    assert abs(ours_loss.item() - (start_ce + end_ce).item() / 2) <= TOL
    ours_loss.backward()
    reference.loss.backward()
    compare_grads(ours, theirs)


def test_span_loss_with_input_mask_does_not_depend_on_padding() -> None:
    gen = seeded(7)
    start, end = torch.randn(3, 9, generator=gen), torch.randn(3, 9, generator=gen)
    mask = (torch.arange(9)[None, :] < torch.tensor([[9], [6], [4]])).long()  # (B, L)
    starts, ends = torch.tensor([2, 0, 3]), torch.tensor([4, 5, 3])
    # The same rows padded 7 columns further with large garbage logits.
    wide_mask = torch.cat([mask, torch.zeros(3, 7, dtype=torch.long)], 1)
    wide = SpanLogits(
        start=torch.cat([start, 50 * torch.randn(3, 7, generator=gen)], 1),
        end=torch.cat([end, 50 * torch.randn(3, 7, generator=gen)], 1),
    )
    for reduction in ("mean", "sum"):
        tight = span_loss(SpanLogits(start, end), starts, ends, input_mask=mask, reduction=reduction)
        padded = span_loss(wide, starts, ends, input_mask=wide_mask, reduction=reduction)
        assert abs(tight.item() - padded.item()) <= 1e-6, reduction
    # Without the mask the padding takes softmax mass (the reference's behaviour): it differs.
    assert (
        abs(span_loss(SpanLogits(start, end), starts, ends).item() - span_loss(wide, starts, ends).item())
        > 0.1
    )
    # Padded positions take no mass: row 2 (4 tokens) is a softmax over its 4 tokens only.
    expected_row2 = (F.cross_entropy(start[2:, :4], starts[2:]) + F.cross_entropy(end[2:, :4], ends[2:])) / 2
    row2 = span_loss(SpanLogits(start[2:], end[2:]), starts[2:], ends[2:], input_mask=mask[2:])
    assert abs(row2.item() - expected_row2.item()) <= 1e-6
    # A target on padding is ignored like one past the end: row 1's end (5 of 6 tokens) is real,
    # at 7 it would be padding, so only the start term of row 1 counts.
    sums = span_loss(
        SpanLogits(start[1:2], end[1:2]),
        starts[1:2],
        torch.tensor([7]),
        input_mask=mask[1:2],
        reduction="sum",
    )
    assert abs(sums.item() - F.cross_entropy(start[1:2, :6], starts[1:2]).item() / 2) <= 1e-6


def test_span_loss_sum_is_the_sum_of_the_per_window_losses() -> None:
    gen = seeded(8)
    logits = SpanLogits(torch.randn(4, 6, generator=gen), torch.randn(4, 6, generator=gen))
    starts, ends = torch.tensor([0, 1, 2, 3]), torch.tensor([1, 2, 3, 5])
    total = span_loss(logits, starts, ends, reduction="sum")
    per_window = [
        span_loss(
            SpanLogits(logits.start[i : i + 1], logits.end[i : i + 1]), starts[i : i + 1], ends[i : i + 1]
        )
        for i in range(4)
    ]
    assert abs(total.item() - sum(x.item() for x in per_window)) <= 1e-5
    assert abs(total.item() / 4 - span_loss(logits, starts, ends).item()) <= 1e-6


def test_span_loss_through_the_model_ignores_extra_padding_columns() -> None:
    config = make_config()
    model = AlbertForQuestionAnswering(config, generator=seeded(9)).eval()
    tight = padded_batch(config, [8, 5], 8, seed=10)
    wide = {k: torch.cat([v, torch.zeros(2, 6, dtype=v.dtype)], 1) for k, v in tight.items()}
    starts, ends = torch.tensor([1, 2]), torch.tensor([3, 4])
    a = span_loss(ours_forward(model, tight), starts, ends, input_mask=tight["input_mask"])
    b = span_loss(ours_forward(model, wide), starts, ends, input_mask=wide["input_mask"])
    assert abs(a.item() - b.item()) <= TOL
    unmasked = span_loss(ours_forward(model, wide), starts, ends)
    assert abs(unmasked.item() - a.item()) > 1e-3


@TRANSFORMERS_HEADS
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_multiple_choice_logits_loss_and_gradients_match_transformers(name: str) -> None:
    config = make_config(name)
    ours = AlbertForMultipleChoice(config, generator=seeded(11)).eval()
    theirs = hf_model("AlbertForMultipleChoice", config, ours.state_dict(), head="multiple_choice")
    batch = choice_batch(config, seed=12)
    labels = torch.tensor([2, 0])
    logits = ours_forward(ours, batch)
    reference = theirs(**hf_kwargs(batch), labels=labels)
    assert logits.shape == (2, 3)
    assert max_diff(logits, reference.logits) <= TOL
    loss = multiple_choice_loss(logits, labels)
    assert abs(loss.item() - reference.loss.item()) <= TOL
    loss.backward()
    reference.loss.backward()
    compare_grads(ours, theirs)


def test_multiple_choice_loss_masks_absent_choices_and_sums() -> None:
    gen = seeded(13)
    logits = torch.randn(3, 4, generator=gen)
    labels = torch.tensor([1, 3, 0])
    choice_mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 0, 0]])
    expected = [
        F.cross_entropy(logits[0:1, :3], labels[0:1]),
        F.cross_entropy(logits[1:2], labels[1:2]),
        F.cross_entropy(logits[2:3, :2], labels[2:3]),
    ]
    total = multiple_choice_loss(logits, labels, choice_mask=choice_mask, reduction="sum")
    assert abs(total.item() - sum(x.item() for x in expected)) <= 1e-5
    mean = multiple_choice_loss(logits, labels, choice_mask=choice_mask)
    assert abs(mean.item() - total.item() / 3) <= 1e-6
    # An absent choice's score does not matter at all.
    moved = logits.clone()
    moved[0, 3] = 1e4
    assert multiple_choice_loss(moved, labels, choice_mask=choice_mask).item() == pytest.approx(mean.item())
    assert abs(multiple_choice_loss(logits, labels).item() - mean.item()) > 1e-3


# --- Hugging Face out: export hf ------------------------------------------------------------------


@TRANSFORMERS_HEADS
@pytest.mark.parametrize("head", ["question_answering", "multiple_choice"])
def test_exported_new_heads_load_cleanly_with_the_same_logits(tmp_path: Path, head: str) -> None:
    config = make_config()
    cls = AlbertForQuestionAnswering if head == "question_answering" else AlbertForMultipleChoice
    model = cls(config, generator=seeded(14))
    with torch.no_grad():  # make the zero-initialised head bias distinctive
        next(
            b for n, b in model.named_parameters() if n.endswith("bias") and not n.startswith("albert.")
        ).add_(0.3)
    report = export_hf(save_model(model, tmp_path / "ck"), tmp_path / "hf")
    arch = hf.HF_ARCHITECTURES[head]
    assert report.head == head and report.architecture == arch
    written = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert written["architectures"] == [arch]
    theirs, info = getattr(transformers, arch).from_pretrained(tmp_path / "hf", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    batch = (
        padded_batch(config, [9, 6], 9, seed=15) if head == "question_answering" else choice_batch(config, 15)
    )
    ours_out, their_out = ours_forward(model, batch), theirs.eval()(**hf_kwargs(batch))
    if head == "question_answering":
        assert max_diff(ours_out.start, their_out.start_logits) <= TOL
        assert max_diff(ours_out.end, their_out.end_logits) <= TOL
    else:
        assert max_diff(ours_out, their_out.logits) <= TOL


@TRANSFORMERS_HEADS
def test_exported_classifier_carries_label_names(tmp_path: Path) -> None:
    config = make_config()
    checkpoint = save_model(AlbertForSequenceClassification(config, 3, generator=seeded(16)), tmp_path / "ck")
    export_hf(checkpoint, tmp_path / "hf", label_names=["entailment", "neutral", "contradiction"])
    theirs = transformers.AlbertForSequenceClassification.from_pretrained(tmp_path / "hf")
    assert theirs.config.id2label == {0: "entailment", 1: "neutral", 2: "contradiction"}
    assert theirs.config.label2id["contradiction"] == 2
    assert theirs.config.problem_type == "single_label_classification"
    with pytest.raises(AlbertctlError, match="3 outputs"):
        export_hf(checkpoint, tmp_path / "hf2", label_names=["a", "b"])
    qa = save_model(AlbertForQuestionAnswering(config, generator=seeded(17)), tmp_path / "qa")
    with pytest.raises(AlbertctlError, match="sequence classifier"):
        export_hf(qa, tmp_path / "hf3", label_names=["a", "b"])


def test_to_hf_config_checks_label_names_and_problem_type() -> None:
    config = make_config()
    data = hf.to_hf_config(config, head="question_answering", num_labels=None)
    assert data["architectures"] == ["AlbertForQuestionAnswering"] and len(data["id2label"]) == 2
    assert "problem_type" not in data
    data = hf.to_hf_config(
        config, head="classification", num_labels=1, label_names=["score"], problem_type="regression"
    )
    assert data["id2label"] == {"0": "score"} and data["problem_type"] == "regression"
    with pytest.raises(AlbertctlError, match="once each"):
        hf.to_hf_config(config, head="classification", num_labels=2, label_names=["x", "x"])
    with pytest.raises(AlbertctlError, match="does not fit"):
        hf.to_hf_config(config, head="classification", num_labels=3, problem_type="regression")
    with pytest.raises(AlbertctlError, match="does not fit"):
        hf.to_hf_config(
            config, head="classification", num_labels=3, problem_type="multi_label_classification"
        )
    with pytest.raises(AlbertctlError, match="classification head"):
        hf.to_hf_config(config, head="multiple_choice", num_labels=None, label_names=["a", "b"])
    assert hf.label_names_of({"id2label": {"1": "b", "0": "a"}}, where="x") == ["a", "b"]
    with pytest.raises(AlbertctlError, match=r"config\.json: id2label keys"):
        hf.label_names_of({"id2label": {"0": "a", "2": "b"}}, where="config.json")


# --- Hugging Face in: folders saved by transformers -----------------------------------------------


def save_transformers(tmp_path: Path, cls_name: str, config: AlbertConfig, **extra) -> torch.nn.Module:
    """A transformers model with distinctive weights, saved by ``save_pretrained`` into tmp_path/hf."""
    head = hf.HEADS_BY_ARCHITECTURE[cls_name]
    fields = hf.to_hf_config(config, head=head, num_labels=extra.get("num_labels"))
    # transformers' own label fields: the caller's, or its defaults for num_labels.
    fields = {k: v for k, v in fields.items() if k not in ("id2label", "label2id", "problem_type")}
    if "id2label" in extra:
        extra.pop("num_labels", None)
    hf_config = transformers.AlbertConfig(**fields, **extra)
    torch.manual_seed(0)  # transformers initialises from the global RNG
    theirs = getattr(transformers, cls_name)(hf_config).eval()
    with torch.no_grad():
        for param in theirs.parameters():  # distinctive, including the zero-initialised biases
            param.add_(torch.randn(param.shape, generator=seeded(param.numel())) * 0.01)
    theirs.save_pretrained(tmp_path / "hf")
    return theirs


@TRANSFORMERS_HEADS
def test_transformers_question_answering_folder_loads_into_ours(tmp_path: Path) -> None:
    config = make_config()
    theirs = save_transformers(tmp_path, "AlbertForQuestionAnswering", config)
    _, meta, state, unknown = read_checkpoint(tmp_path / "hf")
    assert meta["head"] == "question_answering" and meta["label_names"] is None and not unknown
    assert not any(k.startswith("albert.pooler.") for k in state)
    loaded = load_checkpoint(tmp_path / "hf", head="question_answering")
    assert loaded.initialized == () and loaded.unused == ()
    batch = padded_batch(config, [10, 3], 10, seed=18)
    ours_out, their_out = ours_forward(loaded.model, batch), theirs(**hf_kwargs(batch))
    assert max_diff(ours_out.start, their_out.start_logits) <= TOL
    assert max_diff(ours_out.end, their_out.end_logits) <= TOL
    # Into a head that needs the pooler: a fresh pooler, reported, not an error.
    for head in ("classification", "multiple_choice", "pretraining"):
        other = load_checkpoint(tmp_path / "hf", head=head, num_labels=2)  # type: ignore[arg-type]
        assert {"albert.pooler.weight", "albert.pooler.bias"} <= set(other.initialized)
        assert not any(k.startswith("albert.") and "pooler" not in k for k in other.initialized)
        assert "qa_outputs.weight" in other.unused


@TRANSFORMERS_HEADS
def test_transformers_multiple_choice_folder_loads_into_ours(tmp_path: Path) -> None:
    config = make_config()
    theirs = save_transformers(tmp_path, "AlbertForMultipleChoice", config)
    _, meta, _, _ = read_checkpoint(tmp_path / "hf")
    assert meta["head"] == "multiple_choice" and meta["num_labels"] is None
    loaded = load_checkpoint(tmp_path / "hf", head="multiple_choice")
    assert isinstance(loaded.model, AlbertForMultipleChoice) and loaded.initialized == ()
    batch = choice_batch(config, seed=19)
    assert max_diff(ours_forward(loaded.model, batch), theirs(**hf_kwargs(batch)).logits) <= TOL
    # Its one-output scorer shares the name classifier.* with a regressor but is not one.
    regressor = load_checkpoint(tmp_path / "hf", head="classification", num_labels=1)
    assert regressor.initialized == ("classifier.weight", "classifier.bias")
    assert "classifier.weight" in regressor.unused


@TRANSFORMERS_HEADS
@pytest.mark.parametrize(
    ("num_labels", "id2label", "problem_type"),
    [
        (3, {0: "contradiction", 1: "entailment", 2: "neutral"}, "single_label_classification"),
        (1, {0: "similarity"}, "regression"),
    ],
)
def test_transformers_classifier_folder_reports_its_labels(
    tmp_path: Path, num_labels: int, id2label: dict[int, str], problem_type: str
) -> None:
    config = make_config()
    theirs = save_transformers(
        tmp_path,
        "AlbertForSequenceClassification",
        config,
        num_labels=num_labels,
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
        problem_type=problem_type,
    )
    _, meta, _, _ = read_checkpoint(tmp_path / "hf")
    assert meta["head"] == "classification" and meta["num_labels"] == num_labels
    assert meta["label_names"] == [id2label[i] for i in range(num_labels)]
    assert meta["problem_type"] == problem_type
    loaded = load_checkpoint(tmp_path / "hf", head="classification")
    assert loaded.initialized == () and loaded.model.num_labels == num_labels
    batch = padded_batch(config, [9, 4], 9, seed=20)
    assert max_diff(ours_forward(loaded.model, batch), theirs(**hf_kwargs(batch)).logits) <= TOL
    # Exporting it again keeps the names.
    export_hf(tmp_path / "hf", tmp_path / "again")
    again = json.loads((tmp_path / "again" / "config.json").read_text())
    assert (
        again["id2label"] == {str(k): v for k, v in id2label.items()}
        and again["problem_type"] == problem_type
    )


def test_transformers_classifier_with_too_few_label_names_is_an_error(tmp_path: Path) -> None:
    save_transformers(tmp_path, "AlbertForSequenceClassification", make_config(), num_labels=3)
    path = tmp_path / "hf" / "config.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "id2label": {"0": "a", "1": "b"}}))
    with pytest.raises(AlbertctlError, match="2 labels, the classifier has 3 outputs"):
        read_checkpoint(tmp_path / "hf")


# --- our folders -----------------------------------------------------------------------------------


def test_our_folders_of_the_new_heads_round_trip_and_cross_load(tmp_path: Path) -> None:
    config = make_config()
    qa = AlbertForQuestionAnswering(config, generator=seeded(21))
    path = save_model(qa, tmp_path / "qa")
    assert json.loads((path / "config.json").read_text())["head"] == "question_answering"
    _, meta, _, _ = read_checkpoint(path)
    assert meta["head"] == "question_answering" and meta["num_labels"] is None
    assert meta["label_names"] is None and meta["problem_type"] is None
    loaded = load_checkpoint(path, head="question_answering")
    assert loaded.initialized == () and loaded.unused == ()
    assert all(torch.equal(v, loaded.model.state_dict()[k]) for k, v in qa.state_dict().items())

    pretrained = save_model(AlbertForPreTraining(config, generator=seeded(22)), tmp_path / "pt")
    into_qa = load_checkpoint(pretrained, head="question_answering", generator=seeded(23))
    assert into_qa.initialized == ("qa_outputs.weight", "qa_outputs.bias")
    assert {"albert.pooler.weight", "albert.pooler.bias"} <= set(into_qa.unused)

    mc = save_model(AlbertForMultipleChoice(config, generator=seeded(24)), tmp_path / "mc")
    _, meta, _, _ = read_checkpoint(mc)
    assert meta["head"] == "multiple_choice" and meta["num_labels"] is None
    assert load_checkpoint(mc, head="multiple_choice").initialized == ()
    _, meta, _, _ = read_checkpoint(save_model(AlbertForSequenceClassification(config, 1), tmp_path / "reg"))
    assert meta["problem_type"] == "regression"
