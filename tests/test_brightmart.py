"""brightmart/albert_zh's embedding layout (``embedding_layout = "brightmart"``): the config field and
flavors, every head on both layouts, our folders, ``export hf``'s refusal, and ``import tf`` of an
albert_zh-style checkpoint checked against an independent numpy forward pass.

The TF checkpoint is written here in TensorFlow's tensor-bundle format (a LevelDB-style table +
one data shard; see albertctl/model/tf_checkpoint.py for the format), with random weights under
albert_zh's variable names, so no TensorFlow is needed. The numpy reference follows albert_zh's
``modeling.py`` (``embedding_lookup_factorized``, ``embedding_postprocessor``,
``transformer_model`` with ``layer_shared``, its tanh ``gelu``) and ``run_pretraining.py``
(``get_masked_lm_output``, ``get_next_sentence_output``) step by step, in float64, on the TF
tensors themselves: it shares no code with the model.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from albertctl.cli import main as cli_main
from albertctl.errors import AlbertctlError
from albertctl.model.checkpoint import build_model, load_checkpoint, load_model, read_checkpoint, save_model
from albertctl.model.config import FLAVORS, AlbertConfig, get_config
from albertctl.model.export import export_hf
from albertctl.model.tf_checkpoint import import_tf, tf_layout, tf_to_hf_state_dict

# An albert_config_tiny.json in miniature: albert_zh's extra keys (ln_type, pooler_*) included.
TF_CONFIG = {
    "attention_probs_dropout_prob": 0.0, "directionality": "bidi", "hidden_act": "gelu",
    "hidden_dropout_prob": 0.0, "hidden_size": 16, "embedding_size": 8, "initializer_range": 0.02,
    "intermediate_size": 32, "max_position_embeddings": 64, "num_attention_heads": 4,
    "num_hidden_layers": 3, "pooler_fc_size": 768, "pooler_num_attention_heads": 12,
    "pooler_num_fc_layers": 3, "pooler_size_per_head": 128, "pooler_type": "first_token_transform",
    "type_vocab_size": 2, "vocab_size": 40, "ln_type": "postln",
}  # fmt: skip
SHARED = "bert/encoder/layer_shared/"


def brightmart_variables(
    config: dict = TF_CONFIG, *, head: str = "pretraining"
) -> dict[str, tuple[int, ...]]:
    """albert_zh's variable names -> TF shapes (kernels [in, out], word_embeddings_2 [E, H])."""
    v, e, h, i = (config[k] for k in ("vocab_size", "embedding_size", "hidden_size", "intermediate_size"))
    out = {
        "bert/embeddings/word_embeddings": (v, e),
        "bert/embeddings/word_embeddings_2": (e, h),
        "bert/embeddings/token_type_embeddings": (config["type_vocab_size"], h),
        "bert/embeddings/position_embeddings": (config["max_position_embeddings"], h),
        "bert/embeddings/LayerNorm/gamma": (h,),
        "bert/embeddings/LayerNorm/beta": (h,),
        "bert/pooler/dense/kernel": (h, h),
        "bert/pooler/dense/bias": (h,),
    }
    for name, shape in (
        ("attention/self/query", (h, h)), ("attention/self/key", (h, h)), ("attention/self/value", (h, h)),
        ("attention/output/dense", (h, h)), ("intermediate/dense", (h, i)), ("output/dense", (i, h)),
    ):  # fmt: skip
        out[f"{SHARED}{name}/kernel"] = shape
        out[f"{SHARED}{name}/bias"] = (shape[1],)
    for name in ("attention/output/LayerNorm", "output/LayerNorm"):
        out[f"{SHARED}{name}/gamma"] = (h,)
        out[f"{SHARED}{name}/beta"] = (h,)
    if head == "pretraining":
        out.update({
            "cls/predictions/transform/dense/kernel": (h, h),
            "cls/predictions/transform/dense/bias": (h,),
            "cls/predictions/transform/LayerNorm/gamma": (h,),
            "cls/predictions/transform/LayerNorm/beta": (h,),
            "cls/predictions/output_bias": (v,),
            "cls/seq_relationship/output_weights": (2, h),
            "cls/seq_relationship/output_bias": (2,),
        })  # fmt: skip
    else:  # run_classifier.py's head: output_weights [num_labels, H]
        out.update({"output_weights": (3, h), "output_bias": (3,)})
    return out


