"""WordPiece ``vocab.txt`` tokenizer: parity with transformers' BertTokenizer, the Tokenizer
contract (special ids, pairs, word starts, save/load), errors, and the chain on a WordPiece vocab."""

from __future__ import annotations

import collections
import json
import re
import unicodedata
from pathlib import Path

import pytest

from albertctl.errors import AlbertctlError
from albertctl.vocab import load_tokenizer
from albertctl.vocab.wordpiece import BERT_SPECIALS, WordPieceConfig, WordPieceTokenizer

ZH = [
    "数学是利用符号语言研究数量、结构、变化以及空间等概念的一门学科。",
    "话说天下大势，分久必合，合久必分。周末七国分争，并入于秦。",
    "他说：“我们明天去北京（Beijing）吧！”她回答：‘好的’。",
    "ALBERT在GLUE上的得分是89.4，比BERT-large高。",
]
TRICKY = [
    "Hello, World! It's 3.14 -- isn't it?",
    "Café naïve résumé Ångström façade",
    "tabs\tand\nnewlines\r\nand\u00a0nbsp\u3000ideographic space",
    "zero\u200bwidth and soft\u00adhyphen and bidi\u202eoverride",
    "private\ue000use and nul\x00byte and replacement\ufffdchar",
    "emoji 😀 and astral 𝐀𝐁 and 𠀀 (CJK ext B)",
    "ＦＵＬＬＷＩＤＴＨ ｌｅｔｔｅｒｓ and ﬁ ligature",
    "a" * 101 + " and " + "b" * 100,
    "unknownz words: xylophonezzz qwfp",
    "punctuation…“quotes” ‘single’ «guillemets» — dash ¿que? ¡si!",
    "Ελληνικά кириллица עברית العربية हिन्दी 한국어 日本語のかな",
    "",
    "   ",
]


