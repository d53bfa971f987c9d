"""Split a paragraph into sentences, for corpora with one paragraph per line (``--split-sentences``).

The default backend is ``sentencex`` (Wikimedia's maintained rule-based segmenter, ~300
languages, pure Python), chosen by ``benchmarks/sentence_split.py`` on the shared corpus (speed
and agreement with hand-checked boundaries; see docs/data-format.md). It is an optional
dependency (``pip install 'albertctl[sentences]'``). Whatever the backend, Chinese and Japanese
full stops (``。！？`` and their closing quotes) always end a sentence too, because rule-based
English splitters leave them alone. ``regex`` is a dependency-free baseline used for comparison.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from albertctl.errors import AlbertctlError

SentenceSplitter = Callable[[str], list[str]]
BACKENDS = ("sentencex", "pysbd", "blingfire", "regex")

# The baseline: ., ! or ? (plus closing quotes) followed by space and an upper-case letter or quote.
_REGEX_SPLIT = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))\s+(?=[\"'(\[]?[A-Z0-9])")


def split_cjk(text: str) -> list[str]:
    """Split after every ``。``, ``！`` or ``？`` (and the closing quotes that follow it)."""
    pieces: list[str] = []
    start = 0
    i = 0
    n = len(text)
    while i < n:
        if text[i] in "。！？":
            j = i + 1
            while j < n and text[j] in "”’」』）\"')":
                j += 1
            pieces.append(text[start:j])
            start = i = j
            continue
        i += 1
    pieces.append(text[start:])
    return [p.strip() for p in pieces if p.strip()]


def _backend(name: str, language: str) -> SentenceSplitter:
    if name == "regex":
        return lambda text: _REGEX_SPLIT.split(text)
    try:
        if name == "sentencex":
            from sentencex import segment

            return lambda text: list(segment(language, text))
        if name == "pysbd":
            import pysbd

            segmenter = pysbd.Segmenter(language=language, clean=False)
            return segmenter.segment
        if name == "blingfire":
            import blingfire

            return lambda text: blingfire.text_to_sentences(text).split("\n")
    except ImportError:
        raise AlbertctlError(
            f"--split-sentences needs the {name!r} package, which is not installed",
            hint="pip install 'albertctl[sentences]'",
        ) from None
    raise AlbertctlError(f"unknown sentence splitter {name!r}", hint=f"choose one of {', '.join(BACKENDS)}")


def make_sentence_splitter(backend: str = "sentencex", language: str = "en") -> SentenceSplitter:
    """A function from a paragraph to its non-empty, stripped sentences (CJK stops always split)."""
    split = _backend(backend, language)

    def split_sentences(text: str) -> list[str]:
        sentences: list[str] = []
        for sentence in split(text):
            sentences.extend(split_cjk(sentence))
        return sentences

    return split_sentences
