"""Build sharded Arrow pretraining data: ``build_pretraining_data`` (what ``make-data`` calls).

Reads documents from the inputs (streaming, :func:`albertctl.corpus.iter_documents`) and cuts the
stream into *groups* of consecutive documents of about ``shard_size_mb`` MB of text. A group is
the unit of everything: one worker tokenizes it, it is the random-document buffer of the
``reference`` single-segment policy, and each of the ``dupe_factor`` passes over it becomes one
shuffled shard. Randomness for group ``g`` and pass ``d`` comes from ``np.random.default_rng(
[seed, g, d])``, so the bytes do not depend on ``workers``, on ``num_parts`` or on restarts.

Writes, beside ``out``, a work directory ``.NAME.partial/`` (finished groups: ``unit-GGGGGG-DDD.arrow``
and ``group-GGGGGG.json``) so that a killed build rerun with the same command resumes; when every
group is done the shards are linked into ``out`` (via :func:`albertctl.fsutil.atomic_dir`) as
``shard-{d * num_groups + g:05d}.arrow`` with ``vocab/`` and ``manifest.json`` (last). Memory is
bounded by one group per worker plus ``2 * workers`` groups of text in flight.
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import dataclasses
import multiprocessing
import os
import shutil
import signal
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from albertctl.data.columns import TokenizedGroup, build_pass, flatten_ids
from albertctl.data.config import MakeDataConfig
from albertctl.data.sop import InstanceOptions
from albertctl.data.words import WordSegmenter, join_segmented_words
from albertctl.errors import AlbertctlError
from albertctl.fsutil import (
    atomic_dir,
    check_output_dir,
    locks_output,
    plain_file_name,
    read_json,
    sha256_json,
    write_json,
)

if TYPE_CHECKING:
    from albertctl.corpus import CorpusStats
    from albertctl.vocab import Tokenizer

MANIFEST_FILE = "manifest.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ShardInfo:
    """One shard of the output, as listed in the manifest."""

    file: str
    rows: int
    tokens: int
    sha256: str
    group: int
    pass_index: int
    masked: int
    sop_swapped: int


@dataclass
class GroupStats:
    """Counters of one group (summed into the manifest's totals)."""

    documents: int = 0
    segments: int = 0
    long_segments: int = 0
    """Segments longer than max_seq_length - 3 (truncated, as the reference does)."""
    text_bytes: int = 0


@dataclass
class MakeDataReport:
    """What ``build_pretraining_data`` returns: the manifest content and how the run went."""

    out: Path
    manifest: dict[str, Any]
    resumed_groups: int = 0
    built_groups: int = 0
    warnings: list[str] = field(default_factory=list)


# -- the work of one group (runs in a worker process) ---------------------------------------------
# Each worker process loads the tokenizer once (pool initializer) into this per-process cache;
# with workers=1 the main process plays the worker. Nothing else reads it.


@dataclass(frozen=True)
class _Job:
    group: int
    documents: list[list[str]]


_WORKER: dict[str, Any] = {}


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent(parent_pid: int) -> None:
    """Linux: have the kernel SIGKILL this worker when its parent dies (``kill -9`` included), so
    no orphaned worker (and, once the workers are gone, no resource tracker) keeps running."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: workers still stop when the parent's pipe closes
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _init_worker(
    vocab_dir: str,
    config: MakeDataConfig,
    work_dir: str,
    tokenizer: Tokenizer | None = None,
    parent_pid: int | None = None,
) -> None:
    """Load the tokenizer (unless given: in-process) and sentence splitter once per worker process."""
    from albertctl.vocab import load_tokenizer

    if parent_pid is not None:
        _die_with_parent(parent_pid)

    _WORKER.clear()
    _WORKER["tokenizer"] = tokenizer or load_tokenizer(vocab_dir)
    _WORKER["config"] = config
    _WORKER["work_dir"] = Path(work_dir)
    _WORKER["splitter"] = None
    if config.split_sentences:
        from albertctl.data.sentences import make_sentence_splitter

        _WORKER["splitter"] = make_sentence_splitter(config.sentence_splitter)
    _WORKER["segmenter"] = None
    if config.word_segmenter is not None:
        from albertctl.data.words import make_word_segmenter

        _WORKER["segmenter"] = make_word_segmenter(config.word_segmenter)


def instance_options(config: MakeDataConfig, tokenizer: Tokenizer) -> InstanceOptions:
    """The pure-function options for ``config`` and a tokenizer's special ids."""
    return InstanceOptions(
        max_seq_length=config.max_seq_length,
        max_predictions=config.max_predictions,
        masked_lm_prob=config.masked_lm_prob,
        short_seq_prob=config.short_seq_prob,
        ngram=config.ngram,
        whole_word=config.whole_word,
        favor_shorter_ngram=config.favor_shorter_ngram,
        single_segment=config.single_segment,
        vocab_size=tokenizer.vocab_size,
        cls_id=tokenizer.cls_id,
        sep_id=tokenizer.sep_id,
        pad_id=tokenizer.pad_id,
        mask_id=tokenizer.mask_id,
    )


def tokenize_group(
    documents: Sequence[Sequence[str]],
    tokenizer: Tokenizer,
    splitter: Callable[[str], list[str]] | None,
    segmenter: WordSegmenter | None = None,
) -> TokenizedGroup:
    """Documents of text lines -> one flat tokenized group; empty segments and documents dropped.

    Word starts are the tokenizer's; with a ``segmenter``, CJK pieces inside one segmented word
    are joined (:func:`albertctl.data.words.join_segmented_words`).
    """
    texts: list[str] = []
    bounds: list[int] = [0]
    for document in documents:
        for line in document:
            texts.extend(splitter(line) if splitter is not None else [line])
        bounds.append(len(texts))
    if segmenter is None:
        # Encoded a slice at a time and flattened at once: the ids exist as Python ints (~36
        # bytes each) for one slice only, so memory does not grow with the group.
        slices = range(0, len(texts), _ENCODE_SLICE)
        flat = [
            flatten_ids(tokenizer.encode_batch(texts[i : i + _ENCODE_SLICE], num_threads=1)) for i in slices
        ]
        tokens = np.concatenate([t for t, _ in flat]) if flat else np.zeros(0, dtype=np.int32)
        lengths = np.concatenate([n for _, n in flat]) if flat else np.zeros(0, dtype=np.int64)
        # Word starts depend on the id alone: one table lookup for the whole group.
        return TokenizedGroup.from_flat(tokens, _word_start_table(tokenizer)[tokens], lengths, bounds)
    ids = tokenizer.encode_batch(texts, num_threads=1) if texts else []
    starts = []
    for text, seg in zip(texts, ids, strict=True):
        flags = tokenizer.word_starts(seg)
        if seg:
            pieces = [tokenizer.id_to_piece(i) for i in seg]
            flags = join_segmented_words(pieces, flags, segmenter(text))
        starts.append(flags)
    return TokenizedGroup.from_segments(ids, starts, bounds)


_ENCODE_SLICE = 4096
"""Texts per ``encode_batch`` call of :func:`tokenize_group`."""


def _word_start_table(tokenizer: Tokenizer) -> np.ndarray:
    """(V,) uint8: whether each id starts a word (cached per worker)."""
    table = _WORKER.get("word_start_table")
    if table is None or _WORKER.get("word_start_tokenizer") is not tokenizer:
        table = np.asarray(tokenizer.word_starts(range(tokenizer.vocab_size)), dtype=np.uint8)
        _WORKER["word_start_table"], _WORKER["word_start_tokenizer"] = table, tokenizer
    return table


def _unit_name(group: int, pass_index: int) -> str:
    return f"unit-{group:06d}-{pass_index:03d}.arrow"


def _build_group(job: _Job) -> dict[str, Any]:
    """Tokenize one group, write one shuffled shard per pass, then its ``group-*.json`` (last)."""
    from albertctl.data.shards import columns_to_table, write_shard
    from albertctl.fsutil import sha256_file

    tokenizer, config, work_dir = _WORKER["tokenizer"], _WORKER["config"], _WORKER["work_dir"]
    group = tokenize_group(job.documents, tokenizer, _WORKER["splitter"], _WORKER["segmenter"])
    options = instance_options(config, tokenizer)
    if config.masking == "none":  # unmasked rows (no masking draws); the loader masks them
        options = dataclasses.replace(options, masked_lm_prob=0.0)
    stats = GroupStats(
        documents=group.num_documents,
        segments=group.num_segments,
        long_segments=int(np.count_nonzero(group.segment_lengths() > options.max_num_tokens)),
        text_bytes=sum(len("".join(d).encode("utf-8")) for d in job.documents),
    )
    units = []
    for pass_index in range(config.dupe_factor):
        rng = np.random.default_rng([config.seed, job.group, pass_index])
        instances = build_pass(group, options, rng)
        # Shuffle within the shard (the reference shuffles globally; see docs/data-format.md).
        instances = instances.take(rng.permutation(len(instances)))
        path = work_dir / _unit_name(job.group, pass_index)
        write_shard(path, columns_to_table(instances, tokenizer.vocab_size))
        units.append(
            {
                "unit": path.name,
                "rows": len(instances),
                "tokens": len(instances.input_ids),
                "sha256": sha256_file(path),
                "masked": len(instances.masked_lm_positions),
                "sop_swapped": int(np.count_nonzero(instances.sentence_order_label)),
            }
        )
    record = {"group": job.group, "stats": asdict(stats), "units": units}
    write_json(work_dir / f"group-{job.group:06d}.json", record)
    return record


# -- orchestration (main process) -----------------------------------------------------------------


def iter_groups(
    documents: Iterable[list[str]], shard_size_mb: float
) -> Iterator[tuple[int, list[list[str]]]]:
    """Cut a document stream into numbered groups of about ``shard_size_mb`` million characters.

    Characters (plus one per line break), not bytes: counting is free, and for English text the
    two are nearly equal (a CJK character is 3 UTF-8 bytes).
    """
    limit = shard_size_mb * 1e6
    group: list[list[str]] = []
    size = 0
    index = 0
    for document in documents:
        group.append(document)
        size += sum(len(line) for line in document) + len(document)
        if size >= limit:
            yield index, group
            index += 1
            group, size = [], 0
    if group:
        yield index, group


def _input_signature(files: Sequence[Path]) -> list[list[Any]]:
    """Cheap identity of the inputs for resuming: path, size, mtime (the manifest has sha256s)."""
    return [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in files]


def _work_dir(out: Path) -> Path:
    return out.with_name(f".{out.name}.partial")


def _prepare_work_dir(work_dir: Path, fingerprint: str) -> tuple[dict[int, dict[str, Any]], bool]:
    """Reuse a partial build with the same fingerprint (its finished groups), else start empty."""
    done: dict[int, dict[str, Any]] = {}
    stale = False
    build_file = work_dir / "build.json"
    if work_dir.is_dir():
        previous = read_json(build_file) if build_file.is_file() else {}
        if previous.get("fingerprint") == fingerprint:
            for path in sorted(work_dir.glob("group-*.json")):
                record = read_json(path)
                if all((work_dir / u["unit"]).is_file() for u in record["units"]):
                    done[record["group"]] = record
        else:
            stale = True
            shutil.rmtree(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    write_json(build_file, {"fingerprint": fingerprint})
    return done, stale


def _run_jobs(
    jobs: Iterator[_Job],
    init_args: tuple[str, MakeDataConfig, str],
    workers: int,
    on_group: Callable[[dict[str, Any]], None],
    tokenizer: Tokenizer,
) -> None:
    """Run ``_build_group`` over ``jobs``: in this process (with ``tokenizer``) and, for
    ``workers > 1``, in ``workers - 1`` more processes (each loading its own; bounded in flight).

    The main process is one of the workers: between reading groups it builds one whenever the
    pool already has two queued per process, so ``--workers 2`` starts one process, not two
    (each start re-imports the package and loads the tokenizer, and two would compete with the
    reading for the same cores).
    """
    _init_worker(*init_args, tokenizer=tokenizer)
    if workers == 1:
        for job in jobs:
            on_group(_build_group(job))
        return
    helpers = workers - 1
    context = multiprocessing.get_context("spawn")
    pool = cf.ProcessPoolExecutor(
        helpers, mp_context=context, initializer=_init_worker, initargs=(*init_args, None, os.getpid())
    )
    try:
        pending: set[cf.Future[dict[str, Any]]] = set()
        for job in jobs:
            if len(pending) < 2 * helpers:
                pending.add(pool.submit(_build_group, job))
            else:
                on_group(_build_group(job))
            finished = {future for future in pending if future.done()}
            pending -= finished
            for future in finished:
                on_group(future.result())
        for future in cf.as_completed(pending):
            on_group(future.result())
    except BaseException:
        # Ctrl-C or an error: drop the queued groups (a rerun resumes) instead of finishing them.
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


@locks_output("out")
def build_pretraining_data(
    inputs: Sequence[str | Path],
    vocab_dir: str | Path,
    out: str | Path,
    config: MakeDataConfig,
    *,
    workers: int = 1,
    overwrite: bool = False,
    on_group: Callable[[int], None] | None = None,
) -> MakeDataReport:
    """Build ``out`` (shards, ``vocab/``, ``manifest.json``) from text ``inputs``; see the module doc.

    ``on_group`` is called with the number of finished groups (for a progress display).
    """
    from albertctl.corpus import CorpusStats, iter_documents, resolve_inputs
    from albertctl.vocab import load_tokenizer

    out = Path(out)
    if workers < 1:
        raise AlbertctlError(f"workers must be >= 1, got {workers}")
    check_output_dir(out, overwrite=overwrite)
    tokenizer = load_tokenizer(vocab_dir)
    files = resolve_inputs(inputs)
    if not files:
        raise AlbertctlError(f"no input files found in {', '.join(map(str, inputs))}")
    if config.split_sentences:  # fail before any work if the splitter is missing
        from albertctl.data.sentences import make_sentence_splitter

        make_sentence_splitter(config.sentence_splitter)
    if config.word_segmenter is not None:  # likewise the word segmenter
        from albertctl.data.words import make_word_segmenter

        make_word_segmenter(config.word_segmenter)
    fingerprint = sha256_json(
        {
            "format": FORMAT_VERSION,
            "config": config.to_dict(),
            "vocab": tokenizer.fingerprint(),
            "inputs": _input_signature(files),
        }
    )
    work_dir = _work_dir(out)
    done, stale = _prepare_work_dir(work_dir, fingerprint)
    report = MakeDataReport(out=out, manifest={}, resumed_groups=len(done))
    if stale:
        report.warnings.append(f"discarded a partial build in {work_dir} made with other options or inputs")
    records = dict(done)
    corpus_stats = CorpusStats()
    num_groups = 0

    def jobs() -> Iterator[_Job]:
        nonlocal num_groups
        documents = iter_documents(
            files,
            text_field=config.text_field,
            text_column=config.text_column,
            stats=corpus_stats,
            hash_files=True,
        )
        for group, docs in iter_groups(documents, config.shard_size_mb):
            num_groups = group + 1
            if group % config.num_parts == config.part_index and group not in done:
                yield _Job(group, docs)

    def finished(record: dict[str, Any]) -> None:
        records[record["group"]] = record
        report.built_groups += 1
        if on_group is not None:
            on_group(len(records))

    try:
        _run_jobs(jobs(), (str(vocab_dir), config, str(work_dir)), workers, finished, tokenizer)
        if num_groups == 0:
            raise AlbertctlError(
                f"the inputs hold no text: {', '.join(map(str, files))}",
                hint="make-data needs lines of text, with a blank line between documents",
            )
        if not records:
            raise AlbertctlError(
                f"part {config.part_index}/{config.num_parts} is empty: the inputs make {num_groups} groups",
                hint="use fewer --num-parts or a smaller --shard-size",
            )
        report.manifest = _assemble(
            out, work_dir, records, num_groups, config, tokenizer, files, corpus_stats, overwrite
        )
    except AlbertctlError:
        # A user mistake found mid-build (bad bytes, no instances): nothing worth resuming.
        shutil.rmtree(work_dir, ignore_errors=True)
        raise
    shutil.rmtree(work_dir, ignore_errors=True)
    return report


def _assemble(
    out: Path,
    work_dir: Path,
    records: dict[int, dict[str, Any]],
    num_groups: int,
    config: MakeDataConfig,
    tokenizer: Tokenizer,
    files: Sequence[Path],
    corpus_stats: CorpusStats,
    overwrite: bool,
) -> dict[str, Any]:
    """Link the finished units into ``out`` under their final names, copy the vocab, write the manifest."""
    shards: list[ShardInfo] = []
    totals = GroupStats()
    for group in sorted(records):
        record = records[group]
        for key, value in record["stats"].items():
            setattr(totals, key, getattr(totals, key) + value)
        for pass_index, unit in enumerate(record["units"]):
            name = f"shard-{pass_index * num_groups + group:05d}.arrow"
            shards.append(
                ShardInfo(
                    file=name,
                    rows=unit["rows"],
                    tokens=unit["tokens"],
                    sha256=unit["sha256"],
                    group=group,
                    pass_index=pass_index,
                    masked=unit["masked"],
                    sop_swapped=unit["sop_swapped"],
                )
            )
    shards.sort(key=lambda s: s.file)
    rows = sum(s.rows for s in shards)
    if rows == 0:
        raise AlbertctlError(
            "the build produced no instances",
            hint="every chunk had a single segment and --single-segment drop removed it; "
            "use --single-segment split or --split-sentences",
        )
    manifest = {
        "format": "albertctl-pretraining-data",
        "format_version": FORMAT_VERSION,
        "vocab_size": tokenizer.vocab_size,
        "vocab_fingerprint": tokenizer.fingerprint(),
        "max_seq_length": config.max_seq_length,
        "max_predictions": config.max_predictions,
        "options": config.to_dict(),
        "masking": {
            "mode": config.masking,
            "spec": instance_options(config, tokenizer).masking_spec.to_dict(),
        },
        "num_groups": num_groups,
        "num_parts": config.num_parts,
        "part_index": config.part_index,
        "inputs": [{"path": str(p), "sha256": corpus_stats.sha256.get(str(p))} for p in files],
        "shards": [asdict(s) for s in shards],
        "totals": {
            "shards": len(shards),
            "rows": rows,
            "tokens": sum(s.tokens for s in shards),
            "masked": sum(s.masked for s in shards),
            "sop_swapped": sum(s.sop_swapped for s in shards),
            **asdict(totals),
        },
    }
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for shard in shards:
            _link_or_copy(work_dir / _unit_name(shard.group, shard.pass_index), tmp / shard.file)
        tokenizer.save(tmp / "vocab")
        write_json(tmp / MANIFEST_FILE, manifest)
    return manifest


def read_manifest(data_dir: str | Path) -> dict[str, Any]:
    """The manifest of a data directory, with a clear error when it is not one of ours."""
    path = Path(data_dir) / MANIFEST_FILE
    if not path.is_file():
        raise AlbertctlError(
            f"{data_dir} is not a make-data output (no {MANIFEST_FILE})",
            hint="build it with `albertctl make-data`",
        )
    manifest = read_json(path)
    if manifest.get("format") != "albertctl-pretraining-data":
        raise AlbertctlError(f"{path} is not an albertctl pretraining-data manifest")
    for shard in manifest.get("shards", []):
        plain_file_name(shard.get("file") if isinstance(shard, dict) else shard, source=path)
    return manifest


@locks_output("out")
def merge_parts(
    part_dirs: Sequence[str | Path], out: str | Path, *, overwrite: bool = False, verify: bool = True
) -> dict[str, Any]:
    """Merge the outputs of ``--num-parts P --part-index 0..P-1`` into one data directory.

    Every part must come from the same command (options except ``part_index``, vocabulary,
    inputs); shard names are global (``pass * num_groups + group``), so they never clash. The
    shards are hard-linked (copied across file systems) into ``out``; the parts are left as they are.
    """
    if not part_dirs:
        raise AlbertctlError("merge needs at least one part directory")
    manifests = [read_manifest(d) for d in part_dirs]
    first = manifests[0]

    def identity(m: dict[str, Any]) -> Any:
        options = {k: v for k, v in m["options"].items() if k != "part_index"}
        return (options, m["vocab_fingerprint"], m["num_groups"], [i["sha256"] for i in m["inputs"]])

    for directory, manifest in zip(part_dirs, manifests, strict=True):
        if identity(manifest) != identity(first):
            raise AlbertctlError(
                f"{directory} was built with other options, vocabulary or inputs than {part_dirs[0]}",
                hint="merge only the parts of one make-data command",
            )
    indices = sorted(m["part_index"] for m in manifests)
    if indices != list(range(first["num_parts"])):
        raise AlbertctlError(
            f"parts {indices} do not cover 0..{first['num_parts'] - 1} exactly once",
            hint="pass every part directory of the build, each once",
        )
    from albertctl.data.shards import verify_shards, verify_vocab_copy

    # Before anything is linked: a damaged part must not become a "good" merged set.
    for directory, manifest in zip(part_dirs, manifests, strict=True):
        vocab_size, fingerprint = int(manifest["vocab_size"]), str(manifest["vocab_fingerprint"])
        verify_vocab_copy(Path(directory), vocab_size=vocab_size, fingerprint=fingerprint)
        if verify:
            verify_shards(Path(directory), manifest["shards"], vocab_size=vocab_size)
    shards = sorted((s for m in manifests for s in m["shards"]), key=lambda s: s["file"])
    sources = {
        s["file"]: Path(d) / s["file"] for d, m in zip(part_dirs, manifests, strict=True) for s in m["shards"]
    }
    totals = {key: sum(m["totals"][key] for m in manifests) for key in first["totals"]}
    manifest = {**first, "part_index": None, "shards": shards, "totals": totals}
    manifest["options"] = {**first["options"], "part_index": None}
    with atomic_dir(Path(out), overwrite=overwrite) as tmp:
        for name, source in sources.items():
            _link_or_copy(source, tmp / name)
        shutil.copytree(Path(part_dirs[0]) / "vocab", tmp / "vocab")
        write_json(tmp / MANIFEST_FILE, manifest)
    return manifest