def random_weights(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, np.ndarray]:
    """Random float32 values; LayerNorm gammas around 1 so every path carries signal."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in sorted(shapes.items()):
        value = rng.standard_normal(shape) * 0.3
        out[name] = (value + 1.0 if name.endswith("gamma") else value).astype(np.float32)
    return out


# --- a TF tensor-bundle writer (the inverse of tf_checkpoint's reader) -------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, value: int | bytes) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _block(entries: list[tuple[bytes, bytes]]) -> bytes:
    """A table block with unshared keys, one restart point per entry, then the 5-byte trailer."""
    body, restarts = bytearray(), []
    for key, value in entries:
        restarts.append(len(body))
        body += _varint(0) + _varint(len(key)) + _varint(len(value)) + key + value
    restarts = restarts or [0]
    body += b"".join(r.to_bytes(4, "little") for r in restarts) + len(restarts).to_bytes(4, "little")
    return bytes(body) + b"\x00" + b"\x00" * 4  # uncompressed; the reader does not check the crc


def write_tf_checkpoint(prefix: Path, tensors: dict[str, np.ndarray]) -> None:
    """``PREFIX.index`` + ``PREFIX.data-00000-of-00001`` as TF's BundleWriter lays them out."""
    data = bytearray()
    entries = [(b"", _field(1, 1))]  # BundleHeaderProto: num_shards = 1
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        dtype = {np.dtype("float32"): 1, np.dtype("int64"): 9}[array.dtype]
        shape = b"".join(_field(2, _field(1, d)) for d in array.shape)
        entry = _field(1, dtype) + _field(2, shape) + _field(4, len(data)) + _field(5, array.nbytes)
        entries.append((name.encode(), entry))
        data += array.tobytes()
    blocks = _block(entries)
    handle = _varint(0) + _varint(len(blocks) - 5)
    index_block = _block([(entries[-1][0], handle)])
    meta_block = _block([])
    table = blocks + index_block + meta_block
    index_handle = _varint(len(blocks)) + _varint(len(index_block) - 5)
    meta_handle = _varint(len(blocks) + len(index_block)) + _varint(len(meta_block) - 5)
    footer = (meta_handle + index_handle).ljust(40, b"\x00") + (0xDB4775248B80FB57).to_bytes(8, "little")
    Path(f"{prefix}.index").write_bytes(table + footer)
    Path(f"{prefix}.data-00000-of-00001").write_bytes(bytes(data))


def write_release(
    directory: Path, weights: dict[str, np.ndarray], *, config: dict = TF_CONFIG, slots: bool = True
) -> Path:
    """An albert_zh-style release folder: checkpoint (with Adam slots), albert_config.json, vocab.txt."""
    directory.mkdir(parents=True, exist_ok=True)
    tensors = dict(weights)
    if slots:
        for name, value in weights.items():
            tensors[f"{name}/adam_m"] = np.zeros_like(value)
            tensors[f"{name}/adam_v"] = np.ones_like(value)
        tensors["global_step"] = np.array(77, dtype=np.int64)
    write_tf_checkpoint(directory / "albert_model.ckpt", tensors)
    (directory / "albert_config.json").write_text(json.dumps(config))
    pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [
        f"字{i}" for i in range(config["vocab_size"] - 5)
    ]
    (directory / "vocab.txt").write_text("\n".join(pieces) + "\n", encoding="utf-8")
    return directory


