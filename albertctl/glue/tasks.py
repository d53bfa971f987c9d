"""The task registry: files, columns, label sets, metrics and presets, per task in one place.

The nine GLUE tasks (and AX), plus CLUE's seven classification tasks (TNEWS, IFLYTEK, AFQMC,
OCNLI, CMNLI, CSL, CLUEWSC2020: JSON lines, ``albertctl finetune clue``). Column indices are
0-based and follow the reference processors (docs/reference.md §7): the classic GLUE TSV files
are split on tabs with no quote handling. ``-1`` means "the last column" (MNLI, STS-B, QNLI, RTE
and WNLI carry a variable number of annotation columns before the label). The Hugging Face layout
names splits and columns differently; the ``hf_*`` fields map them. A new sentence(-pair)
classification or regression task is one more ``TaskSpec`` here; nothing else changes. Nothing
here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from albertctl.errors import AlbertctlError

LAST = -1


@dataclass(frozen=True, kw_only=True)
class Preset:
    """Fine-tuning hyperparameters for one task (docs/reference.md §7, paper Table 14)."""

    lr: float
    """Peak AdamW learning rate."""
    batch_size: int
    """Sequences per optimizer step."""
    dropout: float
    """ALBERT hidden and attention dropout (the classifier keeps 0.1)."""
    max_steps: int
    """Optimizer steps of the reference run."""
    warmup_steps: int
    """Linear warm-up steps of the reference run."""


@dataclass(frozen=True, kw_only=True)
class TsvColumns:
    """Where the fields of one TSV file kind are (0-based; ``LAST`` = the last column)."""

    text_a: int
    """Column of the first sentence."""
    text_b: int | None
    """Column of the second sentence, or None for single-sentence tasks."""
    label: int | None = None
    """Column of the label (train/dev), None for unlabeled test files."""
    guid: int | None = None
    """Column of the example id (test files), None to use the line number."""
    num_columns: int | None = None
    """Exact column count of every row, or None when it varies (then at least ``min_columns``)."""
    min_columns: int = 1
    """Minimum column count when ``num_columns`` is None."""
    header: bool = True
    """Whether the first line is a header row."""


@dataclass(frozen=True, kw_only=True)
class JsonFields:
    """Keys of one JSON-lines task (CLUE's ``train.json``/``dev.json``: one object per line)."""

    text_a: str
    """Key of the first text."""
    text_b: str | None = None
    """Key of the second text, or None for single-text tasks."""
    label: str = "label"
    """Key of the label (CLUE writes it as a string, ``"108"``)."""
    id_keys: tuple[str, ...] = ("id", "idx")
    """Keys tried in order for the example id (test files carry ``id``); else the row number."""
    train_stems: tuple[str, ...] = ("train",)
    """Train file stems tried in order (OCNLI ships ``train.50k.json`` and ``train.3k.json``)."""
    skip_labels: tuple[str, ...] = ()
    """Labels of rows left out of train and dev, as CLUE's baselines do (NLI's ``"-"``: the
    annotators found no majority)."""
    list_separator: str = " "
    """A text value that is a list of strings is joined with this (CSL's keywords, as CLUE's
    baseline joins them)."""
    wsc_target: str | None = None
    """Key of CLUEWSC2020's ``target`` object: its two spans are marked inside ``text_a``
    (:func:`albertctl.glue.readers.mark_wsc_spans`)."""
    labels_file: str | None = None
    """The label list CLUE ships beside the splits (``labels.json``); checked against ``labels``."""


@dataclass(frozen=True, kw_only=True)
class TaskSpec:
    """Everything albertctl knows about one task."""

    name: str
    """Our lower-case name, used on the command line (``sst2``)."""
    dir_name: str
    """Folder in the classic layout (``SST-2``); also the submission file stem."""
    hf_name: str
    """Folder (config name) in the Hugging Face layout."""
    labels: tuple[str, ...] | None
    """Label strings in id order as the TSV files spell them; None for regression (STS-B)."""
    metrics: tuple[str, ...]
    """Official dev metrics, reported in this order."""
    selection_metric: str
    """The metric that picks the best checkpoint (the reference: MCC, Pearson, else accuracy)."""
    train_dev: TsvColumns | None = None
    """Columns of train.tsv and the dev files (None: the task has no TSV layout)."""
    test: TsvColumns | None = None
    """Columns of the test files."""
    json_fields: JsonFields | None = None
    """Keys of the JSON-lines layout (``train.json``, ``dev.json``), for CLUE tasks."""
    benchmark: str = "GLUE"
    """Which benchmark the task belongs to (``--task all`` and the summary average are GLUE's)."""
    dev_splits: tuple[str, ...] = ("dev",)
    """Dev file stems (``dev.tsv``); MNLI has matched and mismatched."""
    test_splits: tuple[tuple[str, str], ...] = ()
    """(test file stem, submission file stem) pairs."""
    hf_columns: tuple[str, str | None] = ("sentence1", "sentence2")
    """Text columns in the Hugging Face layout."""
    hf_label_names: tuple[str, ...] | None = None
    """Hugging Face ClassLabel names in id order, when they differ from ``labels``."""
    preset: Preset | None = None
    """The reference hyperparameters (None for AX, which is never trained)."""
    skip_short_rows: bool = False
    """QQP: the reference silently skips rows with too few columns."""

    @property
    def num_labels(self) -> int:
        """Size of the classifier output (1 for regression)."""
        return 1 if self.labels is None else len(self.labels)

    @property
    def is_regression(self) -> bool:
        """True for STS-B (a float score, MSE loss)."""
        return self.labels is None

    def label_id(self, text: str) -> int:
        """Label string -> id; ValueError when it is outside the task's set."""
        assert self.labels is not None
        return self.labels.index(text)


_BINARY = ("0", "1")
_NLI2 = ("entailment", "not_entailment")
_MNLI = ("contradiction", "entailment", "neutral")

TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            name="cola",
            dir_name="CoLA",
            hf_name="cola",
            labels=_BINARY,
            metrics=("mcc",),
            selection_metric="mcc",
            # source, label, original mark, sentence; train and dev have no header.
            train_dev=TsvColumns(text_a=3, text_b=None, label=1, num_columns=4, header=False),
            test=TsvColumns(guid=0, text_a=1, text_b=None, num_columns=2),
            test_splits=(("test", "CoLA"),),
            hf_columns=("sentence", None),
            preset=Preset(lr=1e-5, batch_size=16, dropout=0.0, max_steps=5336, warmup_steps=320),
        ),
        TaskSpec(
            name="sst2",
            dir_name="SST-2",
            hf_name="sst2",
            labels=_BINARY,
            metrics=("accuracy",),
            selection_metric="accuracy",
            train_dev=TsvColumns(text_a=0, text_b=None, label=1, num_columns=2),
            test=TsvColumns(guid=0, text_a=1, text_b=None, num_columns=2),
            test_splits=(("test", "SST-2"),),
            hf_columns=("sentence", None),
            preset=Preset(lr=1e-5, batch_size=32, dropout=0.0, max_steps=20935, warmup_steps=1256),
        ),
        TaskSpec(
            name="mrpc",
            dir_name="MRPC",
            hf_name="mrpc",
            labels=_BINARY,
            metrics=("f1", "accuracy"),
            selection_metric="accuracy",
            # Quality, #1 ID, #2 ID, #1 String, #2 String (files start with a UTF-8 BOM).
            train_dev=TsvColumns(text_a=3, text_b=4, label=0, num_columns=5),
            test=TsvColumns(guid=0, text_a=3, text_b=4, num_columns=5),
            test_splits=(("test", "MRPC"),),
            preset=Preset(lr=2e-5, batch_size=32, dropout=0.0, max_steps=800, warmup_steps=200),
        ),
        TaskSpec(
            name="stsb",
            dir_name="STS-B",
            hf_name="stsb",
            labels=None,
            metrics=("pearson", "spearman"),
            selection_metric="pearson",
            # index genre filename year old_index source1 source2 sentence1 sentence2 score
            train_dev=TsvColumns(text_a=7, text_b=8, label=LAST, num_columns=10),
            test=TsvColumns(guid=0, text_a=7, text_b=8, num_columns=9),
            test_splits=(("test", "STS-B"),),
            preset=Preset(lr=2e-5, batch_size=16, dropout=0.0, max_steps=3598, warmup_steps=214),
        ),
        TaskSpec(
            name="qqp",
            dir_name="QQP",
            hf_name="qqp",
            labels=_BINARY,
            metrics=("accuracy", "f1"),
            selection_metric="accuracy",
            # id qid1 qid2 question1 question2 is_duplicate; a few train rows are short.
            train_dev=TsvColumns(text_a=3, text_b=4, label=5, num_columns=6),
            test=TsvColumns(guid=0, text_a=1, text_b=2, num_columns=3),
            test_splits=(("test", "QQP"),),
            hf_columns=("question1", "question2"),
            preset=Preset(lr=5e-5, batch_size=128, dropout=0.1, max_steps=14000, warmup_steps=1000),
            skip_short_rows=True,
        ),
        TaskSpec(
            name="mnli",
            dir_name="MNLI",
            hf_name="mnli",
            labels=_MNLI,
            metrics=("accuracy", "accuracy_mm"),
            selection_metric="accuracy",
            # train has 12 columns, dev 16 (five annotator labels); gold_label is always last.
            train_dev=TsvColumns(text_a=8, text_b=9, label=LAST, min_columns=11),
            test=TsvColumns(guid=0, text_a=8, text_b=9, num_columns=10),
            dev_splits=("dev_matched", "dev_mismatched"),
            test_splits=(("test_matched", "MNLI-m"), ("test_mismatched", "MNLI-mm")),
            hf_columns=("premise", "hypothesis"),
            hf_label_names=("entailment", "neutral", "contradiction"),
            preset=Preset(lr=3e-5, batch_size=128, dropout=0.0, max_steps=10000, warmup_steps=1000),
        ),
        TaskSpec(
            name="qnli",
            dir_name="QNLI",
            hf_name="qnli",
            labels=_NLI2,
            metrics=("accuracy",),
            selection_metric="accuracy",
            train_dev=TsvColumns(text_a=1, text_b=2, label=LAST, num_columns=4),
            test=TsvColumns(guid=0, text_a=1, text_b=2, num_columns=3),
            test_splits=(("test", "QNLI"),),
            hf_columns=("question", "sentence"),
            preset=Preset(lr=1e-5, batch_size=32, dropout=0.0, max_steps=33112, warmup_steps=1986),
        ),
        TaskSpec(
            name="rte",
            dir_name="RTE",
            hf_name="rte",
            labels=_NLI2,
            metrics=("accuracy",),
            selection_metric="accuracy",
            train_dev=TsvColumns(text_a=1, text_b=2, label=LAST, num_columns=4),
            test=TsvColumns(guid=0, text_a=1, text_b=2, num_columns=3),
            test_splits=(("test", "RTE"),),
            preset=Preset(lr=3e-5, batch_size=32, dropout=0.1, max_steps=800, warmup_steps=200),
        ),
        TaskSpec(
            name="wnli",
            dir_name="WNLI",
            hf_name="wnli",
            labels=_BINARY,
            metrics=("accuracy",),
            selection_metric="accuracy",
            train_dev=TsvColumns(text_a=1, text_b=2, label=LAST, num_columns=4),
            test=TsvColumns(guid=0, text_a=1, text_b=2, num_columns=3),
            test_splits=(("test", "WNLI"),),
            preset=Preset(lr=2e-5, batch_size=16, dropout=0.1, max_steps=2000, warmup_steps=250),
        ),
        TaskSpec(
            name="ax",
            dir_name="diagnostic",
            hf_name="ax",
            labels=_MNLI,
            metrics=("mcc",),
            selection_metric="mcc",
            train_dev=TsvColumns(text_a=1, text_b=2, label=LAST, num_columns=4),
            # diagnostic.tsv: index sentence1 sentence2; predicted with the MNLI model.
            test=TsvColumns(guid=0, text_a=1, text_b=2, num_columns=3),
            dev_splits=(),
            test_splits=(("diagnostic", "AX"),),
            hf_columns=("premise", "hypothesis"),
            hf_label_names=("entailment", "neutral", "contradiction"),
        ),
        # CLUE (Chinese). Presets: 10% warm-up and no dropout as for GLUE; TNEWS/AFQMC from CLUE's
        # run_classifier_{tnews,afqmc}.sh of the time (lr 3e-5, batch 16, 2 epochs), the others from
        # CLUEbenchmark/CLUE's baselines/models_pytorch/classifier_pytorch/run_classifier_<task>.sh
        # (steps = ceil(train rows x epochs / batch)). Their leaderboard files are JSON lines, not
        # GLUE's TSV, so test_splits stays empty and albertctl.clue.submit names them.
        TaskSpec(
            name="tnews",
            dir_name="tnews",
            hf_name="tnews",
            # CLUE's labels.json: 15 news categories, ids 100-116 without 105 and 111.
            labels=tuple(str(i) for i in range(100, 117) if i not in (105, 111)),
            metrics=("accuracy",),
            selection_metric="accuracy",
            json_fields=JsonFields(text_a="sentence", labels_file="labels.json"),
            hf_columns=("sentence", None),
            benchmark="CLUE",
            preset=Preset(lr=3e-5, batch_size=16, dropout=0.0, max_steps=6670, warmup_steps=667),
        ),
        TaskSpec(
            name="iflytek",
            dir_name="iflytek",
            hf_name="iflytek",
            # 119 app categories, ids 0-118 (labels.json gives each one's label_des).
            labels=tuple(str(i) for i in range(119)),
            metrics=("accuracy",),
            selection_metric="accuracy",
            json_fields=JsonFields(text_a="sentence", labels_file="labels.json"),
            hf_columns=("sentence", None),
            benchmark="CLUE",
            # 12,133 train rows, lr 2e-5, batch 16, 3 epochs.
            preset=Preset(lr=2e-5, batch_size=16, dropout=0.0, max_steps=2275, warmup_steps=227),
        ),
        TaskSpec(
            name="afqmc",
            dir_name="afqmc",
            hf_name="afqmc",
            labels=_BINARY,
            metrics=("accuracy",),
            selection_metric="accuracy",
            json_fields=JsonFields(text_a="sentence1", text_b="sentence2"),
            benchmark="CLUE",
            preset=Preset(lr=3e-5, batch_size=16, dropout=0.0, max_steps=4292, warmup_steps=429),
        ),
        TaskSpec(
            name="ocnli",
            dir_name="ocnli",
            hf_name="ocnli",
            labels=_MNLI,
            metrics=("accuracy",),
            selection_metric="accuracy",
            json_fields=JsonFields(
                text_a="sentence1", text_b="sentence2", train_stems=("train.50k", "train"), skip_labels=("-",)
            ),
            benchmark="CLUE",
            # About 50k train rows (train.50k.json), lr 3e-5, batch 16, 2 epochs.
            preset=Preset(lr=3e-5, batch_size=16, dropout=0.0, max_steps=6250, warmup_steps=625),
        ),
        TaskSpec(
            name="cmnli",
            dir_name="cmnli",
            hf_name="cmnli",
            labels=_MNLI,
            metrics=("accuracy",),
            selection_metric="accuracy",
            json_fields=JsonFields(text_a="sentence1", text_b="sentence2", skip_labels=("-",)),
            benchmark="CLUE",
            # 391,782 train rows, lr 3e-5, batch 16, 3 epochs.
            preset=Preset(lr=3e-5, batch_size=16, dropout=0.0, max_steps=73460, warmup_steps=7346),
        ),
        TaskSpec(
            name="csl",
            dir_name="csl",
            hf_name="csl",
            labels=_BINARY,
            metrics=("accuracy",),
            selection_metric="accuracy",
            # The keyword list (joined with spaces) is segment A, the abstract segment B.
            json_fields=JsonFields(text_a="keyword", text_b="abst"),
            benchmark="CLUE",
            # 20,000 train rows, lr 1e-5, batch 8, 5 epochs (the baseline also uses 256 tokens).
            preset=Preset(lr=1e-5, batch_size=8, dropout=0.0, max_steps=12500, warmup_steps=1250),
        ),
        TaskSpec(
            name="cluewsc2020",
            dir_name="cluewsc2020",
            hf_name="cluewsc2020",
            # CLUE's WscProcessor order: "true" is class 0.
            labels=("true", "false"),
            metrics=("accuracy",),
            selection_metric="accuracy",
            json_fields=JsonFields(text_a="text", wsc_target="target"),
            hf_columns=("text", None),
            benchmark="CLUE",
            # 1,244 train rows, lr 1e-5, batch 16, 50 epochs.
            preset=Preset(lr=1e-5, batch_size=16, dropout=0.0, max_steps=3888, warmup_steps=388),
        ),
    )
}

