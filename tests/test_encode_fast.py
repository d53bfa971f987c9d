"""The fast paths of ``SentencePieceTokenizer.encode_batch`` give exactly the plain path's ids.

``normalize_batch`` (a C-speed check per line, lower-casing bytes, and rules only where they
apply) is checked against ``normalize_text_plain`` and a plain rewrite of the reference
``preprocess_text`` under every setting, and ``encode_batch`` against SentencePiece fed the plain
normalization with the digit-comma fix on every line. The facts about SentencePiece's own
normalizer the fast paths rely on (no rule rewrites printable ASCII alone, no rule source holds a
space, some punctuation is in no rule's source) are checked by walking the whole character-map
trie, and on models whose rules break them the fast paths must step aside.
"""

from __future__ import annotations

import io
import itertools
import unicodedata
from array import array
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from albertctl.vocab import NormalizationConfig, SentencePieceTokenizer, load_tokenizer
from albertctl.vocab.normalize import normalize_batch, normalize_text, normalize_text_plain
from albertctl.vocab.spm_proto import (
    _INERT_CHARS,
    NORMAL,
    has_ascii_rule,
    has_space_rule,
    inert_chars,
    message_fields,
    piece_types,
    precompiled_charsmap,
    removes_extra_whitespaces,
)

CONFIGS = [
    NormalizationConfig(lower=lower, keep_accents=keep, remove_space=space, map_quotes=quotes)
    for lower, keep, space, quotes in itertools.product((True, False), repeat=4)
]

TRICKY = [
    "",
    " ",
    "   ",
    "Hello World",
    "  leading and trailing  ",
    "double  space and\ttab\nnewline\r\x0b\x0c and \x1c\x1d\x1e\x1f separators",
    "\u00a0nbsp\u2003em space\u3000ideographic\u2028line\u2029para\u0085nel",
    "Café RÉSUMÉ naïve Ångström façade",
    "e\u0301 a\u0300\u0301 combining marks, o\u0308\u0304 stacked",
    "acute ´ alone, diaeresis ¨ and macron ¯",
    "``quoted'' and `single' and '' and `` and ```",
    "1,000,000 and 12,5 and 3, and ,4 and 1 , 2 and [0,1] 2,3,",
    "１，０００ fullwidth, ① circled, ² superscript, ½ fraction, ٣ arabic-indic",
    "中文字符 and 日本語のかな and 한국어 Hangul",
    "emoji \U0001f600 astral \U0001d400 math, astral mark \U0001d167 and 𐐀 deseret",
    "Σ final sigma ΣΑΣ and İstanbul and ß and ﬁ ligature",
    "control \x00 \x01 \x07 \x7f \x85 \x9f chars",
    "zero\u200bwidth\u200cjoiner\u200d and bom\ufeff and ▁ block and \ufffd",
    "— em dash – en dash ’ “quotes” ‘single’ £5 €3 «guillemets» • · °",
    "digits — 1,000 — with dashes, “2,5” in quotes",
    "\u2014\u2019 only punctuation, no digits",
    "x" * 300 + "  " + "y" * 300,
]

ALPHABET = list(
    "aAbZ019 ,.'`\"-_()\t\n\r\x0b\x1c\x1f\x00\x01\x7f\x85\xa0\u2003\u3000"
    "éÉñÑüÜ´¨ßİΣσςΑ\u0301\u0308\u0327\u20d7ﬁ①²½١中한\u200b\ufeff▁\ufffd—–’‘“”£€«»•·°"
) + ["\U0001f600", "\U0001d400", "\U0001d167", "\U00010400", "\ud800"]


def _reference_preprocess(text: str, config: NormalizationConfig) -> str:
    """The reference preprocess_text written plainly (whitespace, quotes, accents, lower)."""
    if config.remove_space:
        text = " ".join(text.strip().split())
    if config.map_quotes:
        text = text.replace("``", '"').replace("''", '"')
    if not config.keep_accents:
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    return text.lower() if config.lower else text


def _as_text(value: bytes | str) -> str:
    return value if isinstance(value, str) else value.decode()


def _check_normalization(texts: list[str]) -> None:
    for config in CONFIGS:
        expected = [_reference_preprocess(t, config) for t in texts]
        assert [normalize_text_plain(t, config) for t in texts] == expected, config
        assert [normalize_text(t, config) for t in texts] == expected, config
        batch, flagged = normalize_batch(texts, config)
        assert [_as_text(v) for v in batch] == expected, config
        for index, text in enumerate(expected):  # what SentencePiece reads decides
            plain_ascii = all(0x20 <= ord(c) < 0x7F and not c.isdigit() for c in text)
            assert plain_ascii or index in flagged, (config, text)
        _, flagged = normalize_batch(texts, config, inert="\u2014\u2019")
        for index, text in enumerate(expected):
            plain = all((0x20 <= ord(c) < 0x7F or c in "\u2014\u2019") and not c.isdigit() for c in text)
            assert plain or index in flagged, (config, text)