# --- brightmart's forward pass in numpy, from albert_zh's modeling.py and run_pretraining.py -----


def np_gelu(x: np.ndarray) -> np.ndarray:
    """albert_zh's ``gelu``: the tanh approximation."""
    return x * 0.5 * (1.0 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def np_layer_norm(x: np.ndarray, w: dict[str, np.ndarray], scope: str) -> np.ndarray:
    """``tf.contrib.layers.layer_norm`` over the last axis, epsilon 1e-12."""
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * w[f"{scope}/gamma"] + w[f"{scope}/beta"]


def np_dense(x: np.ndarray, w: dict[str, np.ndarray], scope: str) -> np.ndarray:
    return x @ w[f"{scope}/kernel"] + w[f"{scope}/bias"]


def np_softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def brightmart_forward(
    weights: dict[str, np.ndarray],
    config: dict,
    input_ids: np.ndarray,
    token_type_ids: np.ndarray,
    input_mask: np.ndarray,
    positions: np.ndarray,
) -> dict[str, np.ndarray]:
    """Sequence output, pooled output, MLM and SOP log-probabilities, as albert_zh computes them."""
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    batch, length = input_ids.shape
    heads = config["num_attention_heads"]
    size = config["hidden_size"] // heads
    # embedding_lookup_factorized: gather at E, then the [E, H] projection.
    x = w["bert/embeddings/word_embeddings"][input_ids] @ w["bert/embeddings/word_embeddings_2"]
    # embedding_postprocessor at width H: one-hot token types, the first L position rows, LN.
    x = x + np.eye(config["type_vocab_size"])[token_type_ids] @ w["bert/embeddings/token_type_embeddings"]
    x = x + w["bert/embeddings/position_embeddings"][:length]
    x = np_layer_norm(x, w, "bert/embeddings/LayerNorm")
    # create_attention_mask_from_input_mask + attention_layer's adder: keys only, -10000.
    adder = (1.0 - input_mask[:, None, None, :].astype(np.float64)) * -10000.0

    def split(t: np.ndarray) -> np.ndarray:
        return t.reshape(batch, length, heads, size).transpose(0, 2, 1, 3)

    for _ in range(config["num_hidden_layers"]):  # transformer_model, one layer_shared scope
        q, k, v = (split(np_dense(x, w, f"{SHARED}attention/self/{p}")) for p in ("query", "key", "value"))
        probs = np_softmax(q @ k.transpose(0, 1, 3, 2) / np.sqrt(size) + adder)
        context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, length, heads * size)
        attention = np_dense(context, w, f"{SHARED}attention/output/dense")
        attention = np_layer_norm(attention + x, w, f"{SHARED}attention/output/LayerNorm")
        inner = np_gelu(np_dense(attention, w, f"{SHARED}intermediate/dense"))
        x = np_layer_norm(
            np_dense(inner, w, f"{SHARED}output/dense") + attention, w, f"{SHARED}output/LayerNorm"
        )
    pooled = np.tanh(np_dense(x[:, 0], w, "bert/pooler/dense"))
    # get_masked_lm_output: gather, transform at H, back through word_embeddings_2ᵀ, tied table.
    gathered = x[np.arange(batch)[:, None], positions]  # (B, P, H)
    t = np_gelu(np_dense(gathered, w, "cls/predictions/transform/dense"))
    t = np_layer_norm(t, w, "cls/predictions/transform/LayerNorm")
    t = t @ w["bert/embeddings/word_embeddings_2"].T  # (B, P, E)
    logits = t @ w["bert/embeddings/word_embeddings"].T + w["cls/predictions/output_bias"]
    sop = pooled @ w["cls/seq_relationship/output_weights"].T + w["cls/seq_relationship/output_bias"]
    return {
        "sequence": x,
        "pooled": pooled,
        "mlm_log_probs": np_log_softmax(logits),
        "sop_log_probs": np_log_softmax(sop),
    }


