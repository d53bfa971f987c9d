"""Text normalization applied before SentencePiece, identically at training and at encoding.

This is the reference ``preprocess_text`` (google-research/albert ``tokenization.py``, and the
slow transformers ``AlbertTokenizer``): collapse runs of whitespace to one space and strip the
ends, map the LaTeX-style quotes ``\\`\\``` and ``''`` to ``"`` (transformers does this; TF ALBERT does
not, so it is a setting), NFKD then drop combining marks (accent stripping), and lower-case.
SentencePiece then applies its own ``nmt_nfkc`` rules inside the model.

The digit-comma fix (a piece ending in digit + ``,`` is re-encoded with the comma split off) acts
on pieces after SentencePiece and lives in :mod:`albertctl.vocab.tokenizer`.

Speed (``encode_batch`` and ``build-vocab`` run this on every line): most lines need no rule
but lower-casing. :func:`normalize_batch` proves that with C-speed passes over the line's UTF-8:
one ``bytes.translate`` leaves its digits, controls and non-ASCII characters, searched for any
character some rule changes (a precompiled class); ``memchr``-first searches for doubled quotes
and spaces; then it lower-cases the bytes. Where the optional C extension was built
(``albertctl.vocab._normalize``, see :mod:`albertctl.native`) the same check runs over the whole
batch in one call. Other lines run only the rules that apply (bytes where it can). The sets of
characters the rules change come from ``_unicode_ranges.py`` (generated for one Unicode version;
other versions scan the BMP at start-up). :func:`normalize_text_plain` is the rules one by one;
tests/test_encode_fast.py checks that both give the same text for every input and setting.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import albertctl.vocab._unicode_ranges as _unicode_ranges
from albertctl.errors import AlbertctlError
from albertctl.native import compiled_allowed

try:  # built by setup.py when a C compiler is at hand (albertctl.native)
    import albertctl.vocab._normalize as _compiled
except ImportError:  # pragma: no cover - depends on the install
    _compiled = None


@dataclass(frozen=True, kw_only=True)
class NormalizationConfig:
    """How text is normalized before SentencePiece; saved in ``vocab_config.json``."""

    lower: bool = True
    """Lower-case the text (True for every released English ALBERT)."""
    keep_accents: bool = False
    """Keep accents; when False, NFKD-decompose and drop combining marks."""
    remove_space: bool = True
    """Collapse every run of whitespace to one space and strip both ends."""
    map_quotes: bool = True
    """Map ``\\`\\``` and ``''`` to ``"`` as transformers does (TF ALBERT does not)."""
    digit_comma_fix: bool = True
    """Split the comma off pieces that end in digit + ``,`` (reference ``encode_pieces``)."""

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, bool):
                raise AlbertctlError(f"normalization.{name} must be true or false, got {value!r}")

    def to_dict(self) -> dict[str, bool]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NormalizationConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise AlbertctlError(
                f"unknown normalization settings {unknown} in vocab_config.json",
                hint=f"known settings: {sorted(known)}; the vocabulary was written by a newer albertctl?",
            )
        return cls(**data)


def _char_class(ranges: Iterable[tuple[int, int]]) -> str:
    """A regex character class of code-point ranges (sre matches ranges fast)."""
    parts = (re.escape(chr(lo)) + ("-" + re.escape(chr(hi)) if hi > lo else "") for lo, hi in ranges)
    return "[" + "".join(parts) + "]"


_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


@functools.cache
def _bmp_marks() -> re.Pattern[str]:
    """Combining marks in the BMP (``unicodedata.combining(c) != 0``, the reference's test), as a
    regex of ranges (:func:`_bmp_sets`)."""
    return re.compile(_char_class(_bmp_sets()["combining"]))


@functools.cache
def _all_marks() -> dict[int, None]:
    """A ``str.translate`` table deleting every combining mark, astral ones included (~0.2 s to
    build: a scan of all of Unicode, so only done when astral text is met)."""
    return dict.fromkeys(c for c in range(sys.maxunicode + 1) if unicodedata.combining(chr(c)))


