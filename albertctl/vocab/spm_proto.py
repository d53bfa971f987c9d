"""A minimal reader for the SentencePiece model protobuf (no ``protobuf`` dependency).

Only what albertctl needs from ``spiece.model``: each piece's type (to find user symbols), the
trainer's model type, and the normalizer's precompiled character map (for ``tokenizer.json``).
Field numbers follow sentencepiece_model.proto: ModelProto{pieces=1, trainer_spec=2,
normalizer_spec=3}, SentencePiece{piece=1, score=2, type=3}, TrainerSpec{model_type=3},
NormalizerSpec{precompiled_charsmap=2}.
"""

from __future__ import annotations

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


def precompiled_charsmap(model_bytes: bytes) -> bytes:
    """``ModelProto.normalizer_spec.precompiled_charsmap`` (field 3, then field 2), or ``b""``."""
    for number, wire, value in message_fields(model_bytes):
        if number == 3 and wire == 2:
            for inner_number, inner_wire, inner in message_fields(value):
                if inner_number == 2 and inner_wire == 2:
                    return bytes(inner)
    return b""


def is_unigram(model_bytes: bytes) -> bool:
    """Whether ``TrainerSpec.model_type`` (field 2, then field 3) is UNIGRAM (1, the default)."""
    for number, wire, value in message_fields(model_bytes):
        if number == 2 and wire == 2:
            for inner_number, inner_wire, inner in message_fields(value):
                if inner_number == 3 and inner_wire == 0:
                    return inner == 1
    return True


def piece_types(model_bytes: bytes) -> list[int]:
    """The ``SentencePiece.Type`` of every piece, in id order (NORMAL when not set)."""
    types: list[int] = []
    for number, wire, value in message_fields(model_bytes):
        if number == 1 and wire == 2:
            kind = NORMAL
            for inner_number, inner_wire, inner in message_fields(value):
                if inner_number == 3 and inner_wire == 0:
                    kind = inner
            types.append(kind)
    return types