def fixed_inputs(vocab_size: int = 40) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(1)
    batch, length = 3, 12
    ids = rng.integers(5, vocab_size, (batch, length))
    ids[:, 0], ids[:, 6], ids[:, -1] = 2, 3, 3
    mask = np.ones((batch, length), np.int64)
    mask[1, 9:] = 0  # a padded row: the attention mask must come from input_mask
    types = np.zeros((batch, length), np.int64)
    types[:, 7:] = 1
    positions = np.array([[1, 4, 8], [2, 3, 7], [5, 9, 10]])
    return ids, types, mask, positions


# --- config and flavors --------------------------------------------------------------------------


def brightmart_debug(**changes: object) -> AlbertConfig:
    return dataclasses.replace(get_config("debug"), **{"embedding_layout": "brightmart", **changes})


def test_layout_field_defaults_to_google_is_validated_and_round_trips() -> None:
    assert AlbertConfig().embedding_layout == "google" == get_config("base").embedding_layout
    with pytest.raises(
        AlbertctlError, match="embedding_layout must be one of google, brightmart, got 'bert'"
    ):
        brightmart_debug(embedding_layout="bert")
    config = brightmart_debug()
    assert AlbertConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_zh_flavors_are_albert_tiny_in_both_layouts() -> None:
    google, brightmart = FLAVORS["tiny-zh"], FLAVORS["tiny-zh-brightmart"]
    assert (google.embedding_layout, brightmart.embedding_layout) == ("google", "brightmart")
    assert dataclasses.replace(brightmart, embedding_layout="google") == google
    # albert_config_tiny(_google).json: V 21128, E 128, H 312, 4 x 12 heads, I 1248, 512 positions,
    # 2 types, TF "gelu" (tanh = our gelu_new), dropout 0.
    assert (google.vocab_size, google.embedding_size, google.hidden_size) == (21128, 128, 312)
    assert (google.num_hidden_layers, google.num_attention_heads, google.intermediate_size) == (4, 12, 1248)
    assert (google.max_position_embeddings, google.type_vocab_size, google.hidden_act) == (512, 2, "gelu_new")
    assert google.hidden_dropout_prob == google.attention_probs_dropout_prob == 0.0
    assert (google.num_hidden_groups, google.inner_group_num) == (1, 1)
    assert get_config("tiny-zh-brightmart", vocab_size=100).embedding_layout == "brightmart"


# --- the model -----------------------------------------------------------------------------------


def test_brightmart_parameters_have_clear_names_and_shapes() -> None:
    config = brightmart_debug()
    e, h, v = config.embedding_size, config.hidden_size, config.vocab_size
    ours = {k: tuple(t.shape) for k, t in build_model(config, "pretraining", None).state_dict().items()}
    google = build_model(get_config("debug"), "pretraining", None).state_dict()
    assert ours["albert.embeddings.word_embeddings.weight"] == (v, e)
    assert ours["albert.embeddings.word_embeddings_2.weight"] == (h, e)  # Linear E -> H, [out, in]
    assert "albert.embeddings.word_embeddings_2.bias" not in ours
    assert ours["albert.embeddings.position_embeddings.weight"] == (config.max_position_embeddings, h)
    assert ours["albert.embeddings.token_type_embeddings.weight"] == (config.type_vocab_size, h)
    assert ours["albert.embeddings.layer_norm.weight"] == (h,)
    assert (ours["mlm_head.dense.weight"], ours["mlm_head.layer_norm.weight"]) == ((h, h), (h,))
    # Everything else keeps the Google layout's names.
    mapping = {"albert.embedding_hidden_mapping_in.weight", "albert.embedding_hidden_mapping_in.bias"}
    assert set(ours) == set(google) - mapping | {"albert.embeddings.word_embeddings_2.weight"}


