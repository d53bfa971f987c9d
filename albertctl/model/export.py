"""``export hf``: turn a model folder (ours, or a run's newest checkpoint) into a transformers directory.

Reads ``config.json`` + ``model.safetensors`` (+ the vocabulary) and writes, atomically,
``config.json`` (docs/reference.md §4; ``architectures`` names the transformers class of the
checkpoint's head: pretraining, backbone, sequence classification, question answering or multiple
choice), ``model.safetensors`` with transformers key names, and, when
the checkpoint has a vocabulary, the tokenizer files (``spiece.model``, ``tokenizer.json``,
``tokenizer_config.json``, ``vocab_config.json``) so ``AlbertTokenizer.from_pretrained``
tokenizes exactly as we do; a WordPiece vocabulary writes ``vocab.txt`` and a
``tokenizer_config.json`` for ``BertTokenizer`` (albert_zh's). Nothing here imports transformers.
A brightmart-layout model (``embedding_layout``) is refused with one error and nothing written:
transformers' ALBERT has no ``word_embeddings_2``, and a silently different model would be worse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from albertctl.errors import AlbertctlError
from albertctl.fsutil import atomic_dir, locks_output, write_json, write_safetensors
from albertctl.model import hf
from albertctl.model.checkpoint import WEIGHTS_FILE, read_checkpoint, resolve_checkpoint
from albertctl.vocab import has_vocabulary, load_tokenizer


@dataclass(frozen=True)
class ExportReport:
    """What ``export_hf`` wrote."""

    source: Path
    """The checkpoint folder that was read (after resolving a run directory)."""
    out_dir: Path
    """The transformers directory written."""
    head: str
    """pretraining, classification, backbone, question_answering or multiple_choice."""
    architecture: str
    """The transformers class the directory is meant for."""
    num_tensors: int
    """Tensors in ``model.safetensors``."""
    num_parameters: int
    """Parameter count (the tied decoder counted once)."""
    tokenizer: bool
    """Whether the vocabulary (``spiece.model`` or ``vocab.txt``) was written."""


def _infer_head(meta: dict, state_keys: set[str]) -> str:
    """The checkpoint's head: the one its metadata names, else the one its weights imply."""
    if meta.get("head") in hf.HF_ARCHITECTURES:
        return str(meta["head"])
    if any(k.startswith("qa_outputs.") for k in state_keys):
        return "question_answering"
    if any(k.startswith("classifier.") for k in state_keys):
        return "classification"
    if any(k.startswith("mlm_head.") for k in state_keys):
        return "pretraining"
    return "backbone"


@locks_output("out_dir")
def export_hf(
    checkpoint: Path,
    out_dir: Path,
    *,
    overwrite: bool = False,
    label_names: Sequence[str] | None = None,
) -> ExportReport:
    """Write ``out_dir`` as a transformers ALBERT directory from ``checkpoint`` (see module docstring).

    A classifier's ``id2label`` is ``label_names`` (output order) when given, else the names a
    transformers-saved checkpoint brought, else ``LABEL_i``.
    """
    source = resolve_checkpoint(checkpoint)
    config, meta, state, _ = read_checkpoint(source)
    hf.check_hf_layout(config, where=str(source))  # before anything is written
    head = _infer_head(meta, set(state))
    if head == "backbone":
        # transformers' AlbertModel keys carry no "albert." prefix.
        state = {k.removeprefix("albert."): v for k, v in state.items() if k.startswith("albert.")}
    hf_state = {k: v.contiguous() for k, v in hf.to_hf_state_dict(state).items()}
    if head == "classification":
        hf_config = hf.to_hf_config(
            config,
            head=head,
            num_labels=meta.get("num_labels"),
            label_names=label_names if label_names is not None else meta.get("label_names"),
            problem_type=meta.get("problem_type"),
        )
    elif label_names is not None:
        raise AlbertctlError(
            f"{source} holds a {head} model; label names are for a sequence classifier",
            hint="leave out the label names",
        )
    else:
        hf_config = hf.to_hf_config(config, head=head, num_labels=None)
    tokenizer = has_vocabulary(source)
    with atomic_dir(Path(out_dir), overwrite=overwrite) as tmp:
        write_safetensors(tmp / WEIGHTS_FILE, hf_state, fmt="pt")
        if tokenizer:
            # spiece.model + tokenizer.json + tokenizer_config.json: transformers 5 then tokenizes
            # exactly as we do (a bare spiece.model differs at user symbols and digit-commas);
            # a WordPiece vocab.txt gets a tokenizer_config.json naming BertTokenizer.
            load_tokenizer(source).save(tmp)
        write_json(tmp / "config.json", hf_config)
    return ExportReport(
        source=source,
        out_dir=Path(out_dir),
        head=head,
        architecture=hf.HF_ARCHITECTURES[head],
        num_tensors=len(hf_state),
        num_parameters=sum(t.numel() for t in hf_state.values()),
        tokenizer=tokenizer,
    )
