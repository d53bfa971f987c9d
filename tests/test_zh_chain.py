"""The Chinese chain from the command line, as docs/chinese.md runs it: ``build-vocab`` (WordPiece,
and SentencePiece) -> ``make-data --word-segmenter jieba`` -> ``pretrain`` of ``tiny-zh`` and
``tiny-zh-brightmart`` -> ``finetune clue --task tnews`` -> ``predict clue``, on a few KB of
generated Chinese and a TNEWS-layout fixture (tests/test_clue.py's ``write_clue_dir``)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from safetensors import safe_open
from test_clue import write_clue_dir

from albertctl.cli import main

pytest.importorskip("jieba")

# Words jieba knows, so that its segmentation joins characters; a few one-character words between.
_WORDS = (
    "我们 今天 天气 北京 大学 学生 老师 中国 经济 发展 手机 电脑 新闻 体育 比赛 音乐 电影 喜欢 工作 时间 "
    "问题 公司 市场 朋友 学习 研究 历史 文化 城市 医院 科学 技术 银行 政府 孩子 家庭 旅游 汽车 足球 游戏"
).split()
_PARTICLES = ("的", "了", "在", "是", "很", "和")


def _sentence(rng: np.random.Generator) -> str:
    parts = [
        str(rng.choice(_WORDS)) if rng.random() < 0.75 else str(rng.choice(_PARTICLES))
        for _ in range(int(rng.integers(4, 10)))
    ]
    return "".join(parts) + ("，" if rng.random() < 0.2 else "。")


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """``albertctl ARGV`` in-process; asserts exit 0 and returns stdout."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    captured = capsys.readouterr()
    assert exit_info.value.code in (0, None), captured.out + captured.err
    return captured.out


