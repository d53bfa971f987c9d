"""A minimal reader for the SentencePiece model protobuf (no ``protobuf`` dependency).

Only what albertctl needs from ``spiece.model``: each piece's type (to find user symbols), the
trainer's model type, and the normalizer's precompiled character map (for ``tokenizer.json``, and
:func:`has_ascii_rule`, which the tokenizer's fast digit-comma check relies on). Field numbers
follow sentencepiece_model.proto: ModelProto{pieces=1, trainer_spec=2, normalizer_spec=3},
SentencePiece{piece=1, score=2, type=3}, TrainerSpec{model_type=3},
NormalizerSpec{precompiled_charsmap=2}.

The readers skip what they do not need without building per-field lists: a model holds one
top-level field per piece, and tokenizers are loaded by every data worker.
"""

from __future__ import annotations

import hashlib
import sys
from array import array
from typing import Any

# SentencePiece.Type values.
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def message_fields(data: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) of one protobuf message; bytes for length-delimited."""
    out: list[tuple[int, int, Any]] = []
    pos = 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(data, pos)
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 2:
            length, pos = read_varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        out.append((number, wire, value))
    return out


def _top_level_field(model_bytes: bytes, wanted: int) -> bytes | None:
    """The first length-delimited top-level field ``wanted`` of a ModelProto, skipping the rest
    (each piece is one top-level field, so this loop is what loading costs)."""
    data = model_bytes
    pos, end = 0, len(data)
    while pos < end:
        key = data[pos]
        if key < 0x80:
            pos += 1
        else:
            key, pos = read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 2:
            length = data[pos]
            if length < 0x80:
                pos += 1
            else:
                length, pos = read_varint(data, pos)
            if number == wanted:
                return data[pos : pos + length]
            pos += length
        elif wire == 0:
            _, pos = read_varint(data, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
    return None


def precompiled_charsmap(model_bytes: bytes) -> bytes:
    """``ModelProto.normalizer_spec.precompiled_charsmap`` (field 3, then field 2), or ``b""``."""
    spec = _top_level_field(model_bytes, 3)
    if spec is not None:
        for inner_number, inner_wire, inner in message_fields(spec):
            if inner_number == 2 and inner_wire == 2:
                return bytes(inner)
    return b""


def removes_extra_whitespaces(model_bytes: bytes) -> bool:
    """``ModelProto.normalizer_spec.remove_extra_whitespaces`` (field 3, then field 4; default true)."""
    spec = _top_level_field(model_bytes, 3)
    if spec is not None:
        for inner_number, inner_wire, inner in message_fields(spec):
            if inner_number == 4 and inner_wire == 0:
                return bool(inner)
    return True


def is_unigram(model_bytes: bytes) -> bool:
    """Whether ``TrainerSpec.model_type`` (field 2, then field 3) is UNIGRAM (1, the default)."""
    spec = _top_level_field(model_bytes, 2)
    if spec is not None:
        for inner_number, inner_wire, inner in message_fields(spec):
            if inner_number == 3 and inner_wire == 0:
                return inner == 1
    return True


def piece_types(model_bytes: bytes) -> list[int]:
    """The ``SentencePiece.Type`` of every piece, in id order (NORMAL when not set)."""
    types: list[int] = []
    data = model_bytes
    pos, end = 0, len(data)
    while pos < end:
        key, pos = read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire != 2:
            pos = _skip(data, pos, wire)
            continue
        length, pos = read_varint(data, pos)
        stop = pos + length
        if number == 1:
            types.append(_piece_type(data, pos, stop))
        pos = stop
    return types


def _skip(data: bytes, pos: int, wire: int) -> int:
    """The position after a field of wire type ``wire`` (not 2) whose value starts at ``pos``."""
    if wire == 0:
        return read_varint(data, pos)[1]
    if wire == 1:
        return pos + 8
    if wire == 5:
        return pos + 4
    raise ValueError(f"unsupported protobuf wire type {wire}")


def _piece_type(data: bytes, pos: int, stop: int) -> int:
    """``SentencePiece.type`` (field 3, the last one set wins) of the message in ``data[pos:stop]``."""
    kind = NORMAL
    while pos < stop:
        key, pos = read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 2:
            length, pos = read_varint(data, pos)
            pos += length
        elif number == 3 and wire == 0:
            kind, pos = read_varint(data, pos)
        else:
            pos = _skip(data, pos, wire)
    return kind


# Non-ASCII characters in no rule's source of these precompiled character maps (by sha256): the
# punctuation of most English text, which the tokenizer's fast digit-comma check may then let by.
# tests/test_encode_fast.py walks the whole trie of each map it can build to check it.
_INERT_CHARS = (
    "\u2014\u2013\u2019\u2018\u201c\u201d\u201e\u201a\u00a3\u20ac"
    "\u00a5\u00a2\u00ab\u00bb\u2039\u203a\u00b7\u2022\u00b0\u00a7"
    "\u00b6\u00d7\u00f7\u00a1\u00bf\u2020\u2021\u2032"
)
_CHARSMAPS_WITHOUT_INERT = {
    # SentencePiece 0.2's built-in nmt_nfkc
    "1e2c7b43d3ee9755ceaa2ac335e253d8703604e0249ee1e81156c92b46423844",
}


def inert_chars(charsmap: bytes) -> str:
    """Non-ASCII characters known to be in no rule's source of ``charsmap`` ("" when not known)."""
    if hashlib.sha256(charsmap).hexdigest() in _CHARSMAPS_WITHOUT_INERT:
        return _INERT_CHARS
    return ""