TRAINABLE = tuple(
    name for name, spec in TASKS.items() if spec.preset is not None and spec.benchmark == "GLUE"
)
"""The nine tasks `finetune glue --task all` runs, in the GLUE paper's order."""

CLUE_TASKS = tuple(name for name, spec in TASKS.items() if spec.benchmark == "CLUE")
"""The seven tasks `finetune clue --task all` runs, in CLUE's order."""

_ALIASES = {"sst-2": "sst2", "sts-b": "stsb", "diagnostic": "ax", "mnli-m": "mnli", "wsc": "cluewsc2020"}


def get_task(name: str) -> TaskSpec:
    """Look a task up by our name, its GLUE folder name or an alias, case-insensitively."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in TASKS:
        raise AlbertctlError(
            f"unknown task {name!r}",
            hint=f"known tasks: {', '.join(TASKS)} (or 'all')",
        )
    return TASKS[key]


def parse_tasks(text: str, *, allow_ax: bool = False, benchmark: str | None = None) -> tuple[TaskSpec, ...]:
    """``"all"`` or a comma list (``"cola,mrpc"``) -> task specs in the given order.

    ``all`` is GLUE's nine, or CLUE's seven with ``benchmark="CLUE"``; a ``benchmark`` also
    refuses the other benchmark's tasks (``finetune clue --task cola``)."""
    everything = TRAINABLE if benchmark in (None, "GLUE") else CLUE_TASKS
    parts = [part for part in text.split(",") if part.strip()]
    if not parts:
        raise AlbertctlError("--task is empty", hint=f"use one of {', '.join(everything)} or 'all'")
    if len(parts) == 1 and parts[0].strip().lower() == "all":
        return tuple(TASKS[name] for name in everything)
    specs = tuple(get_task(part) for part in parts)
    foreign = [spec.name for spec in specs if benchmark is not None and spec.benchmark != benchmark]
    if foreign:
        raise AlbertctlError(
            f"--task {', '.join(foreign)}: not a {benchmark} task",
            hint=f"{benchmark} tasks: {', '.join(everything)} (or 'all')",
        )
    if not allow_ax and any(spec.preset is None for spec in specs):
        raise AlbertctlError(
            "task 'ax' (the diagnostic set) is not trained or scored on dev",
            hint="fine-tune mnli; `albertctl predict glue --task all` writes AX.tsv with the MNLI model",
        )
    return specs