def _vocab_lines(texts: list[str], words: int = 400) -> list[str]:
    """A BERT-style vocab.txt for ``texts``: specials, unused slots, frequent words, every
    character seen (alone and as ``##``), and a few suffixes."""
    chars: set[str] = set()
    for text in texts:
        for char in unicodedata.normalize("NFD", text.lower()) + text:
            if not char.isspace() and unicodedata.category(char) != "Mn":
                chars.add(char)
    chars.discard("q")  # a letter missing entirely: words with it become [UNK]
    counts = collections.Counter(re.findall(r"[a-z]+", " ".join(texts).lower()))
    common = [w for w, _ in counts.most_common(words) if "q" not in w]
    lines = ["[PAD]", *(f"[unused{i}]" for i in range(20)), "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    lines += sorted(chars) + [f"##{c}" for c in sorted(chars)]
    lines += common + ["##ing", "##ed", "##s", "##ly", "##tion", "##er"]
    return list(dict.fromkeys(lines))


def _write_vocab(directory: Path, texts: list[str], tokenizer_config: dict | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.txt").write_text("\n".join(_vocab_lines(texts)) + "\n", encoding="utf-8")
    if tokenizer_config is not None:
        (directory / "tokenizer_config.json").write_text(json.dumps(tokenizer_config), encoding="utf-8")
    return directory


def _texts(tiny_corpus: Path, shared: Path | None) -> list[str]:
    lines = tiny_corpus.read_text(encoding="utf-8").splitlines()[:600]
    texts = TRICKY + ZH + [line for line in lines if line]
    if shared is not None:
        for name in ("corpus/corpus.txt", "zh/corpus/corpus.txt"):
            with open(shared / name, encoding="utf-8") as handle:
                texts += [line for line, _ in zip(handle, range(1500), strict=False) if line.strip()]
    # Literal special tokens are text for us and tokens for transformers (module docstring).
    return [t for t in texts if not any(s in t for s in BERT_SPECIALS)]


@pytest.fixture(scope="module")
def wordpiece_dir(tiny_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_vocab(
        tmp_path_factory.mktemp("wordpiece") / "vocab", TRICKY + ZH + [tiny_corpus.read_text()]
    )


@pytest.mark.parametrize("lower", [True, False])
def test_ids_match_transformers_bert_tokenizer(
    lower: bool, tiny_corpus: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    transformers = pytest.importorskip("transformers")
    from conftest import SHARED_DATA

    texts = _texts(tiny_corpus, SHARED_DATA if SHARED_DATA.is_dir() else None)
    vocab = _write_vocab(tmp_path / "vocab", texts[:3000], {"do_lower_case": lower})
    ours = load_tokenizer(vocab)
    assert isinstance(ours, WordPieceTokenizer) and ours.config.lower is lower
    theirs = transformers.BertTokenizer.from_pretrained(str(vocab))
    expected = theirs(texts, add_special_tokens=False)["input_ids"]
    mismatches = [(t, e, ours.encode(t)) for t, e in zip(texts, expected, strict=True) if ours.encode(t) != e]
    assert not mismatches, f"{len(mismatches)} of {len(texts)} differ, first: {mismatches[0]}"
    assert sum(ours.unk_id in ours.encode(t) for t in texts) > 0  # the [UNK] paths were exercised
    # Pairs: [CLS] A [SEP] B [SEP] and token types, as BertTokenizer builds them.
    pair = theirs(ZH[0], ZH[1])
    encoded = ours.encode_pair(ZH[0], ZH[1])
    assert encoded.input_ids == pair["input_ids"] and encoded.token_type_ids == pair["token_type_ids"]


def test_special_ids_word_starts_and_decode(wordpiece_dir: Path) -> None:
    tok = load_tokenizer(wordpiece_dir)
    pieces = (wordpiece_dir / "vocab.txt").read_text(encoding="utf-8").split("\n")
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == tuple(
        pieces.index(s) for s in BERT_SPECIALS
    )
    assert tok.vocab_size == len(pieces) - 1  # the final newline ends the last line
    ids = tok.encode("Hello worlds, 中国")
    assert tok.tokenize("Hello worlds, 中国") == [tok.id_to_piece(i) for i in ids]
    starts = tok.word_starts([tok.cls_id, *ids, tok.sep_id])
    assert starts == [True] + [not tok.id_to_piece(i).startswith("##") for i in ids] + [True]
    assert tok.decode([tok.cls_id, *tok.encode("Hello worlds, 数学"), tok.sep_id]) == "hello worlds , 数 学"
    assert tok.decode(tok.encode("hello 中")) == "hello [UNK]"  # unknown pieces stay visible


def test_save_reload_and_fingerprint(wordpiece_dir: Path, tmp_path: Path) -> None:
    tok = WordPieceTokenizer(wordpiece_dir / "vocab.txt", WordPieceConfig(lower=False))
    tok.save(tmp_path / "saved")
    config = json.loads((tmp_path / "saved" / "vocab_config.json").read_text())
    assert config["kind"] == "wordpiece" and config["normalization"]["lower"] is False
    again = load_tokenizer(tmp_path / "saved")
    assert isinstance(again, WordPieceTokenizer) and again.config == tok.config
    assert (
        again.encode("Hello World")
        == tok.encode("Hello World")
        != load_tokenizer(wordpiece_dir).encode("Hello World")
    )
    assert again.fingerprint() == tok.fingerprint() != load_tokenizer(wordpiece_dir).fingerprint()
    assert load_tokenizer(tmp_path / "saved" / "vocab.txt").config == tok.config


def test_wordpiece_errors(tmp_path: Path) -> None:
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n", encoding="utf-8")
    with pytest.raises(AlbertctlError, match=r"has no \[MASK\] line"):
        load_tokenizer(tmp_path)
    (tmp_path / "vocab.txt").write_bytes(b"[PAD]\n\xff\n")
    with pytest.raises(AlbertctlError, match="is not UTF-8"):
        load_tokenizer(tmp_path)
    (tmp_path / "vocab_config.json").write_text(
        json.dumps({"kind": "wordpiece", "normalization": {"case": 1}})
    )
    with pytest.raises(AlbertctlError, match=r"unknown WordPiece settings \['case'\]"):
        load_tokenizer(tmp_path)
    (tmp_path / "vocab_config.json").write_text(json.dumps({"kind": "bpe"}))
    with pytest.raises(AlbertctlError, match="names vocabulary kind 'bpe'"):
        load_tokenizer(tmp_path)


def test_ascii_fast_path_follows_the_general_rules() -> None:
    from albertctl.vocab import wordpiece

    for code in range(128):
        char = chr(code)
        general = (
            ""
            if code == 0 or wordpiece._is_control(char)
            else " "
            if wordpiece._is_whitespace(char)
            else char
        )
        assert wordpiece._clean(char, True) == general, code
        assert wordpiece._clean(char + "\u00e9", True) == general + "\u00e9", code  # the general path


def test_chain_on_a_wordpiece_vocab(tiny_corpus: Path, tmp_path: Path) -> None:
    """make-data -> pretrain -> finetune glue -> export hf on a BERT vocab.txt, as albert_zh users
    run it: whole words are masked whole, the vocabulary travels with every artifact, and
    transformers' BertTokenizer + AlbertForSequenceClassification reproduce our dev logits."""
    transformers = pytest.importorskip("transformers")
    import numpy as np
    import torch
    from test_glue_finetune import write_sentiment_dir

    from albertctl.data.build import MakeDataConfig, build_pretraining_data
    from albertctl.data.shards import read_shard
    from albertctl.glue.batching import encode_examples
    from albertctl.glue.evaluate import load_finetuned, predict_logits, resolve_finetuned
    from albertctl.glue.finetune import FinetuneConfig, finetune_glue
    from albertctl.glue.readers import read_split
    from albertctl.glue.tasks import TASKS, parse_tasks
    from albertctl.model.export import export_hf
    from albertctl.train.pretrain import PretrainConfig, pretrain

    corpus = tmp_path / "corpus.txt"
    chinese = "\n\n".join("\n".join(ZH[i:] + ZH[:i]) for i in range(len(ZH)))
    corpus.write_text(
        tiny_corpus.read_text(encoding="utf-8")[:60_000] + "\n\n" + chinese + "\n", encoding="utf-8"
    )
    vocab = _write_vocab(tmp_path / "vocab", [corpus.read_text(encoding="utf-8"), "good bad"])
    tok = load_tokenizer(vocab)
    data = tmp_path / "data"
    build_pretraining_data(
        [corpus], vocab, data, MakeDataConfig(max_seq_length=64, max_predictions=10, dupe_factor=2)
    )
    manifest = json.loads((data / "manifest.json").read_text())
    assert manifest["vocab_fingerprint"] == tok.fingerprint() == load_tokenizer(data / "vocab").fingerprint()
    continued = masked_total = as_mask = 0
    for shard in manifest["shards"]:
        for row in read_shard(data / shard["file"]).to_pylist():
            masked = dict(zip(row["masked_lm_positions"], row["masked_lm_ids"], strict=True))
            for pos, original in masked.items():
                # A word's inner piece is masked with the piece before it (the reference groups
                # across [SEP] too: B truncated at its front can start inside a word).
                before = [
                    p
                    for p in range(pos)
                    if masked.get(p, row["input_ids"][p]) not in (tok.cls_id, tok.sep_id)
                ]
                if tok.id_to_piece(original).startswith("##") and before:
                    continued += 1
                    assert before[-1] in masked, (row, pos)
            masked_total += len(masked)
            as_mask += sum(row["input_ids"][p] == tok.mask_id for p in masked)
    assert continued > 0 and 0.7 < as_mask / masked_total < 0.9  # 80% become this vocab's [MASK]

    run = pretrain(
        PretrainConfig(
            data=(data,), out=tmp_path / "run", model="debug", batch_size=8, max_steps=2, warmup_steps=0,
            threads=1, tensorboard=False, precision="fp32",
        )
    )  # fmt: skip
    assert run.last_checkpoint is not None
    assert load_tokenizer(run.last_checkpoint).fingerprint() == tok.fingerprint()
    glue = write_sentiment_dir(tmp_path / "glue", train=32, dev=24)
    config = FinetuneConfig(lr=2e-3, batch_size=8, max_steps=4, device="cpu")
    finetune_glue(
        config, tasks=parse_tasks("sst2"), data_dir=glue, model_path=tmp_path / "run", out=tmp_path / "ft"
    )
    ft = resolve_finetuned(tmp_path / "ft", TASKS["sst2"])
    export_hf(ft.path, tmp_path / "hf")

    model, ft_tok = load_finetuned(ft, torch.device("cpu"))
    examples = read_split(TASKS["sst2"], glue, "dev").examples
    dev = encode_examples(ft_tok, examples, max_seq_length=128, regression=False)
    ours = predict_logits(model, dev, batch_size=7, pad_id=ft_tok.pad_id, device=torch.device("cpu"))
    hf_tok = transformers.BertTokenizer.from_pretrained(str(tmp_path / "hf"))
    batch = hf_tok([e.text_a for e in examples], padding=True, return_tensors="pt")
    assert [row[row != 0].tolist() for row in batch["input_ids"]] == dev.input_ids
    hf = transformers.AlbertForSequenceClassification.from_pretrained(tmp_path / "hf").eval()
    with torch.no_grad():
        theirs = hf(**batch).logits.numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_segmented_words_join_cjk_pieces() -> None:
    from albertctl.data.words import join_segmented_words

    pieces = ["数", "学", "是", "利", "用", "符", "号", "语", "言", "ab", "##c", "中", "文"]
    starts = [not p.startswith("##") for p in pieces]
    words = ["数学", "是", "利用", "符号语言", "abc", "中文"]
    joined = join_segmented_words(pieces, starts, words)
    assert joined == [True, False, True, True, False, True, False, False, False, True, False, True, False]
    # Longest match first; a non-CJK piece breaks a run; SentencePiece prefixes are ignored.
    assert join_segmented_words(["▁符号", "语", "言"], [True] * 3, ["符号", "符号语言"]) == [
        True,
        False,
        False,
    ]
    assert join_segmented_words(["符", "x", "号"], [True] * 3, ["符号"]) == [True, True, True]
    assert join_segmented_words(pieces, starts, []) == starts


def test_make_data_with_a_word_segmenter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--word-segmenter: masking takes whole Chinese words; the option is in the fingerprint."""
    from albertctl.data import words
    from albertctl.data.build import MakeDataConfig, build_pretraining_data
    from albertctl.data.shards import read_shard

    lexicon = ["数学", "符号", "语言", "研究", "数量", "结构", "变化", "空间", "概念", "学科"]

    def segment(text: str) -> list[str]:  # a dictionary segmenter: longest lexicon word, else a char
        out, i = [], 0
        while i < len(text):
            word = next((w for w in lexicon if text.startswith(w, i)), text[i])
            out.append(word)
            i += len(word)
        return out

    monkeypatch.setitem(words.WORD_SEGMENTERS, "lexicon", lambda: segment)
    line = "数学是利用符号语言研究数量、结构、变化以及空间等概念的一门学科。"
    corpus = tmp_path / "zh.txt"
    corpus.write_text("\n\n".join("\n".join([line] * 4) for _ in range(30)) + "\n", encoding="utf-8")
    vocab = _write_vocab(tmp_path / "vocab", [line])
    tok = load_tokenizer(vocab)
    config = MakeDataConfig(max_seq_length=48, max_predictions=8, dupe_factor=2, word_segmenter="lexicon")
    build_pretraining_data([corpus], vocab, tmp_path / "data", config)
    pairs = 0
    for shard in json.loads((tmp_path / "data" / "manifest.json").read_text())["shards"]:
        for row in read_shard(tmp_path / "data" / shard["file"]).to_pylist():
            text = [tok.id_to_piece(i) for i in row["input_ids"]]
            masked = dict(zip(row["masked_lm_positions"], row["masked_lm_ids"], strict=True))
            original = [tok.id_to_piece(masked.get(p, i)) for p, i in enumerate(row["input_ids"])]
            for p in range(len(original) - 1):
                if original[p] + original[p + 1] in lexicon:  # a word is masked whole or not at all
                    pairs += 1
                    assert (p in masked) == (p + 1 in masked), (text, p)
            # token_boundary marks the word starts: a lexicon word's second character is not one.
            assert all(row["token_boundary"][p + 1] == 0 for p in range(len(original) - 1)
                       if original[p] + original[p + 1] in lexicon)  # fmt: skip
    assert pairs > 0
    with pytest.raises(AlbertctlError, match="unknown word segmenter 'nope'"):
        build_pretraining_data(
            [corpus], vocab, tmp_path / "other", MakeDataConfig(max_seq_length=48, word_segmenter="nope")
        )
    assert not (tmp_path / "other").exists()


def test_jieba_segmenter_when_installed() -> None:
    pytest.importorskip("jieba")
    from albertctl.data.words import make_word_segmenter

    assert "数学" in make_word_segmenter("jieba")("数学是利用符号语言研究数量的一门学科。")


def test_finetune_a_clue_task_on_a_wordpiece_model(tmp_path: Path) -> None:
    """The albert_zh path: a model with a BERT-Chinese-style vocab.txt fine-tuned on TNEWS (JSON
    lines); CLUE tasks are reported without a GLUE average."""
    import torch

    from albertctl.glue.finetune import FinetuneConfig, finetune_glue
    from albertctl.glue.tasks import parse_tasks
    from albertctl.model import AlbertForPreTraining, get_config, save_model

    topics = {"108": "甲", "116": "乙", "102": "丙"}  # one telling character per class
    vocab = _write_vocab(tmp_path / "vocab", [*topics.values(), *ZH])
    tok = load_tokenizer(vocab)
    (tmp_path / "clue" / "tnews").mkdir(parents=True)
    for split, n in (("train", 96), ("dev", 24)):
        rows = []
        for i in range(n):
            label = list(topics)[i % 3]
            text = ZH[i % 4][: 2 + i % 5] + topics[label]
            rows.append(json.dumps({"label": label, "sentence": text}, ensure_ascii=False))
        (tmp_path / "clue" / "tnews" / f"{split}.json").write_text("\n".join(rows) + "\n", encoding="utf-8")
    model = AlbertForPreTraining(
        get_config("debug", vocab_size=tok.vocab_size), generator=torch.Generator().manual_seed(0)
    )
    save_model(model, tmp_path / "ckpt", tokenizer=tok)
    config = FinetuneConfig(
        lr=3e-3, batch_size=16, max_steps=60, eval_every=10, seeds=(1, 2, 3), device="cpu"
    )
    report = finetune_glue(
        config,
        tasks=parse_tasks("tnews"),
        data_dir=tmp_path / "clue",
        model_path=tmp_path / "ckpt",
        out=tmp_path / "ft",
    )
    assert report.results["glue"] is None
    best = [s["best"]["metrics"]["accuracy"] for s in report.results["tasks"]["tnews"]["seeds"]]
    assert min(best) > 0.6, best  # chance is 1/3
