"""``albertctl import tf``: a checkpoint written by TensorFlow (tests/fixtures/tf_albert, made by
tests/fixtures/make_tf_checkpoint.py) read without TF, and the imported model checked against
google-research/albert's own TF forward pass on that checkpoint (``reference.npz``)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from albertctl.cli import main as cli_main
from albertctl.errors import AlbertctlError
from albertctl.model.checkpoint import load_model
from albertctl.model.tf_checkpoint import import_tf, read_tf_checkpoint, tf_to_hf_state_dict

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "tf_albert"
sys.path.insert(0, str(FIXTURE.parent))
from make_tf_checkpoint import CONFIG, tf_value, variables  # noqa: E402


def _vocab(path: Path, size: int = CONFIG["vocab_size"]) -> Path:
    pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(size - 5)]
    path.write_text("\n".join(pieces) + "\n", encoding="utf-8")
    return path


def test_reader_returns_what_tensorflow_wrote() -> None:
    tensors = read_tf_checkpoint(FIXTURE / "model.ckpt-1234")
    assert int(tensors["global_step"]) == 1234 and tensors["global_step"].dtype == np.int64
    for name, shape in variables().items():
        for key in (name, f"{name}/adam_m", f"{name}/adam_v"):
            np.testing.assert_array_equal(tensors[key], tf_value(key, shape))
    assert len(tensors) == 3 * len(variables()) + 1


def test_imported_model_matches_the_tf_reference(tmp_path: Path) -> None:
    """Same checkpoint, same inputs (one row padded): our model vs google-research/albert's TF code."""
    report = import_tf(FIXTURE, tmp_path / "model", vocab=_vocab(tmp_path / "vocab.txt"))
    assert (report.head, report.skipped) == ("pretraining", 2 * len(variables()) + 1)
    ref = np.load(FIXTURE / "reference.npz")
    model, _ = load_model(tmp_path / "model", head="pretraining")
    model.eval()
    ids, types, mask = (
        torch.from_numpy(ref[k]).long() for k in ("input_ids", "token_type_ids", "input_mask")
    )
    with torch.no_grad():
        sequence, pooled = model.albert(ids, types, mask)
        out = model(ids, types, mask, masked_lm_positions=torch.from_numpy(ref["masked_lm_positions"]).long())
    np.testing.assert_allclose(sequence.numpy(), ref["sequence_output"], atol=1e-5)
    np.testing.assert_allclose(pooled.numpy(), ref["pooled_output"], atol=1e-5)
    np.testing.assert_allclose(torch.log_softmax(out.mlm_logits, -1).numpy(), ref["mlm_log_probs"], atol=1e-5)
    np.testing.assert_allclose(torch.log_softmax(out.sop_logits, -1).numpy(), ref["sop_log_probs"], atol=1e-5)
    assert model.config.hidden_act == "gelu_new"  # TF's "gelu" is the tanh form


def test_classifier_and_sop_weights_keep_their_layout() -> None:
    """``output_weights`` are created [num_labels, H] in TF: not transposed, unlike kernels."""
    weights = np.arange(6, dtype=np.float32).reshape(3, 2)
    kernel = np.arange(6, dtype=np.float32).reshape(2, 3)
    state, unknown = tf_to_hf_state_dict(
        {"output_weights": weights, "output_bias": np.zeros(3, np.float32),
         "bert/pooler/dense/kernel": kernel, "some/other/var": weights, "global_step": np.int64(5),
         "bert/pooler/dense/kernel/adam_m": kernel}
    )  # fmt: skip
    assert unknown == ["some/other/var"]
    assert torch.equal(state["classifier.weight"], torch.from_numpy(weights))
    assert torch.equal(state["albert.pooler.weight"], torch.from_numpy(kernel.T))
    assert set(state) == {"classifier.weight", "classifier.bias", "albert.pooler.weight"}
    hub, unknown = tf_to_hf_state_dict({"module/bert/pooler/dense/kernel": kernel, "module/global_step": 1})
    assert list(hub) == ["albert.pooler.weight"] and not unknown  # TF-Hub exports prefix "module/"


def test_cli_import_then_export_loads_in_transformers(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    source = tmp_path / "release"
    shutil.copytree(FIXTURE, source)
    _vocab(source / "vocab.txt")
    for argv in (
        ["import", "tf", str(source), str(tmp_path / "model")],
        ["export", "hf", str(tmp_path / "model"), str(tmp_path / "hf")],
    ):
        with pytest.raises(SystemExit) as exit_info:
            cli_main(argv)
        assert exit_info.value.code == 0
    assert (tmp_path / "model" / "vocab.txt").is_file()
    ref = np.load(FIXTURE / "reference.npz")
    hf = transformers.AlbertModel.from_pretrained(tmp_path / "hf").eval()
    with torch.no_grad():
        out = hf(
            input_ids=torch.from_numpy(ref["input_ids"]).long(),
            attention_mask=torch.from_numpy(ref["input_mask"]).long(),
            token_type_ids=torch.from_numpy(ref["token_type_ids"]).long(),
        )
    np.testing.assert_allclose(out.last_hidden_state.numpy(), ref["sequence_output"], atol=1e-5)
    assert transformers.BertTokenizer.from_pretrained(str(tmp_path / "hf")).convert_tokens_to_ids("w0") == 5


def test_cli_error_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["import", "tf", str(tmp_path), str(tmp_path / "model")])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.strip().startswith(f"error: no TF checkpoint (*.index) in {tmp_path}")
    assert not (tmp_path / "model").exists()