def _trie_units(charsmap: bytes) -> array[int]:
    """The darts-clone units (uint32) of a precompiled character map: the map is a little-endian
    uint32 trie size, the trie, then the rules' replacements."""
    size = int.from_bytes(charsmap[:4], "little") if len(charsmap) >= 4 else 0
    units = array("I")
    if units.itemsize != 4:  # pragma: no cover - every platform albertctl runs on has 4-byte "I"
        units = array("L")
    units.frombytes(charsmap[4 : 4 + size - size % units.itemsize])
    if sys.byteorder == "big":  # pragma: no cover
        units.byteswap()
    return units


def has_space_rule(charsmap: bytes) -> bool:
    """Whether some rule's source in a precompiled character map may hold a space (0x20).

    A darts-clone unit reached by byte c has label c (its low byte, bit 31 clear), so no such unit
    with label 0x20 proves no source holds one; a unit that only looks like one (unused) makes this
    answer True, the safe side.
    """
    size = int.from_bytes(charsmap[:4], "little") if len(charsmap) >= 4 else 0
    trie = charsmap[4 : 4 + size - size % 4]
    low, high = trie[0::4], trie[3::4]  # each little-endian unit's label byte, and its bit 31 byte
    pos = low.find(b" ")
    while pos >= 0:
        if not high[pos] & 0x80:
            return True
        pos = low.find(b" ", pos + 1)
    return False


def has_ascii_rule(charsmap: bytes) -> bool:
    """Whether some rule of a precompiled character map rewrites a string of printable ASCII only.

    The map is SentencePiece's (see :func:`_trie_units`): a darts-clone double-array trie of the
    rules' sources (UTF-8). Without such a rule (the built-in ``nmt_nfkc`` and ``nfkc`` have
    none) SentencePiece's normalizer leaves a printable ASCII text as it is but for spaces. The
    search walks only the trie's printable-ASCII edges: some hundred nodes, not the whole trie.
    An empty map has no rules.
    """
    units = _trie_units(charsmap)
    count = len(units)
    if not count:
        return False

    def offset(unit: int) -> int:
        return (unit >> 10) << ((unit & (1 << 9)) >> 6)

    stack = [offset(units[0])]  # darts-clone: a child of the node at p via byte c sits at p ^ offset ^ c
    while stack:
        base = stack.pop()
        for byte in range(0x20, 0x7F):
            pos = base ^ byte
            if pos >= count:
                continue
            unit = units[pos]
            if unit & 0x800000FF != byte:  # darts-clone label(): another node's unit
                continue
            if (unit >> 8) & 1:  # has_leaf(): a rule's source ends here
                return True
            stack.append(pos ^ offset(unit))
    return False