def _inputs(config: AlbertConfig, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, config.vocab_size, (2, 7), generator=generator)
    types = torch.zeros_like(ids)
    types[:, 4:] = 1
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    return ids, types, mask


@pytest.mark.parametrize("layout", ["google", "brightmart"])
@pytest.mark.parametrize("head", ["pretraining", "classification", "question_answering", "multiple_choice"])
def test_every_head_runs_and_trains_the_embeddings_in_both_layouts(layout: str, head: str) -> None:
    config = dataclasses.replace(get_config("debug"), embedding_layout=layout)
    model = build_model(config, head, 3 if head == "classification" else None)
    ids, types, mask = _inputs(config)
    if head == "multiple_choice":
        out = model(
            ids[:, None].expand(-1, 3, -1), types[:, None].expand(-1, 3, -1), mask[:, None].expand(-1, 3, -1)
        )
        assert out.shape == (2, 3)
        total = out.sum()
    elif head == "pretraining":
        out = model(ids, types, mask, masked_lm_positions=torch.tensor([[1, 2], [0, 3]]))
        assert out.mlm_logits.shape == (2, 2, config.vocab_size) and out.sop_logits.shape == (2, 2)
        total = out.mlm_logits.sum() + out.sop_logits.sum()
    elif head == "question_answering":
        out = model(ids, types, mask)
        assert out.start.shape == out.end.shape == (2, 7)
        total = out.start.sum() + out.end.sum()
    else:
        out = model(ids, types, mask)
        assert out.shape == (2, 3)
        total = out.sum()
    total.backward()
    embeddings = model.albert.embeddings
    assert embeddings.word_embeddings.weight.grad.abs().sum() > 0
    if layout == "brightmart":
        assert embeddings.word_embeddings_2.weight.grad.abs().sum() > 0
        assert model.albert.embedding_hidden_mapping_in is None
    else:
        assert embeddings.word_embeddings_2 is None


def test_brightmart_mlm_goes_back_through_word_embeddings_2() -> None:
    """Zeroing word_embeddings_2 leaves only the output bias in the MLM logits (both uses are tied)."""
    model = build_model(brightmart_debug(), "pretraining", None).eval()
    ids, types, mask = _inputs(model.config)
    with torch.no_grad():
        model.mlm_head.bias.normal_()
        before = model(ids, types, mask).mlm_logits
        model.albert.embeddings.word_embeddings_2.weight.zero_()
        after = model(ids, types, mask).mlm_logits
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, model.mlm_head.bias.expand_as(after))


# --- folders and export --------------------------------------------------------------------------


def test_folders_round_trip_the_layout_and_heads_load_from_them(tmp_path: Path) -> None:
    model = build_model(brightmart_debug(), "pretraining", None, generator=torch.Generator().manual_seed(3))
    save_model(model, tmp_path / "pre")
    assert json.loads((tmp_path / "pre" / "config.json").read_text())["embedding_layout"] == "brightmart"
    config, meta, state, _ = read_checkpoint(tmp_path / "pre")
    assert config == model.config and meta["head"] == "pretraining"
    assert torch.equal(
        state["albert.embeddings.word_embeddings_2.weight"], model.albert.embeddings.word_embeddings_2.weight
    )
    loaded = load_checkpoint(tmp_path / "pre", head="classification", num_labels=2)
    assert loaded.config.embedding_layout == "brightmart"
    assert set(loaded.initialized) == {"classifier.weight", "classifier.bias"}
    ids, types, mask = _inputs(model.config)
    model.eval(), loaded.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(
            loaded.model.albert(ids, types, mask)[1], model.albert(ids, types, mask)[1]
        )
    with pytest.raises(AlbertctlError, match="cannot override embedding_layout"):
        load_checkpoint(tmp_path / "pre", overrides={"embedding_layout": "google"})


