"""One writer per output: a second writer of the same output gets one error line; a killed
holder releases the lock; stale temporaries of killed writers are cleaned up."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from albertctl.cli import main
from albertctl.errors import AlbertctlError
from albertctl.fsutil import atomic_dir, lock_path, output_lock


def _hold_lock(out: Path) -> subprocess.Popen:
    """Another process that takes the writer lock of ``out`` and keeps it until killed."""
    code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from albertctl.fsutil import output_lock
        with output_lock(Path({str(out)!r})):
            print("locked", flush=True)
            time.sleep(120)
        """
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def test_a_second_writer_is_refused_until_the_holder_dies(
    tiny_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "vocab"
    holder = _hold_lock(out)
    try:
        with pytest.raises(SystemExit) as exit_info:
            main(["build-vocab", str(tiny_corpus), "--out", str(out), "--vocab-size", "300"])
        assert exit_info.value.code == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"is being written by albertctl pid {holder.pid}" in err[0], err
        assert not out.exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The OS dropped the dead holder's lock: the same command now runs.
    with pytest.raises(SystemExit) as exit_info:
        main(["build-vocab", str(tiny_corpus), "--out", str(out), "--vocab-size", "300"])
    assert exit_info.value.code in (0, None) and (out / "spiece.model").is_file()
    assert not lock_path(out).exists()  # removed by its holder: nothing is left beside the output


def test_pretrain_holds_its_run_directory(tmp_path: Path) -> None:
    from albertctl.train.pretrain import PretrainConfig, pretrain
    from albertctl.train.synthetic import write_synthetic_data

    data = write_synthetic_data(tmp_path / "data", shards=1, rows_per_shard=16, seed=0)
    run = tmp_path / "run"
    holder = _hold_lock(run)
    try:
        config = PretrainConfig(
            data=(data,), out=run, model="debug", batch_size=4, max_steps=2, warmup_steps=0,
            tensorboard=False, precision="fp32", threads=1,
        )  # fmt: skip
        with pytest.raises(AlbertctlError, match="is being written by"):
            pretrain(config)
        assert not run.exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


def test_lock_is_reentrant_and_stale_temporaries_go(tmp_path: Path) -> None:
    out = tmp_path / "out"
    stale = tmp_path / ".out.tmp-deadbeef"  # what a killed writer leaves
    stale.mkdir()
    with output_lock(out), output_lock(out):  # the same process may lock twice
        with atomic_dir(out, overwrite=False) as tmp:
            (tmp / "file.txt").write_text("new")
    assert (out / "file.txt").read_text() == "new" and not stale.exists()
