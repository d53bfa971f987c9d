"""``build-vocab --kind wordpiece`` (a BERT-Chinese vocab.txt trained with ``tokenizers``) and the
SentencePiece kind's character-coverage pick on Chinese text. Corpora are made in-process."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from albertctl.cli import main
from albertctl.errors import AlbertctlError
from albertctl.vocab import BuildVocabConfig, build_vocab, load_tokenizer
from albertctl.vocab.build import (
    CJK_COVERAGE,
    REFERENCE_COVERAGE,
    cjk_share,
    ignored_settings,
    pick_character_coverage,
)
from albertctl.vocab.wordpiece import WordPieceTokenizer, is_chinese_char
from albertctl.vocab.wordpiece_build import (
    BERT_CHINESE_SPECIALS,
    order_pieces,
    strip_accents_for,
    train_wordpiece,
)

pytest.importorskip("tokenizers")

_HANZI = "我们今天去北京大学学习自然语言处理数学是研究数量结构以及空间等概念的学科中国人民很好看书写字"
_WORDS = "running runner runs played playing player tokenization tokens token quickly Café naïve".split()
_PUNCT = ("，", "。", "、", ", ", ". ", "!", "（", "）")


def _mixed_lines(n: int, seed: int = 0, english_share: float = 0.3) -> list[str]:
    """Lines of random hanzi runs with some English words and punctuation mixed in."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n):
        parts = []
        for _ in range(int(rng.integers(4, 10))):
            if rng.random() < english_share:
                parts.append(f" {_WORDS[int(rng.integers(len(_WORDS)))]} ")
            else:
                parts.append(
                    "".join(_HANZI[int(i)] for i in rng.integers(len(_HANZI), size=rng.integers(1, 5)))
                )
            if rng.random() < 0.3:
                parts.append(_PUNCT[int(rng.integers(len(_PUNCT)))])
        lines.append("".join(parts).strip())
    return lines