def test_folder_without_the_field_reads_as_google(tmp_path: Path) -> None:
    save_model(build_model(get_config("debug"), "backbone", None), tmp_path / "old")
    path = tmp_path / "old" / "config.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({k: v for k, v in data.items() if k != "embedding_layout"}))
    model, config = load_model(tmp_path / "old", head="backbone")
    assert config.embedding_layout == "google" and model.embedding_hidden_mapping_in is not None
    # A folder whose config says brightmart but holds Google weights is refused by name.
    path.write_text(json.dumps({**data, "embedding_layout": "brightmart"}))
    with pytest.raises(
        AlbertctlError, match="lacks backbone weights: albert.embeddings.word_embeddings_2"
    ) as info:
        load_model(tmp_path / "old", head="backbone")
    assert "embedding_layout" in (info.value.hint or "")


def test_export_hf_refuses_the_brightmart_layout_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    save_model(build_model(brightmart_debug(), "classification", 2), tmp_path / "model")
    with pytest.raises(AlbertctlError, match="transformers' AlbertModel has only the Google layout") as info:
        export_hf(tmp_path / "model", tmp_path / "hf")
    assert "albertctl model folder" in (info.value.hint or "")
    assert not (tmp_path / "hf").exists()
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["export", "hf", str(tmp_path / "model"), str(tmp_path / "hf")])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("error: ") and "brightmart/albert_zh's embedding layout" in err[0]
    assert not (tmp_path / "hf").exists()


# --- import tf -------------------------------------------------------------------------------


def test_import_tf_of_an_albert_zh_checkpoint_matches_its_forward_pass(tmp_path: Path) -> None:
    weights = random_weights(brightmart_variables())
    release = write_release(tmp_path / "albert_tiny_zh", weights)
    report = import_tf(release, tmp_path / "model")
    assert (report.head, report.skipped) == ("pretraining", 2 * len(weights) + 1)
    assert report.vocabulary == release / "vocab.txt"
    model, config = load_model(tmp_path / "model", head="pretraining")
    assert config.embedding_layout == "brightmart" and config.hidden_act == "gelu_new"
    model.eval()
    ids, types, mask, positions = fixed_inputs()
    ref = brightmart_forward(weights, TF_CONFIG, ids, types, mask, positions)
    with torch.no_grad():
        inputs = (torch.from_numpy(ids), torch.from_numpy(types), torch.from_numpy(mask))
        sequence, pooled = model.albert(*inputs)
        out = model(*inputs, masked_lm_positions=torch.from_numpy(positions))
    np.testing.assert_allclose(sequence.numpy(), ref["sequence"], atol=1e-5)
    np.testing.assert_allclose(pooled.numpy(), ref["pooled"], atol=1e-5)
    np.testing.assert_allclose(torch.log_softmax(out.mlm_logits, -1).numpy(), ref["mlm_log_probs"], atol=1e-5)
    np.testing.assert_allclose(torch.log_softmax(out.sop_logits, -1).numpy(), ref["sop_log_probs"], atol=1e-5)
    # The reference is sensitive to what the import could get wrong: an untransposed
    # word_embeddings_2 (E x H, not H x E) would not even load, a wrong gelu would move the outputs.
    wrong = brightmart_forward({**weights, "bert/pooler/dense/kernel": weights["bert/pooler/dense/kernel"].T},
                               TF_CONFIG, ids, types, mask, positions)  # fmt: skip
    assert np.abs(wrong["pooled"] - ref["pooled"]).max() > 1e-3


def test_import_tf_of_an_albert_zh_classifier(tmp_path: Path) -> None:
    weights = random_weights(brightmart_variables(head="classification"), seed=5)
    release = write_release(tmp_path / "clf", weights, slots=False)
    report = import_tf(release, tmp_path / "model")
    assert (report.head, report.skipped) == ("classification", 0)
    model, config = load_model(tmp_path / "model", head="classification")
    assert config.embedding_layout == "brightmart" and model.num_labels == 3
    assert torch.equal(model.classifier.weight, torch.from_numpy(weights["output_weights"]))  # not transposed
    assert torch.equal(
        model.albert.embeddings.word_embeddings_2.weight,
        torch.from_numpy(weights["bert/embeddings/word_embeddings_2"].T.copy()),
    )