def test_normalize_batch_matches_the_reference_on_tricky_text() -> None:
    _check_normalization(TRICKY)


@given(st.lists(st.text(alphabet=st.sampled_from(ALPHABET), max_size=30), max_size=8))
@settings(max_examples=300, deadline=None)
def test_normalize_batch_matches_the_reference(texts: list[str]) -> None:
    _check_normalization(texts)


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30), max_size=6))
@settings(max_examples=200, deadline=None)
def test_normalize_batch_matches_the_reference_on_any_unicode(texts: list[str]) -> None:
    _check_normalization(texts)


def _both_checks(texts: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled check and the Python loop give the same values (bytes or str) and flags, the
    first time (holes: the rules path) and once the compiled check has learnt their characters."""
    from albertctl import native
    from albertctl.vocab import normalize

    if normalize._compiled is None:
        pytest.skip("the normalizer's compiled check is not built (no C compiler at install)")
    for config, collapses, inert in itertools.product(CONFIGS, (False, True), ("", _INERT_CHARS)):
        monkeypatch.setattr(native, "PURE_PYTHON", True)
        python = normalize_batch(texts, config, spm_collapses_spaces=collapses, inert=inert)
        monkeypatch.setattr(native, "PURE_PYTHON", False)
        for _ in range(2):
            compiled = normalize_batch(texts, config, spm_collapses_spaces=collapses, inert=inert)
            assert compiled == python, (config, collapses, inert)
            assert [type(v) for v in compiled[0]] == [type(v) for v in python[0]]


def test_compiled_check_learns_the_characters_of_its_holes() -> None:
    """Accents and doubled quotes go the rules path once; then the compiled check maps them
    itself. A case only ``str.lower`` changes (final sigma) stays with the rules path."""
    from albertctl.vocab import normalize

    if normalize._compiled is None:
        pytest.skip("the normalizer's compiled check is not built (no C compiler at install)")
    config = NormalizationConfig()
    texts = ["Café ``naïve´´ façade", "ΣΑΣ stays", "1½ and ①"]
    first = normalize_batch(texts, config)
    rules = normalize._rules(config, False, "")
    args = (rules.changed_bitmap, True, rules.inert_bitmap, rules.strips, True, True, True, True)
    out, flagged, holes = normalize._compiled.check_batch(texts, *args)
    assert holes == [1] and flagged == [2]
    assert out[0] == b'cafe "naive   facade' and out[2] == "11\u20442 and 1".encode()
    assert normalize_batch(texts, config) == first


def test_compiled_check_matches_the_python_loop_on_tricky_text(monkeypatch: pytest.MonkeyPatch) -> None:
    _both_checks([*TRICKY, "bad \ud800 surrogate", "\U0001f600", "\u2014", "a\u2014 1"], monkeypatch)


@given(st.lists(st.text(alphabet=st.sampled_from([*ALPHABET, *_INERT_CHARS]), max_size=30), max_size=8))
@settings(max_examples=150, deadline=None)
def test_compiled_check_matches_the_python_loop(texts: list[str]) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        _both_checks(texts, monkeypatch)


def test_generated_unicode_ranges_are_this_pythons_scan() -> None:
    """``_unicode_ranges.py`` is what the BMP scan gives for the Unicode version it names
    (regenerate: ``python -c "from albertctl.vocab.normalize import unicode_ranges_source as s;
    open('albertctl/vocab/_unicode_ranges.py', 'w').write(s())"``)."""
    from albertctl.vocab import _unicode_ranges
    from albertctl.vocab.normalize import unicode_ranges_source

    if _unicode_ranges.UNIDATA_VERSION != unicodedata.unidata_version:
        pytest.skip(
            f"generated for Unicode {_unicode_ranges.UNIDATA_VERSION}, not {unicodedata.unidata_version}"
        )
    assert Path(_unicode_ranges.__file__).read_text(encoding="utf-8") == unicode_ranges_source()


def test_another_unicode_version_scans_the_bmp(monkeypatch: pytest.MonkeyPatch) -> None:
    from albertctl.vocab import _unicode_ranges, normalize

    monkeypatch.setattr(_unicode_ranges, "UNIDATA_VERSION", "0.0.0")
    normalize._bmp_sets.cache_clear()
    try:
        assert normalize._bmp_sets() == normalize.scan_bmp()
        assert normalize._bmp_sets()["lower"][0] == (ord("A"), ord("Z"))
    finally:
        normalize._bmp_sets.cache_clear()


def _plain_ids(tok: SentencePieceTokenizer, texts: list[str]) -> list[list[int]]:
    """encode_batch before the fast paths: plain normalization, digit-comma fix on every line."""
    normalized = [normalize_text_plain(t, tok.normalization) for t in texts]
    return [tok._fix_digit_comma(ids) for ids in tok._sp.Encode(normalized, out_type=int, num_threads=1)]


def _digit_comma_texts(tok: SentencePieceTokenizer) -> list[str]:
    pieces = [tok.id_to_piece(i) for i in sorted(tok._digit_comma_ids)]
    return [f"in {p.replace(chr(0x2581), ' ')}000 — “{p}5” cases" for p in pieces]


@pytest.mark.parametrize("config", CONFIGS[::3], ids=str)
def test_encode_batch_matches_the_plain_path(tiny_vocab: Path, config: NormalizationConfig) -> None:
    tok = SentencePieceTokenizer(tiny_vocab / "spiece.model", config)
    texts = TRICKY[:-1] + _digit_comma_texts(tok) + [t.upper() for t in TRICKY]
    assert tok.encode_batch(texts) == _plain_ids(tok, texts)
    assert [tok.encode(t) for t in texts] == _plain_ids(tok, texts)


@given(st.lists(st.text(alphabet=st.sampled_from(ALPHABET[:-1]), max_size=40), max_size=8))
@settings(max_examples=200, deadline=None)
def test_encode_batch_matches_the_plain_path_on_random_text(tiny_vocab: Path, texts: list[str]) -> None:
    tok = load_tokenizer(tiny_vocab)
    assert tok.encode_batch(texts) == _plain_ids(tok, texts)


def test_lone_surrogate_fails_as_before(tiny_vocab: Path) -> None:
    tok = load_tokenizer(tiny_vocab)
    normalized, flagged = normalize_batch(["ok", "bad \ud800"], tok.normalization)
    assert normalized[1] == normalize_text_plain("bad \ud800", tok.normalization) and flagged == [1]
    with pytest.raises(Exception) as ours:
        tok.encode_batch(["bad \ud800"])
    with pytest.raises(Exception) as plain:
        _plain_ids(tok, ["bad \ud800"])
    assert type(ours.value) is type(plain.value)


# --- SentencePiece's own normalizer ---------------------------------------------------------------


def _trie(charsmap: bytes) -> tuple[dict[int, list[tuple[int, int, bool]]], int]:
    """The darts-clone trie of a character map as edges ``base -> [(byte, child base, has_leaf)]``
    (a unit reached by byte c from the node of base b sits at b ^ c and has label c), and the
    root's base. Built in one pass over the units: a walk probing every byte of every node is
    far slower (the trie is a DAWG of ~200k rules)."""
    size = int.from_bytes(charsmap[:4], "little")
    units = array("I")
    units.frombytes(charsmap[4 : 4 + size])

    def offset(unit: int) -> int:
        return (unit >> 10) << ((unit & (1 << 9)) >> 6)

    edges: dict[int, list[tuple[int, int, bool]]] = {}
    for pos, unit in enumerate(units):
        label = unit & 0x800000FF
        if 0 < label < 256:
            edges.setdefault(pos ^ label, []).append((label, pos ^ offset(unit), bool((unit >> 8) & 1)))
    return edges, offset(units[0])


def _normalizer_facts(charsmap: bytes) -> tuple[bool, bool, set[str]]:
    """By a walk of every node reachable from the root: whether some rule's source is printable
    ASCII only, whether some source holds a space, and which characters of ``_INERT_CHARS``
    occur in some source."""
    edges, root = _trie(charsmap)
    reachable, stack = {root}, [root]
    while stack:
        for _, child, _ in edges.get(stack.pop(), []):
            if child not in reachable:
                reachable.add(child)
                stack.append(child)
    has_space = any(label == 0x20 for base in reachable for label, _, _ in edges.get(base, []))
    ascii_rule, stack, seen = False, [root], {root}
    while stack and not ascii_rule:
        for label, child, leaf in edges.get(stack.pop(), []):
            if 0x20 <= label < 0x7F:
                ascii_rule |= leaf
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
    by_byte = {base: {label: child for label, child, _ in edges.get(base, [])} for base in reachable}
    found: set[str] = set()
    for char in _INERT_CHARS:
        for base in reachable:
            node: int | None = base
            for byte in char.encode():
                node = by_byte.get(node, {}).get(byte) if node is not None else None
            if node is not None:
                found.add(char)
                break
    return ascii_rule, has_space, found


def _lookup(charsmap: bytes, source: str) -> bool:
    """Whether ``source`` is exactly a rule's source (the walker's own check)."""
    edges, node = _trie(charsmap)
    leaf = False
    for byte in source.encode():
        step = [(child, has_leaf) for label, child, has_leaf in edges.get(node, []) if label == byte]
        if not step:
            return False
        node, leaf = step[0]
    return leaf


def test_builtin_normalizer_facts(tiny_vocab: Path) -> None:
    model = (tiny_vocab / "spiece.model").read_bytes()
    charsmap = precompiled_charsmap(model)
    assert _lookup(charsmap, "\ufb01") and _lookup(charsmap, "\u2460") and _lookup(charsmap, "e\u0301")
    assert not _lookup(charsmap, "e") and not _lookup(charsmap, "\u2014")
    ascii_rule, space_rule, found = _normalizer_facts(charsmap)
    assert has_ascii_rule(charsmap) == ascii_rule is False
    assert has_space_rule(charsmap) == space_rule is False
    assert removes_extra_whitespaces(model)
    if not inert_chars(charsmap):
        pytest.skip("this sentencepiece's nmt_nfkc map is not among the checked ones (a slower path)")
    assert not found, f"characters in a rule's source: {sorted(found)}"
    tok = load_tokenizer(tiny_vocab)
    assert tok._normalizer_facts_of_model() == (True, True, _INERT_CHARS)


def _train(tmp_path: Path, rules_tsv: str, corpus: Path) -> Path:
    import sentencepiece as spm

    tsv = tmp_path / "rules.tsv"
    tsv.write_text(rules_tsv, encoding="utf-8")
    lines = [normalize_text(line, NormalizationConfig()) for line in corpus.read_text().splitlines()]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter([line for line in lines if line][:3000] + ["in 1,000 cases 2,5 and 12,"] * 50),
        model_writer=model,
        vocab_size=600,
        normalization_rule_tsv=str(tsv),
        pad_id=0,
        unk_id=1,
        bos_id=-1,
        eos_id=-1,
        control_symbols=["[CLS]", "[SEP]", "[MASK]"],
        minloglevel=2,
    )
    path = tmp_path / "spiece.model"
    path.write_bytes(model.getvalue())
    return path


@pytest.mark.parametrize(
    ("rules_tsv", "ascii_rule", "space_rule"),
    [
        ("61\t31\n", True, False),  # a -> 1: an ASCII rule that writes a digit
        ("78 2C\t31 2C\n", True, False),  # "x," -> "1,"
        ("2014\t31\n", False, False),  # an em dash -> 1
        ("20 20\t2C\n", True, True),  # two spaces -> a comma
        ("41 20\t61\n", True, True),  # "A " -> "a"
    ],
)
def test_custom_rules_turn_the_fast_paths_off(
    tiny_corpus: Path, tmp_path: Path, rules_tsv: str, ascii_rule: bool, space_rule: bool
) -> None:
    model_file = _train(tmp_path, rules_tsv, tiny_corpus)
    charsmap = precompiled_charsmap(model_file.read_bytes())
    assert _normalizer_facts(charsmap)[:2] == (ascii_rule, space_rule)
    assert has_ascii_rule(charsmap) is ascii_rule
    assert has_space_rule(charsmap) or not space_rule  # it may say True on the safe side
    assert inert_chars(charsmap) == ""
    tok = SentencePieceTokenizer(model_file)
    keeps_ascii, collapses, inert = tok._normalizer_facts_of_model()
    assert keeps_ascii is not ascii_rule and inert == ""
    assert not collapses or not space_rule
    texts = TRICKY[:-1] + ["ax, in a1,000 cases", "x, x,5 ax,3", "— 1 —,", "in  1,  2 a  ,", "A  b A ,3"]
    texts += _digit_comma_texts(tok)
    assert tok.encode_batch(texts) == _plain_ids(tok, texts)


# --- spm_proto --------------------------------------------------------------------------------------


def _piece_types_generic(model_bytes: bytes) -> list[int]:
    """The generic reading: every field of every piece message."""
    types = []
    for number, wire, value in message_fields(model_bytes):
        if number == 1 and wire == 2:
            kind = NORMAL
            for inner_number, inner_wire, inner in message_fields(value):
                if inner_number == 3 and inner_wire == 0:
                    kind = inner
            types.append(kind)
    return types


def test_piece_types_and_user_symbols(tiny_vocab: Path) -> None:
    model = (tiny_vocab / "spiece.model").read_bytes()
    tok = load_tokenizer(tiny_vocab)
    types = piece_types(model)
    assert types == _piece_types_generic(model)
    assert len(types) == tok.vocab_size
    sp = tok._sp
    for i, kind in enumerate(types):
        assert (kind == 2) == sp.IsUnknown(i) and (kind == 3) == sp.IsControl(i), i
        assert tok.is_user_symbol(i) == (kind == 4)
    assert any(tok.is_user_symbol(i) for i in range(tok.vocab_size))