def _release(tmp_path: Path) -> Path:
    source = tmp_path / "release"
    shutil.copytree(FIXTURE, source)
    return source


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda d: (d / "albert_config.json").unlink(), "no albert_config.json beside"),
        (lambda d: _vocab(d / "vocab.txt", 30), "vocab.txt has 30 pieces; the checkpoint's vocab_size is 40"),
        (lambda d: shutil.copy(d / "model.ckpt-1234.index", d / "b.index") and (d / "checkpoint").unlink(),
         "holds several checkpoints"),
        (lambda d: (d / "model.ckpt-1234.data-00000-of-00001").unlink(), "is missing"),
        (lambda d: (d / "model.ckpt-1234.index").write_bytes(b"x" * 64), "bad magic number"),
        (lambda d: (d / "albert_config.json").write_text(json.dumps({**CONFIG, "net_structure_type": 1})),
         "net_structure_type = 1, a variant albertctl lacks"),
        (lambda d: (d / "albert_config.json").write_text(json.dumps({**CONFIG, "hidden_size": 32})),
         "does not match its config albert_config.json"),
    ],
)  # fmt: skip
def test_bad_checkpoints_fail_clearly_and_write_nothing(tmp_path: Path, breakage, message: str) -> None:
    source = _release(tmp_path)
    breakage(source)
    with pytest.raises(AlbertctlError, match=message):
        import_tf(source, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def _corruptions(rng: np.random.Generator, raw: bytes, flips: int, width: int) -> list[bytes]:
    """``flips`` copies of ``raw`` with ``width`` consecutive random bytes at a random place."""
    out = []
    for _ in range(flips):
        data = bytearray(raw)
        at = int(rng.integers(0, len(raw) - width + 1))
        data[at : at + width] = rng.integers(0, 256, size=width, dtype=np.uint8).tobytes()
        out.append(bytes(data))
    return out


def test_malformed_checkpoints_never_give_a_traceback(tmp_path: Path) -> None:
    """Byte corruptions and truncations of every file of the fixture: each import either works or
    is one AlbertctlError (the index fuzz found IndexError and TypeError before)."""
    rng = np.random.default_rng(0)
    files = ("model.ckpt-1234.index", "model.ckpt-1234.data-00000-of-00001", "albert_config.json")
    cases: list[tuple[str, bytes]] = []
    for name in files:
        raw = (FIXTURE / name).read_bytes()
        cases += [(name, d) for d in _corruptions(rng, raw, 150 if name.endswith("index") else 20, 1)]
        cases += [(name, d) for d in _corruptions(rng, raw, 100 if name.endswith("index") else 10, 5)]
        cases += [(name, raw[:cut]) for cut in sorted(set(rng.integers(0, len(raw), size=12).tolist()))]
    source = _release(tmp_path)
    _vocab(source / "vocab.txt")
    outcomes = {"imported": 0, "refused": 0}
    for k, (name, data) in enumerate(cases):
        original = (source / name).read_bytes()
        (source / name).write_bytes(data)
        try:
            import_tf(source, tmp_path / f"out{k}")
            outcomes["imported"] += 1
            shutil.rmtree(tmp_path / f"out{k}")
        except AlbertctlError:
            outcomes["refused"] += 1
            assert not (tmp_path / f"out{k}").exists()
        finally:
            (source / name).write_bytes(original)
    assert outcomes["refused"] > len(cases) // 4 and outcomes["imported"] > 0


def test_config_of_another_size_is_refused_before_allocating(tmp_path: Path) -> None:
    source = _release(tmp_path)
    (source / "albert_config.json").write_text(json.dumps({**CONFIG, "vocab_size": 10**9}))
    with pytest.raises(AlbertctlError, match=r"word_embeddings.weight is \[40, \d+\] in the checkpoint"):
        import_tf(source, tmp_path / "out")  # a model of 10**9 x E floats would not fit in memory
    (source / "albert_config.json").write_text(json.dumps([CONFIG]))
    with pytest.raises(AlbertctlError, match="albert_config.json must hold a JSON object"):
        import_tf(source, tmp_path / "out")
    (source / "albert_config.json").write_bytes(b'{"vocab_size": "\xff"}')
    with pytest.raises(AlbertctlError, match=r"albert_config.json is not UTF-8 text"):
        import_tf(source, tmp_path / "out")