def test_layout_is_told_by_the_variable_names() -> None:
    brightmart = random_weights(brightmart_variables())
    assert tf_layout(brightmart) == "brightmart"
    assert tf_layout({f"module/{k}": v for k, v in brightmart.items()}) == "brightmart"  # TF-Hub prefix
    google = {"bert/encoder/transformer/group_0/inner_group_0/LayerNorm/gamma": np.ones(4, np.float32)}
    assert tf_layout(google) == "google"
    assert tf_layout({"bert/embeddings/word_embeddings_2/adam_m": np.ones(4)}) == "google"  # a slot only
    with pytest.raises(AlbertctlError, match="mixes google-research/albert's variables"):
        tf_layout({**brightmart, **google})
    state, unknown = tf_to_hf_state_dict(brightmart)
    assert not unknown and state["albert.embeddings.word_embeddings_2.weight"].shape == (16, 8)
    assert "albert.encoder.albert_layer_groups.0.albert_layers.0.ffn_output.weight" in state


def test_albert_zh_variants_albertctl_lacks_fail_clearly(tmp_path: Path) -> None:
    weights = random_weights(brightmart_variables())
    # share_parameter_across_layers=False: bert/encoder/layer_0/... instead of layer_shared.
    unshared = {k.replace("layer_shared", "layer_0"): v for k, v in weights.items()}
    write_release(tmp_path / "unshared", unshared)
    with pytest.raises(AlbertctlError, match="variables are not brightmart/albert_zh's .*layer_0"):
        import_tf(tmp_path / "unshared", tmp_path / "out")
    write_release(tmp_path / "preln", weights, config={**TF_CONFIG, "ln_type": "preln"})
    with pytest.raises(AlbertctlError, match="ln_type 'preln'"):
        import_tf(tmp_path / "preln", tmp_path / "out")
    write_release(tmp_path / "said", weights, config={**TF_CONFIG, "embedding_layout": "google"})
    with pytest.raises(AlbertctlError, match="says embedding_layout 'google', but .* has brightmart's"):
        import_tf(tmp_path / "said", tmp_path / "out")
    write_release(tmp_path / "shape", weights, config={**TF_CONFIG, "embedding_size": 4})
    with pytest.raises(AlbertctlError, match=r"word_embeddings.weight is \[40, 8\] in the checkpoint"):
        import_tf(tmp_path / "shape", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_pretrain_trains_a_brightmart_model_and_saves_its_layout(tmp_path: Path) -> None:
    from albertctl.train.metrics import read_metrics
    from albertctl.train.pretrain import PretrainConfig, pretrain
    from albertctl.train.synthetic import write_synthetic_data

    data = write_synthetic_data(tmp_path / "data", shards=1, rows_per_shard=48, seed=0)
    model_json = tmp_path / "brightmart.json"
    model_json.write_text(json.dumps(brightmart_debug().to_dict()))
    config = PretrainConfig(
        data=(data,), out=tmp_path / "run", model=str(model_json), batch_size=8, max_steps=30,
        warmup_steps=2, lr=2e-2, log_every=10, save_every=30, eval_every=0, threads=1,
        tensorboard=False, precision="fp32",
    )  # fmt: skip
    pretrain(config)
    losses = [r["loss"] for r in read_metrics(tmp_path / "run") if r["split"] == "train"]
    assert losses[-1] < losses[0] - 0.2
    loaded = load_checkpoint(tmp_path / "run")
    assert loaded.config.embedding_layout == "brightmart" and not loaded.initialized
    assert "albert.embeddings.word_embeddings_2.weight" in loaded.model.state_dict()
