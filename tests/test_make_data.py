"""``build_pretraining_data`` and the make-data CLI end to end on the tiny corpus and vocab."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from albertctl.cli import main
from albertctl.data.build import MakeDataConfig, build_pretraining_data, merge_parts, read_manifest
from albertctl.data.shards import COLUMNS, read_shard, shard_schema
from albertctl.errors import AlbertctlError
from albertctl.fsutil import sha256_file
from albertctl.vocab import load_tokenizer

# ~200 KB corpus in groups of ~50 KB: 4 groups, 2 passes -> 8 shards.
SMALL = dict(max_seq_length=64, dupe_factor=2, shard_size_mb=0.05)


def build(corpus: Path, vocab: Path, out: Path, **kwargs) -> dict:
    workers = kwargs.pop("workers", 1)
    config = MakeDataConfig(**{**SMALL, **kwargs})
    return build_pretraining_data([corpus], vocab, out, config, workers=workers).manifest


def shas(out: Path) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in sorted(out.glob("shard-*.arrow"))}


@pytest.fixture(scope="module")
def built(tiny_corpus: Path, tiny_vocab: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data") / "out"
    build(tiny_corpus, tiny_vocab, out)
    return out


def test_output_follows_the_contract(built: Path, tiny_vocab: Path) -> None:
    manifest = read_manifest(built)
    tokenizer = load_tokenizer(tiny_vocab)
    assert manifest["vocab_size"] == tokenizer.vocab_size
    assert manifest["vocab_fingerprint"] == tokenizer.fingerprint()
    assert (manifest["max_seq_length"], manifest["max_predictions"]) == (64, 20)
    assert load_tokenizer(built / "vocab").fingerprint() == tokenizer.fingerprint()
    assert [s["file"] for s in manifest["shards"]] == [f"shard-{i:05d}.arrow" for i in range(8)]
    expected = ["manifest.json", *(f"shard-{i:05d}.arrow" for i in range(8)), "vocab"]
    assert sorted(p.name for p in built.iterdir()) == expected
    special = {tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id}
    rows = 0
    for shard in manifest["shards"]:
        path = built / shard["file"]
        assert sha256_file(path) == shard["sha256"]
        table = read_shard(path)
        assert table.schema == shard_schema(tokenizer.vocab_size)
        assert table.schema.field("input_ids").type == pa.list_(pa.uint16())
        assert table.num_rows == shard["rows"] > 0
        rows += table.num_rows
        tokens = 0
        for row in table.to_pylist():
            ids, types, boundary = row["input_ids"], row["token_type_ids"], row["token_boundary"]
            positions, originals = row["masked_lm_positions"], row["masked_lm_ids"]
            tokens += len(ids)
            # A 10% random replacement may be any id, [SEP] included (as the reference): restore first.
            ids = list(ids)
            for p, original in zip(positions, originals, strict=True):
                ids[p] = original
            assert 5 <= len(ids) <= 64 and len(types) == len(boundary) == len(ids)
            assert ids[0] == tokenizer.cls_id and ids[-1] == tokenizer.sep_id
            sep = ids.index(tokenizer.sep_id)
            assert types == [0] * (sep + 1) + [1] * (len(ids) - sep - 1)
            assert boundary[0] == boundary[sep] == boundary[-1] == 1
            assert 1 <= len(positions) <= 20 and positions == sorted(set(positions))
            assert not set(originals) & special
            assert all(0 < p < len(ids) - 1 and p != sep for p in positions)
            assert row["sentence_order_label"] in (0, 1)
        assert tokens == shard["tokens"]
    totals = manifest["totals"]
    assert totals["rows"] == rows and totals["shards"] == 8
    assert 0.4 < totals["sop_swapped"] / rows < 0.6
    assert manifest["inputs"][0]["sha256"] is not None


def test_masks_reach_the_budget(built: Path) -> None:
    table = read_shard(built / "shard-00000.arrow")
    lengths = np.array([len(r) for r in table["input_ids"].to_pylist()])
    masks = np.array([len(r) for r in table["masked_lm_positions"].to_pylist()])
    budget = np.minimum(20, np.maximum(1, np.round(lengths * 0.15)))
    assert (masks <= budget).all() and (masks == budget).mean() > 0.9


def test_same_bytes_whatever_the_workers(
    built: Path, tiny_corpus: Path, tiny_vocab: Path, tmp_path: Path
) -> None:
    build(tiny_corpus, tiny_vocab, tmp_path / "w2", workers=2)
    assert shas(tmp_path / "w2") == shas(built)
    # Small groups, more than the pool queues: the main process builds some of them too.
    small = build(tiny_corpus, tiny_vocab, tmp_path / "small-w1", shard_size_mb=0.01)
    assert small["num_groups"] > 2 * 3
    for workers in (2, 3):
        build(tiny_corpus, tiny_vocab, tmp_path / f"small-w{workers}", shard_size_mb=0.01, workers=workers)
        assert shas(tmp_path / f"small-w{workers}") == shas(tmp_path / "small-w1")
    # Another seed gives other data.
    build(tiny_corpus, tiny_vocab, tmp_path / "seed", seed=1)
    assert shas(tmp_path / "seed") != shas(built)


def test_interrupted_build_resumes_to_the_same_bytes(
    built: Path, tiny_corpus: Path, tiny_vocab: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    config = MakeDataConfig(**SMALL)

    def stop_after_two(done: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_pretraining_data([tiny_corpus], tiny_vocab, out, config, on_group=stop_after_two)
    assert not out.exists()
    assert len(list((tmp_path / ".out.partial").glob("group-*.json"))) == 2
    report = build_pretraining_data([tiny_corpus], tiny_vocab, out, config)
    assert (report.resumed_groups, report.built_groups) == (2, 2)
    assert shas(out) == shas(built)
    assert not (tmp_path / ".out.partial").exists()


def test_parts_merge_into_the_full_build(
    built: Path, tiny_corpus: Path, tiny_vocab: Path, tmp_path: Path
) -> None:
    for k in range(3):
        build(tiny_corpus, tiny_vocab, tmp_path / f"part{k}", num_parts=3, part_index=k)
    assert {p.name for p in (tmp_path / "part1").glob("shard-*")} == {
        "shard-00001.arrow",
        "shard-00005.arrow",
    }
    merged = merge_parts([tmp_path / f"part{k}" for k in (2, 0, 1)], tmp_path / "merged")
    assert shas(tmp_path / "merged") == shas(built)
    full = read_manifest(built)
    assert merged["shards"] == full["shards"] and merged["totals"] == full["totals"]
    with pytest.raises(AlbertctlError, match="exactly once"):
        merge_parts([tmp_path / "part0", tmp_path / "part1"], tmp_path / "m2")


def test_single_segment_policies_change_the_data(
    built: Path, tiny_corpus: Path, tiny_vocab: Path, tmp_path: Path
) -> None:
    reference = build(tiny_corpus, tiny_vocab, tmp_path / "ref", single_segment="reference")
    drop = build(tiny_corpus, tiny_vocab, tmp_path / "drop", single_segment="drop")
    split = read_manifest(built)
    # The reference labels every single-segment chunk "swapped"; drop loses those chunks.
    assert reference["totals"]["sop_swapped"] / reference["totals"]["rows"] > 0.55
    assert drop["totals"]["rows"] < split["totals"]["rows"]


def test_bad_inputs_fail_clearly_and_write_nothing(
    tiny_corpus: Path, tiny_vocab: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n\n", encoding="utf-8")
    with pytest.raises(AlbertctlError, match="no text"):
        build(empty, tiny_vocab, tmp_path / "o1")
    single = tmp_path / "single.txt"
    single.write_text("one\n\ntwo\n", encoding="utf-8")
    with pytest.raises(AlbertctlError, match="no instances"):
        build(single, tiny_vocab, tmp_path / "o2", single_segment="drop")
    not_vocab = tmp_path / "not_vocab"
    not_vocab.mkdir()
    with pytest.raises(AlbertctlError):
        build(tiny_corpus, not_vocab, tmp_path / "o3")
    with pytest.raises(AlbertctlError, match="max_seq_length"):
        MakeDataConfig(max_seq_length=4)
    with pytest.raises(AlbertctlError, match="max_seq_length"):
        MakeDataConfig(max_seq_length=1024)
    with pytest.raises(AlbertctlError, match="part_index"):
        MakeDataConfig(num_parts=2, part_index=2)
    with pytest.raises(AlbertctlError, match="single_segment"):
        MakeDataConfig(single_segment="nsp")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.txt", "not_vocab", "single.txt"]


def test_cli_make_data_refuses_existing_output_then_overwrites(
    built: Path, tiny_corpus: Path, tiny_vocab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli"
    args = ["make-data", str(tiny_corpus), "--vocab", str(tiny_vocab), "--out", str(out),
            "--max-seq-length", "64", "--dupe-factor", "2", "--shard-size", "0.05"]  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code in (0, None)
    assert shas(out) == shas(built)
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 1
    assert "error:" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--overwrite", "--seed", "3"])
    assert exit_info.value.code in (0, None)
    assert shas(out) != shas(built)
    with pytest.raises(SystemExit) as exit_info:
        main(["inspect-data", str(out), "-n", "2"])
    assert exit_info.value.code in (0, None)
    shown = capsys.readouterr().out
    assert "SOP in order / swapped" in shown and "[MASK]" in shown


def test_datasets_reads_a_shard(built: Path, tmp_path: Path) -> None:
    # Shards are Arrow IPC streams, the format `datasets` writes, so `Dataset.from_file` maps them.
    datasets = pytest.importorskip("datasets")
    rows = read_manifest(built)["shards"][0]["rows"]
    path = str(built / "shard-00000.arrow")
    mapped = datasets.Dataset.from_file(path)
    loaded = datasets.load_dataset("arrow", data_files=[path], split="train", cache_dir=str(tmp_path))
    for dataset in (mapped, loaded):
        assert dataset.num_rows == rows
        assert dataset.column_names == list(COLUMNS)
    assert mapped[0] == loaded[0] == read_shard(built / "shard-00000.arrow").slice(0, 1).to_pylist()[0]


def test_shards_in_the_ipc_file_format_still_read(built: Path, tmp_path: Path) -> None:
    import pyarrow as pa

    table = read_shard(built / "shard-00000.arrow")
    legacy = tmp_path / "legacy.arrow"
    with pa.OSFile(str(legacy), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=7)
    assert read_shard(legacy).equals(table)


def test_killed_build_resumes_to_the_same_bytes(tiny_corpus: Path, tiny_vocab: Path, tmp_path: Path) -> None:
    # Many small groups so that the SIGKILL lands mid-build; the reference is an in-process build.
    options = {"max_seq_length": 64, "dupe_factor": 4, "shard_size_mb": 0.005}
    build(tiny_corpus, tiny_vocab, tmp_path / "whole", **options)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "albertctl", "make-data", str(tiny_corpus), "--vocab", str(tiny_vocab),
               "--out", str(out), "--max-seq-length", "64", "--dupe-factor", "4",
               "--shard-size", "0.005"]  # fmt: skip
    first_group = tmp_path / ".out.partial" / "group-000000.json"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while process.poll() is None and not first_group.exists():
            time.sleep(0.002)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    killed_mid_build = not out.exists()
    report = build_pretraining_data([tiny_corpus], tiny_vocab, out, MakeDataConfig(**options), overwrite=True)
    if killed_mid_build:
        assert report.resumed_groups >= 1
        print(f"killed after {report.resumed_groups} groups")
    assert shas(out) == shas(tmp_path / "whole")


def test_pretraining_loader_reads_the_output(built: Path) -> None:
    loader_module = pytest.importorskip("albertctl.data.loader")
    info = loader_module.read_data_info(built)
    assert info.rows == read_manifest(built)["totals"]["rows"]
    shards = loader_module.ShardSet(info.shards)
    assert shards.num_rows == info.rows
    loader = loader_module.PretrainingLoader(shards, global_batch_size=4, prefetch=False)
    assert next(iter(loader)) is not None


def test_groups_cut_the_stream_by_size() -> None:
    from albertctl.data.build import iter_groups

    documents = [["a" * 40, "b" * 59], ["c" * 99], ["d" * 10], ["e" * 300]]
    groups = list(iter_groups(iter(documents), shard_size_mb=100e-6))  # 100 characters per group
    assert [(g, len(docs)) for g, docs in groups] == [(0, 1), (1, 1), (2, 2)]
    assert groups[2][1] == [["d" * 10], ["e" * 300]]
    assert list(iter_groups(iter([]), 1.0)) == []


@pytest.mark.parametrize("name", ["../../victim.txt", "/tmp/victim.txt", "..", "sub/shard.arrow", 7])
def test_manifest_file_names_must_stay_inside_the_directory(
    name: object, tiny_corpus: Path, tiny_vocab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from conftest import run_cli_error

    from albertctl.data.loader import read_data_info

    for k in range(2):
        build(tiny_corpus, tiny_vocab, tmp_path / "parts" / f"part{k}", num_parts=2, part_index=k)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    manifest_path = tmp_path / "parts" / "part0" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["shards"][0]["file"] = name
    manifest_path.write_text(json.dumps(manifest))
    parts = [str(tmp_path / "parts" / f"part{k}") for k in range(2)]
    for argv in (["merge-data", *parts, "--out", str(tmp_path / "merged")], ["inspect-data", parts[0]]):
        assert "not a plain file name" in run_cli_error(argv, capsys)
    with pytest.raises(AlbertctlError, match="not a plain file name"):
        read_data_info(tmp_path / "parts" / "part0")
    assert victim.read_text() == "keep me" and not (tmp_path / "merged").exists()


def test_workers_die_with_a_killed_parent(tiny_corpus: Path, tiny_vocab: Path, tmp_path: Path) -> None:
    """kill -9 of `make-data --workers 3` must not leave its workers running (they were orphaned).

    The main process is one of the workers: --workers 3 starts two worker processes."""
    import signal
    import subprocess
    import sys
    import time

    big = tmp_path / "big.txt"
    big.write_text((tiny_corpus.read_text(encoding="utf-8") + "\n") * 60, encoding="utf-8")
    argv = [sys.executable, "-m", "albertctl", "make-data", str(big), "--vocab", str(tiny_vocab),
            "--out", str(tmp_path / "out"), "--workers", "3", "--shard-size", "0.05",
            "--dupe-factor", "4"]  # fmt: skip
    parent = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def children() -> set[int]:
        found = subprocess.run(["pgrep", "-P", str(parent.pid)], capture_output=True, text=True).stdout
        return {int(pid) for pid in found.split()}

    deadline = time.monotonic() + 60
    workers: set[int] = set()
    while time.monotonic() < deadline and parent.poll() is None:
        workers = children()
        if len(workers) >= 3:  # two workers and the resource tracker
            break
        time.sleep(0.05)
    assert parent.poll() is None and len(workers) >= 3, "the build ended before its workers were seen"
    time.sleep(1.0)  # let the workers finish their initializer (where they arm the parent-death signal)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 20
    alive = workers
    while time.monotonic() < deadline:
        alive = {pid for pid in workers if Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)}
        if not alive:
            break
        time.sleep(0.1)
    assert not alive, f"processes still alive 20 s after the parent was killed: {sorted(alive)}"


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


def test_inspect_and_merge_refuse_a_changed_shard(
    tiny_corpus: Path, tiny_vocab: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from conftest import flip_one_bit, run_cli_error

    parts = [tmp_path / f"part{k}" for k in range(2)]
    for k, part in enumerate(parts):
        build(tiny_corpus, tiny_vocab, part, num_parts=2, part_index=k)
    shard = sorted(parts[1].glob("shard-*.arrow"))[0]
    flip_one_bit(shard)
    for argv in (
        ["inspect-data", str(parts[1])],
        ["merge-data", *map(str, parts), "--out", str(tmp_path / "m")],
    ):
        assert f"shard {shard} does not match the sha256" in run_cli_error(argv, capsys)
    assert not (tmp_path / "m").exists()


def test_a_replaced_vocabulary_or_edited_vocab_size_is_refused(
    built: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    import shutil

    from conftest import run_cli_error

    replaced = tmp_path / "replaced"
    shutil.copytree(built, replaced)
    shutil.rmtree(replaced / "vocab")
    (replaced / "vocab").mkdir()
    (replaced / "vocab" / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n")
    line = run_cli_error(["inspect-data", str(replaced)], capsys)
    assert f"{replaced / 'vocab'} is not the vocabulary the data was built with" in line
    edited = tmp_path / "edited"
    shutil.copytree(built, edited)
    manifest = json.loads((edited / "manifest.json").read_text())
    manifest["vocab_size"] = 900
    (edited / "manifest.json").write_text(json.dumps(manifest))
    line = run_cli_error(["inspect-data", str(edited)], capsys)
    assert "says vocab_size 900 but" in line and "has 1000 pieces" in line


def test_inspect_data_on_a_truncated_shard_is_one_line(
    built: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from conftest import run_cli_error

    copy = tmp_path / "data"
    shutil.copytree(built, copy)
    shard = sorted(copy.glob("shard-*.arrow"))[0]
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    line = run_cli_error(["inspect-data", str(copy), "--no-verify"], capsys)
    assert line.startswith(f"error: cannot read shard {shard}")
    assert "does not match the sha256" in run_cli_error(["inspect-data", str(copy)], capsys)