def _collapse_spaces(text: str) -> str:
    # Most lines already have single spaces only: C-speed checks instead of split + join. Every
    # whitespace character but " " is non-printable (Cc, Zs, Zl, Zp), so a printable text holds
    # none; a non-printable one (rare) takes split + join, which leaves it unchanged if it has none.
    if "  " in text or text[:1] == " " or text[-1:] == " " or not text.isprintable():
        return " ".join(text.split())
    return text


def _strip_accents(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    if _ASTRAL.search(text):
        return text.translate(_all_marks())  # rare: astral text may hold astral combining marks
    return _bmp_marks().sub("", text)


def normalize_text_plain(text: str, config: NormalizationConfig) -> str:
    """The reference pre-SentencePiece normalization of one string, rule by rule."""
    if config.remove_space:
        text = _collapse_spaces(text)
    if config.map_quotes:
        text = text.replace("``", '"').replace("''", '"')
    # ASCII text has nothing to decompose; skipping NFKD there keeps encoding near raw spm speed.
    if not config.keep_accents and not text.isascii():
        text = _strip_accents(text)
    if config.lower:
        text = text.lower()
    return text


def normalize_text(text: str, config: NormalizationConfig) -> str:
    """Apply the reference pre-SentencePiece normalization to one string."""
    (data,), _ = normalize_batch([text], config)
    return data if isinstance(data, str) else data.decode()


# Printable ASCII but digits: deleting these bytes from a line's UTF-8 leaves what the fast check
# looks at (digits may form a digit-comma piece; controls and non-ASCII characters may need a rule).
_PLAIN_ASCII = bytes(sorted(set(range(0x20, 0x7F)) - set(b"0123456789")))
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))


@dataclass(frozen=True)
class _Rules:
    """What :func:`normalize_batch` needs for one configuration (built once per process)."""

    changed: tuple[tuple[int, int], ...]
    """BMP characters some rule changes on their own, as ranges (a text holding one takes the
    rules path)."""
    changed_bitmap: bytes
    """The same as a bitmap (bit ``c & 7`` of byte ``c >> 3``), for the compiled check."""
    quotes: bool
    """Check for doubled quotes (``map_quotes``)."""
    spaces: bool
    """Check for doubled and end spaces (``remove_space``, unless SentencePiece does it)."""
    inert_bitmap: bytes | None
    """The caller's inert characters as a bitmap (None: some is astral; the compiled check then
    steps aside)."""
    strips: dict[int, tuple[bytes, int] | None] = field(default_factory=dict, compare=False)
    """For the compiled check, learnt from the texts it leaves to the rules path: each changed
    BMP character met there, mapped to what accent stripping makes of it (UTF-8) and flags
    (``_DIGIT``, ``_OTHER``: it holds a digit or control, a non-ASCII character not inert), or to
    None where the compiled check cannot take it (a space to collapse, a case only ``str.lower``
    changes). Filled as texts come, so only the characters a corpus holds are computed."""


def scan_bmp() -> dict[str, list[tuple[int, int]]]:
    """The four sets of BMP characters the rules change on their own, as code-point ranges:
    ``space`` (whitespace but " ", which ``remove_space`` collapses), ``combining`` (marks) and
    ``nfkd`` (characters NFKD changes) for accent stripping, ``lower`` (characters ``str.lower``
    changes). A scan of the BMP with this Python's ``unicodedata`` (~30 ms);
    ``albertctl/vocab/_unicode_ranges.py`` holds its result for one Unicode version."""
    bmp = [chr(c) for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF]
    decomposed = map(unicodedata.normalize, ["NFKD"] * len(bmp), bmp)
    sets = {
        "space": [c for c in bmp if c.isspace() and c != " "],
        "combining": [c for c in bmp if unicodedata.combining(c)],
        "nfkd": [c for c, d in zip(bmp, decomposed, strict=True) if c != d],
        "lower": [c for c in bmp if c.lower() != c],
    }
    return {name: _merged((ord(c), ord(c)) for c in chars) for name, chars in sets.items()}