@pytest.fixture(scope="module")
def zh_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("zh") / "zh.txt"
    path.write_text("\n".join(_mixed_lines(400)) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def zh_vocab(zh_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("zhvocab") / "vocab"
    build_vocab([zh_corpus], out, BuildVocabConfig(kind="wordpiece", vocab_size=220))
    return out


def _run(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


# --- the vocabulary --------------------------------------------------------------------------------


def test_layout_is_bert_base_chinese(zh_vocab: Path) -> None:
    lines = (zh_vocab / "vocab.txt").read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" and len(lines) - 1 == 220
    assert lines[0] == "[PAD]" and lines[1] == "[unused1]" and lines[99] == "[unused99]"
    assert lines[100:104] == ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = load_tokenizer(zh_vocab)
    assert isinstance(tok, WordPieceTokenizer) and tok.vocab_size == 220
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 100, 101, 102, 103)
    config = json.loads((zh_vocab / "vocab_config.json").read_text(encoding="utf-8"))
    assert config["kind"] == "wordpiece" and config["special_ids"]["[MASK]"] == 103
    manifest = json.loads((zh_vocab / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["vocab_kind"] == "wordpiece" and manifest["model_sha256"] == tok.fingerprint()
    assert manifest["files"] == {"vocab.txt": "vocab.txt"} and not (zh_vocab / "spiece.model").exists()


def test_every_cjk_character_is_its_own_token(zh_vocab: Path) -> None:
    pieces = (zh_vocab / "vocab.txt").read_text(encoding="utf-8").splitlines()
    for char in set(_HANZI):
        assert char in pieces, char
    # No piece joins two ideographs, nor continues a word with one.
    for piece in pieces:
        body = piece.removeprefix("##")
        if any(is_chinese_char(ord(c)) for c in body):
            assert len(piece) == 1, piece
    continuations = [p for p in pieces if p.startswith("##") and len(p) > 3]
    assert continuations, "other scripts get ## continuation pieces"
    tok = load_tokenizer(zh_vocab)
    assert tok.encode("北京") == [tok.piece_to_id("北"), tok.piece_to_id("京")]


def test_ids_match_transformers_bert_tokenizer(zh_vocab: Path) -> None:
    transformers = pytest.importorskip("transformers")
    ours = load_tokenizer(zh_vocab)
    slow = transformers.BertTokenizer(str(zh_vocab / "vocab.txt"))
    fast = transformers.BertTokenizerFast(str(zh_vocab / "vocab.txt"))
    texts = [
        *_mixed_lines(40, seed=7),
        "北京大学的 Runners 跑得 QUICKLY，Café naïve!",
        "未知字龘和 unknownword 以及 tokenization。",
        "  tabs\tand\nnewlines 我们  ",
    ]
    for text in texts:
        ids = ours.encode(text)
        assert ids == slow.encode(text, add_special_tokens=False), text
        assert ids == fast.encode(text, add_special_tokens=False), text
    pair = ours.encode_pair(ours.encode(texts[0]), ours.encode(texts[1]), max_length=64)
    assert pair.input_ids == slow.encode(texts[0], texts[1], truncation=True, max_length=64)
    assert 100 in ours.encode("龘") and ours.decode(ours.encode("数学 tokens")) == "数 学 tokens"


def test_loaded_tokenizer_encodes_what_it_trained_on(zh_vocab: Path, zh_corpus: Path) -> None:
    tok = load_tokenizer(zh_vocab)
    lines = zh_corpus.read_text(encoding="utf-8").splitlines()[:50]
    ids = [i for line in lines for i in tok.encode(line)]
    assert ids and tok.unk_id not in ids  # every character of the corpus is in the alphabet
    assert all(0 <= i < tok.vocab_size for i in ids)


def test_cased_and_accent_settings_reach_the_vocab(zh_corpus: Path, zh_vocab: Path, tmp_path: Path) -> None:
    out = tmp_path / "cased"
    build_vocab(
        [zh_corpus], out, BuildVocabConfig(kind="wordpiece", vocab_size=300, lower=False, keep_accents=True)
    )
    pieces = set((out / "vocab.txt").read_text(encoding="utf-8").splitlines())
    assert "C" in pieces and ("é" in pieces or "##é" in pieces)
    lowered = set((zh_vocab / "vocab.txt").read_text(encoding="utf-8").splitlines())
    assert "C" not in lowered and "é" not in lowered and "##é" not in lowered  # lower-cased, accents stripped
    tok = load_tokenizer(out)
    assert tok.config.lower is False and tok.config.strips_accents is False
    assert strip_accents_for(True, False) is None and strip_accents_for(False, False) is True
    assert strip_accents_for(False, True) is None and strip_accents_for(True, True) is False


def test_order_pieces_puts_the_specials_first() -> None:
    trained = {"b": 3, "[UNK]": 0, "a": 1, "##x": 2, "[MASK]": 7}
    pieces = order_pieces(trained)
    assert pieces[: len(BERT_CHINESE_SPECIALS)] == list(BERT_CHINESE_SPECIALS)
    assert pieces[len(BERT_CHINESE_SPECIALS) :] == ["a", "##x", "b"]


def test_too_small_vocab_names_the_least_that_works(zh_corpus: Path, tmp_path: Path) -> None:
    lines = zh_corpus.read_text(encoding="utf-8").splitlines()
    with pytest.raises(AlbertctlError, match=r"the alphabet alone needs (\d+) pieces") as info:
        train_wordpiece(lines, vocab_size=120, normalization=BuildVocabConfig().wordpiece)
    least = int(info.value.hint.split("at least ")[1].split()[0])
    assert len(train_wordpiece(lines, vocab_size=least, normalization=BuildVocabConfig().wordpiece)) == least
    with pytest.raises(AlbertctlError, match="vocab_size must be an integer > 104 for kind wordpiece"):
        BuildVocabConfig(kind="wordpiece", vocab_size=104)
    with pytest.raises(AlbertctlError, match="kind must be 'sentencepiece' or 'wordpiece', got 'bpe'"):
        BuildVocabConfig(kind="bpe")  # type: ignore[arg-type]


def test_sentencepiece_only_settings_are_reported_as_ignored(zh_corpus: Path, tmp_path: Path) -> None:
    config = BuildVocabConfig(kind="wordpiece", vocab_size=220, model_type="bpe", character_coverage=0.9)
    assert ignored_settings(config) == ["--model-type", "--character-coverage"]
    assert ignored_settings(BuildVocabConfig(model_type="bpe")) == []
    report = build_vocab([zh_corpus], tmp_path / "v", config)
    assert report.warnings == (
        "--model-type is ignored: --kind wordpiece does not read it",
        "--character-coverage is ignored: --kind wordpiece does not read it",
    )
    assert report.picked == () and report.kind == "wordpiece"


def test_missing_tokenizers_is_one_clear_error(
    zh_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # `import tokenizers` now raises ImportError
    out = tmp_path / "vocab"
    with pytest.raises(AlbertctlError, match="needs the Hugging Face `tokenizers` library") as info:
        build_vocab([zh_corpus], out, BuildVocabConfig(kind="wordpiece", vocab_size=300))
    assert "albertctl[zh]" in info.value.hint and not out.exists()
    build_vocab([zh_corpus], out, BuildVocabConfig(vocab_size=200))  # SentencePiece does not need it


# --- SentencePiece on Chinese text: the coverage pick ---------------------------------------------------


def test_cjk_share_and_pick() -> None:
    assert cjk_share(["我们abc"]) == pytest.approx(2 / 5)
    assert cjk_share(["123 ,,,"]) == 0.0 and cjk_share(["ひらがな漢字"]) == 1.0
    assert cjk_share(["中" * 10, "a" * 10], max_chars=10) == 1.0  # stops after max_chars
    assert pick_character_coverage(None, 0.9)[0] == CJK_COVERAGE
    assert pick_character_coverage(None, 0.3)[0] == REFERENCE_COVERAGE
    assert pick_character_coverage(0.98, 0.9) == (0.98, None)
    assert "90% of sampled letters are CJK" in str(pick_character_coverage(None, 0.9)[1])


def test_sentencepiece_picks_cjk_coverage(tmp_path: Path) -> None:
    corpus = tmp_path / "zh.txt"
    corpus.write_text("\n".join(_mixed_lines(300, english_share=0.05)) + "\n", encoding="utf-8")
    report = build_vocab([corpus], tmp_path / "auto", BuildVocabConfig(vocab_size=120, user_symbols=()))
    assert len(report.picked) == 1 and report.picked[0].startswith(f"character_coverage {CJK_COVERAGE} (")
    assert report.manifest["config"]["character_coverage"] == CJK_COVERAGE
    assert report.manifest["picked"] == list(report.picked)
    given = BuildVocabConfig(vocab_size=120, user_symbols=(), character_coverage=0.99995)
    report = build_vocab([corpus], tmp_path / "given", given)
    assert report.picked == () and report.manifest["config"]["character_coverage"] == 0.99995


def test_sentencepiece_keeps_reference_coverage_on_english(tiny_corpus: Path, tmp_path: Path) -> None:
    report = build_vocab([tiny_corpus], tmp_path / "en", BuildVocabConfig(vocab_size=200))
    assert report.manifest["config"]["character_coverage"] == REFERENCE_COVERAGE
    assert report.picked[0].startswith(f"character_coverage {REFERENCE_COVERAGE} (0% ")


# --- the command line -------------------------------------------------------------------------------


def test_cli_kind_wordpiece(zh_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "vocab"
    assert (
        _run(["build-vocab", str(zh_corpus), "--out", str(out), "--kind", "wordpiece", "--vocab-size", "225"])
        == 0
    )
    assert "225 wordpiece pieces" in " ".join(capsys.readouterr().err.split())
    tok = load_tokenizer(out)
    assert isinstance(tok, WordPieceTokenizer) and tok.vocab_size == 225 and tok.mask_id == 103
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["config"]["kind"] == "wordpiece"


def test_cli_sentencepiece_says_what_it_picked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "zh.txt"
    corpus.write_text("\n".join(_mixed_lines(300, english_share=0.05)) + "\n", encoding="utf-8")
    args = [
        "build-vocab",
        str(corpus),
        "--out",
        str(tmp_path / "v"),
        "--vocab-size",
        "120",
        "--user-symbols",
        "",
    ]
    assert _run(args) == 0
    assert f"picked   character_coverage {CJK_COVERAGE}" in capsys.readouterr().err


@pytest.mark.parametrize("case", ["no-tokenizers", "vocab-too-small", "bad-kind"])
def test_cli_errors_write_nothing(
    case: str,
    zh_corpus: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from conftest import run_cli_error

    out = tmp_path / "vocab"
    args = ["build-vocab", str(zh_corpus), "--out", str(out), "--kind", "wordpiece", "--vocab-size", "300"]
    if case == "no-tokenizers":
        monkeypatch.setitem(sys.modules, "tokenizers", None)
        expected = "error: --kind wordpiece needs the Hugging Face `tokenizers` library"
    elif case == "vocab-too-small":
        args[-1] = "110"
        expected = "error: vocab size 110 cannot hold this corpus's characters"
    else:
        args[5] = "unigram"
        expected = "error: kind must be 'sentencepiece' or 'wordpiece', got 'unigram'"
    if case == "vocab-too-small":  # the reading bar was drawn first: check the error line itself
        assert _run(args) == 1
        err = capsys.readouterr().err
        line = next(x for x in err.splitlines() if x.startswith("error:"))
    else:
        line = run_cli_error(args, capsys)
    assert line.startswith(expected), line
    assert not out.exists()


# --- real data ------------------------------------------------------------------------------------------


def test_real_chinese_corpus_parity(shared_data: Path, tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    source = shared_data / "zh" / "corpus" / "corpus.txt"
    if not source.exists():
        pytest.skip(f"{source} is not present")
    with source.open(encoding="utf-8") as handle:
        lines = [next(handle) for _ in range(1500)]
    corpus = tmp_path / "head.txt"
    corpus.write_text("".join(lines), encoding="utf-8")
    out = tmp_path / "vocab"
    build_vocab([corpus], out, BuildVocabConfig(kind="wordpiece", vocab_size=8000))
    ours = load_tokenizer(out)
    theirs = transformers.BertTokenizerFast(str(out / "vocab.txt"))
    sample = [line for line in lines[::25] if line.strip()]
    assert [ours.encode(x) for x in sample] == [theirs.encode(x, add_special_tokens=False) for x in sample]


def test_fewer_pieces_than_asked_is_a_warning(zh_corpus: Path, tmp_path: Path) -> None:
    report = build_vocab([zh_corpus], tmp_path / "v", BuildVocabConfig(kind="wordpiece", vocab_size=5000))
    assert report.vocab_size < 5000 and load_tokenizer(tmp_path / "v").vocab_size == report.vocab_size
    assert report.warnings == (
        f"the corpus gave {report.vocab_size:,} pieces, fewer than --vocab-size 5,000: "
        "every merge it holds was learned (add text for more)",
    )