def _boundaries(data: Path) -> list[int]:
    """Every ``token_boundary`` value in DATA's shards, but [CLS], the last [SEP] and masked positions."""
    manifest = json.loads((data / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["totals"]["rows"] > 0
    values: list[int] = []
    for shard in sorted(data.glob("shard-*.arrow")):
        with pa.OSFile(str(shard), "rb") as source:
            table = pa.ipc.open_stream(source).read_all()
        for bounds, positions in zip(
            table["token_boundary"].to_pylist(),
            table["masked_lm_positions"].to_pylist(),
            strict=True,
        ):
            masked = set(positions)
            # First and last are [CLS] and [SEP]; the SEP between segments has boundary 1 anyway.
            values += [b for i, b in enumerate(bounds[1:-1], start=1) if i not in masked]
    return values


@pytest.fixture(scope="module")
def clue_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clue_dir(tmp_path_factory.mktemp("zh_clue"))


@pytest.fixture(scope="module")
def corpus(clue_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~10 KB: 30 documents of generated sentences, then the TNEWS fixture's text as one more
    document (so the vocabulary covers what fine-tuning reads)."""
    rng = np.random.default_rng(0)
    documents = ["\n".join(_sentence(rng) for _ in range(int(rng.integers(6, 14)))) for _ in range(30)]
    tnews = clue_dir / "tnews"
    files = [tnews / f"{split}.json" for split in ("train", "dev", "test", "test1.0")]
    rows = [json.loads(line) for f in files for line in f.read_text(encoding="utf-8").splitlines()]
    documents.append("\n".join(row["sentence"] for row in rows))
    path = tmp_path_factory.mktemp("zh_corpus") / "zh.txt"
    path.write_text("\n\n".join(documents) + "\n", encoding="utf-8")
    assert 5_000 < path.stat().st_size < 20_000
    return path


@pytest.fixture(scope="module", params=["wordpiece", "sentencepiece"])
def zh_data(
    request: pytest.FixtureRequest,
    corpus: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[str, Path]:
    """(kind, make-data dir) for a vocabulary of that kind built from ``corpus``, jieba-segmented."""
    kind = request.param
    if kind == "wordpiece":
        pytest.importorskip("tokenizers")
    root = tmp_path_factory.mktemp(f"zh_{kind}")
    vocab = root / "vocab"
    with pytest.raises(SystemExit) as exit_info:
        main(["build-vocab", str(corpus), "--out", str(vocab), "--kind", kind, "--vocab-size", "300"])
    assert exit_info.value.code in (0, None)
    expected = {"wordpiece": "vocab.txt", "sentencepiece": "spiece.model"}[kind]
    assert (vocab / expected).is_file()
    assert json.loads((vocab / "vocab_config.json").read_text(encoding="utf-8"))["kind"] == kind
    for name, extra in (("data", ["--word-segmenter", "jieba"]), ("chars", [])):
        argv = ["make-data", str(corpus), "--vocab", str(vocab), "--out", str(root / name)]
        argv += ["--max-seq-length", "64", "--dupe-factor", "1", *extra]
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code in (0, None)
    options = json.loads((root / "data" / "manifest.json").read_text(encoding="utf-8"))["options"]
    assert options["word_segmenter"] == "jieba"
    # Without a segmenter every CJK piece starts a word; with jieba the later pieces of a word
    # do not. WordPiece pieces are single characters and most words have two; SentencePiece
    # learns many whole words as one piece, so fewer pieces are joined there.
    assert set(_boundaries(root / "chars")) == {1}
    joined = _boundaries(root / "data")
    assert joined.count(0) / len(joined) > (0.15 if kind == "wordpiece" else 0.005)
    return kind, root / "data"


@pytest.mark.parametrize(("flavor", "layout"), [("tiny-zh", "google"), ("tiny-zh-brightmart", "brightmart")])
def test_zh_chain_from_the_cli(
    zh_data: tuple[str, Path],
    clue_dir: Path,
    flavor: str,
    layout: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, data = zh_data
    run = tmp_path / "run"
    _run(["pretrain", "--data", str(data), "--out", str(run), "--model", flavor, "--batch-size", "4",
          "--max-steps", "3", "--warmup-steps", "1", "--eval-every", "0", "--threads", "1",
          "--device", "cpu", "--precision", "fp32", "--no-tensorboard"], capsys)  # fmt: skip
    (checkpoint,) = sorted((run / "checkpoints").iterdir())
    assert checkpoint.name == "step-000003"
    config = json.loads((checkpoint / "config.json").read_text(encoding="utf-8"))
    assert config["embedding_layout"] == layout
    assert (config["hidden_size"], config["embedding_size"], config["num_hidden_layers"]) == (312, 128, 4)
    vocab_size = json.loads((data / "manifest.json").read_text(encoding="utf-8"))["vocab_size"]
    assert config["vocab_size"] == vocab_size
    with safe_open(str(checkpoint / "model.safetensors"), framework="pt") as weights:
        keys = set(weights.keys())
    assert ("albert.embeddings.word_embeddings_2.weight" in keys) == (layout == "brightmart")

    ft = tmp_path / "ft"
    out = _run(["finetune", "clue", "--task", "tnews", "--data-dir", str(clue_dir), "--model", str(run),
                "--out", str(ft), "--max-steps", "3", "--batch-size", "4", "--max-seq-length", "32",
                "--eval-every", "3", "--device", "cpu"], capsys)  # fmt: skip
    assert "CLUE dev accuracy" in out
    results = json.loads((ft / "results.json").read_text(encoding="utf-8"))
    assert [s["seed"] for s in results["tasks"]["tnews"]["seeds"]] == [1]
    for which in ("best", "final"):
        saved = json.loads((ft / "tnews" / "seed-1" / which / "config.json").read_text(encoding="utf-8"))
        assert saved["embedding_layout"] == layout and saved["hidden_size"] == 312

    submit = tmp_path / "submit"
    _run(["predict", "clue", "--model", str(ft), "--data-dir", str(clue_dir), "--out", str(submit),
          "--device", "cpu"], capsys)  # fmt: skip
    names = ["tnews10_predict.json", "tnews11_predict.json"]
    assert sorted(p.name for p in submit.iterdir()) == ["submit.zip", *names]
    tnews = clue_dir / "tnews"
    labels = {json.loads(line)["label"] for line in (tnews / "labels.json").read_text("utf-8").splitlines()}
    assert len(labels) == 15
    for name, test_file in zip(names, ("test1.0.json", "test.json"), strict=True):
        rows = [json.loads(line) for line in (submit / name).read_text(encoding="utf-8").splitlines()]
        test_ids = [json.loads(line)["id"] for line in (tnews / test_file).read_text("utf-8").splitlines()]
        assert [r["id"] for r in rows] == test_ids
        assert all(set(r) == {"id", "label"} and r["label"] in labels for r in rows)
    with zipfile.ZipFile(submit / "submit.zip") as archive:
        assert sorted(archive.namelist()) == names
        assert all(archive.read(n) == (submit / n).read_bytes() for n in names)