def _merged(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Inclusive ``(first, last)`` code-point ranges, sorted, with overlapping and adjacent ones joined."""
    runs: list[list[int]] = []
    for first, last in sorted(ranges):
        if runs and runs[-1][1] >= first - 1:
            runs[-1][1] = max(runs[-1][1], last)
        else:
            runs.append([first, last])
    return [(first, last) for first, last in runs]


def unicode_ranges_source() -> str:
    """The text of ``albertctl/vocab/_unicode_ranges.py``: :func:`scan_bmp` for this Python's
    Unicode version (tests/test_encode_fast.py checks the file is this)."""
    lines = [
        '"""Generated by albertctl.vocab.normalize.unicode_ranges_source(); do not edit.',
        "",
        "The BMP code-point ranges of normalize.scan_bmp() for one Unicode version: read at start-up",
        "instead of scanning the BMP (~30 ms per process) when the running Python has that version.",
        '"""',
        "",
        f'UNIDATA_VERSION = "{unicodedata.unidata_version}"',
        "RANGES = {",
    ]
    for name, ranges in scan_bmp().items():
        lines.append(f'    "{name}": (')
        lines.extend(f"        {tuple(r)!r}," for r in ranges)
        lines.append("    ),")
    return "\n".join([*lines, "}", ""])


@functools.cache
def _bmp_sets() -> dict[str, list[tuple[int, int]]]:
    """:func:`scan_bmp`, read from the generated ranges when they are for this Python's Unicode."""
    if _unicode_ranges.UNIDATA_VERSION == unicodedata.unidata_version:
        return {name: list(ranges) for name, ranges in _unicode_ranges.RANGES.items()}
    return scan_bmp()


def _changed_ranges(config: NormalizationConfig) -> tuple[tuple[int, int], ...]:
    """The BMP characters a rule changes on their own under ``config``: whitespace but " "
    (collapsed), combining marks and characters NFKD changes (accent stripping), characters
    ``str.lower`` changes (as the fast path lower-cases bytes, ASCII only). Astral characters all
    count as changed where any does (rare; the plain path is exact for them). A text of other
    characters only is left unchanged by every rule but the doubled-character and end-space ones,
    which :func:`normalize_batch` checks on its own."""
    sets = _bmp_sets()
    names = [
        *(["space"] if config.remove_space else []),
        *(["combining", "nfkd"] if not config.keep_accents else []),
        *(["lower"] if config.lower else []),
    ]
    return tuple(_merged(run for name in names for run in sets[name]))


def _bitmap(ranges: Iterable[tuple[int, int]]) -> bytes:
    """A bitmap of BMP code-point ranges: bit ``c & 7`` of byte ``c >> 3`` set for each ``c``."""
    bits = 0
    for first, last in ranges:
        bits |= ((1 << (last - first + 1)) - 1) << first
    return bits.to_bytes(0x10000 // 8, "little")


@functools.lru_cache(maxsize=64)
def _rules(config: NormalizationConfig, spm_collapses_spaces: bool, inert: str = "") -> _Rules:
    changed = _changed_ranges(config)
    spaces = config.remove_space and not spm_collapses_spaces
    inert_bitmap = None if any(ord(c) > 0xFFFF for c in inert) else _bitmap((ord(c), ord(c)) for c in inert)
    return _Rules(changed, _bitmap(changed), config.map_quotes, spaces, inert_bitmap)


@functools.cache
def _changed_pattern(ranges: tuple[tuple[int, int], ...]) -> re.Pattern[str] | None:
    """``ranges`` and every astral character as one regex class (None: no character changes)."""
    return re.compile(_char_class([*ranges, (0x10000, 0x10FFFF)])) if ranges else None


def _stripped(char: str) -> str:
    """One character's NFKD without combining marks."""
    return "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))


@dataclass(frozen=True)
class _Plan:
    """What the rules do to a text holding these non-ASCII and control characters."""

    has_space: bool
    """Some of them is whitespace (so ``remove_space`` splits and joins)."""
    strips: tuple[tuple[bytes, bytes], ...]
    """UTF-8 of each character accent stripping changes, and of what it becomes."""
    str_lower: bool
    """After stripping some non-ASCII character changes case (``str.lower`` then)."""


_FEW_CHARS = 8  # past this many distinct characters to strip, one NFKD of the text is cheaper


@functools.lru_cache(maxsize=1 << 14)
def _plan(chars: frozenset[str], keep_accents: bool) -> _Plan:
    strips: list[tuple[bytes, bytes]] = []
    kept = set(chars)
    if not keep_accents:
        for char in chars:
            stripped = _stripped(char)
            if stripped != char:
                strips.append((char.encode(), stripped.encode()))
                kept.discard(char)
                kept.update(c for c in stripped if not c.isascii())
    return _Plan(any(c.isspace() for c in chars), tuple(strips), any(c.lower() != c for c in kept))


def _normalize_rules_utf8(text: str, data: bytes, config: NormalizationConfig) -> bytes | str:
    """:func:`normalize_text_plain` of a text (``data`` its UTF-8) the fast check sent here, as
    UTF-8 where it can; each rule runs only where a C-speed check says it changes something.

    Accent stripping is a map of single characters: NFKD decomposes each character on its own and
    only reorders combining marks, which are all dropped. So each character it changes is
    replaced in the bytes (UTF-8 is self-synchronizing: ``bytes.replace`` of one character's
    encoding replaces exactly that character); the result holds only characters it keeps.
    Lower-casing works on the bytes unless a non-ASCII character changes case (``str.lower``
    then, for its context rules such as the final sigma).
    """
    plan = _plan(frozenset(data.translate(None, _PRINTABLE_ASCII).decode()), config.keep_accents)
    edited = False
    # Whitespace but " " is a control or non-ASCII character: one of the plan's.
    if config.remove_space and (b"  " in data or data[:1] == b" " or data[-1:] == b" " or plan.has_space):
        text, edited = " ".join(text.split()), True
    if config.map_quotes and ((b"`" in data and b"``" in data) or (b"'" in data and b"''" in data)):
        text, edited = text.replace("``", '"').replace("''", '"'), True
    if edited:
        data = text.encode()
        plan = _plan(frozenset(data.translate(None, _PRINTABLE_ASCII).decode()), config.keep_accents)
    if len(plan.strips) > _FEW_CHARS:
        text = unicodedata.normalize("NFKD", data.decode())
        data = "".join(c for c in text if not unicodedata.combining(c)).encode()
    else:
        for char, stripped in plan.strips:
            data = data.replace(char, stripped)
    if config.lower and plan.str_lower:
        return data.decode().lower()
    return data.lower() if config.lower else data


def normalize_batch(
    texts: Sequence[str], config: NormalizationConfig, *, spm_collapses_spaces: bool = False, inert: str = ""
) -> tuple[list[bytes | str], list[int]]:
    """What SentencePiece is given for each text, and the indices of the texts that are not
    printable ASCII without digits (non-ASCII characters in ``inert`` count as ASCII here).

    Each is ``normalize_text(text)``: the lower-cased UTF-8 of the text where a fast check proves
    lower-casing the only rule that applies, else :func:`_normalize_rules_utf8` (bytes, or text
    where it cannot use bytes). With ``spm_collapses_spaces`` (the caller proved SentencePiece's
    normalizer collapses runs of spaces as ``remove_space`` does: see
    ``SentencePieceTokenizer._normalizer_facts_of_model``) runs of spaces are left in: SentencePiece
    then reads the same string as from the collapsed text.

    A text outside the returned indices is given to SentencePiece as printable ASCII and
    characters of ``inert`` only, without digits: it has no piece ending in digit + ``,`` when
    SentencePiece's normalizer leaves those as they are.
    """
    return _normalize_with(texts, config, _rules(config, spm_collapses_spaces, inert), inert)


def batch_normalizer(
    config: NormalizationConfig, *, spm_collapses_spaces: bool = False, inert: str = ""
) -> Callable[[Sequence[str]], tuple[list[bytes | str], list[int]]]:
    """:func:`normalize_batch` with its settings bound once (a tokenizer calls it per text)."""
    rules = _rules(config, spm_collapses_spaces, inert)

    def normalize(texts: Sequence[str]) -> tuple[list[bytes | str], list[int]]:
        return _normalize_with(texts, config, rules, inert)

    return normalize


def _normalize_with(
    texts: Sequence[str], config: NormalizationConfig, rules: _Rules, inert: str
) -> tuple[list[bytes | str], list[int]]:
    quotes, spaces, lower = rules.quotes, rules.spaces, config.lower
    if _compiled is not None and rules.inert_bitmap is not None and compiled_allowed():
        # The loop below's output, in C: its check, plus LaTeX quotes and the accent strips learnt
        # so far (same bytes and flags; tests/test_encode_fast.py); the rest go the rules path.
        texts = texts if isinstance(texts, list) else list(texts)
        out, flagged, holes = _compiled.check_batch(
            texts,
            rules.changed_bitmap,
            bool(rules.changed),
            rules.inert_bitmap,
            rules.strips,
            lower,
            quotes,
            spaces,
            config.remove_space,
        )
        for index in holes:
            out[index], flag = _rules_path(texts[index], None, config, inert)
            if flag:
                flagged.append(index)
            _learn_strips(rules, config, inert, texts[index])
        if holes:
            flagged.sort()
        return out, flagged
    changed = _changed_pattern(rules.changed)
    plain_ascii = _PLAIN_ASCII
    out = []
    flagged = []
    for index, text in enumerate(texts):
        try:
            data = text.encode()
        except UnicodeEncodeError:  # a lone surrogate: only the plain path takes it
            data = None
        if data is not None:
            rest = data.translate(None, plain_ascii)  # digits, controls and non-ASCII characters
            others = rest.decode() if rest and not rest.isdigit() else ""
            if not (
                (others and changed is not None and changed.search(others))  # a rule changes one
                or (quotes and ((b"`" in data and b"``" in data) or (b"'" in data and b"''" in data)))
                or (spaces and (b"  " in data or data[:1] == b" " or data[-1:] == b" "))
            ):
                out.append(data.lower() if lower else data)
                if _reads_other(rest, others, inert):
                    flagged.append(index)
                continue
        value, flag = _rules_path(text, data, config, inert)
        out.append(value)
        if flag:
            flagged.append(index)
    return out, flagged


_DIGIT, _OTHER = 1, 2  # the flags of a strip entry (albertctl/vocab/_normalize.c)


def _learn_strips(rules: _Rules, config: NormalizationConfig, inert: str, text: str) -> None:
    """Add to ``rules.strips`` the changed BMP characters of ``text`` it does not know yet.

    A character gets an entry where, once spaces need no collapsing, the rules change it as a
    map of single characters: accent stripping (NFKD, combining marks dropped) of a character
    that is no whitespace to collapse, into characters whose case only ASCII lower-casing
    changes. Every other changed character maps to None: a text holding it stays a hole.
    """
    changed, strips = rules.changed_bitmap, rules.strips
    for char in set(text):
        code = ord(char)
        if code < 0x80 or code > 0xFFFF or 0xD800 <= code <= 0xDFFF or code in strips:
            continue
        if not (changed[code >> 3] >> (code & 7)) & 1:
            continue
        stripped = _stripped(char)
        if (
            config.keep_accents
            or stripped == char
            or (config.remove_space and char.isspace())
            or (config.lower and any(not c.isascii() and c.lower() != c for c in stripped))
        ):
            strips[code] = None
            continue
        flags = (
            _DIGIT
            if any(c.isdigit() and c.isascii() or ord(c) < 0x20 or c == "\x7f" for c in stripped)
            else 0
        )
        if any(not c.isascii() and c not in inert for c in stripped):
            flags |= _OTHER
        strips[code] = (stripped.encode(), flags)


def _reads_other(rest: bytes, others: str, inert: str) -> bool:
    """Whether SentencePiece reads more than printable ASCII and ``inert`` characters without
    digits (``rest``: the UTF-8 left when those ASCII characters are deleted; ``others``: it decoded
    unless it is all digits)."""
    return bool(rest) and (not others or not inert or bool(others.strip(inert)))


def _rules_path(
    text: str, data: bytes | None, config: NormalizationConfig, inert: str
) -> tuple[bytes | str, bool]:
    """A text the fast check did not prove (``data``: its UTF-8, None if unknown or a lone
    surrogate makes it impossible): what SentencePiece is given, and whether it is flagged."""
    if data is None:
        try:
            data = text.encode()
        except UnicodeEncodeError:  # a lone surrogate: only the plain path takes it
            return normalize_text_plain(text, config), True
    value = _normalize_rules_utf8(text, data, config)
    if isinstance(value, str):
        return value, True
    rest = value.translate(None, _PLAIN_ASCII)
    return value, _reads_other(rest, rest.decode() if rest and not rest.isdigit() else "", inert)
