"""Issue 18.4: a read-only output folder is one line that names it and says what to do, exit 2.

``disloc segment --restart``, ``disloc synth`` and ``disloc track`` used to
end in a traceback (exit 1) there. The folder is made read-only for real:
``chmod`` for a normal user; as root, whom permissions do not stop, the
folder is made immutable (``chattr +i``), or the test is skipped.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess

import pytest

from core.analysis.segment import segment_video
from core.analysis.segmentconfig import SegmentConfig

from .test_segment import ThresholdSegmenter, write_stack


@contextlib.contextmanager
def read_only(folder):
    """The folder cannot be written into (entries can be neither made nor removed) while inside."""
    if os.geteuid() != 0:
        os.chmod(folder, 0o555)
        try:
            yield
        finally:
            os.chmod(folder, 0o755)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("running as root on a file system without chattr +i: no folder can be made read-only")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(folder)], check=True)


def _main(argv, capsys):
    from app.cli import main

    code = main(argv)
    return code, capsys.readouterr().err.strip()


@pytest.fixture(scope="module")
def segmented(tmp_path_factory):
    root = tmp_path_factory.mktemp("ro")
    stack = write_stack(root / "pileup.tif", n=3)
    out = root / "seg"
    segment_video(stack, ThresholdSegmenter(), out, SegmentConfig(batch_size=3))
    return stack, out


def test_segment_restart_into_a_read_only_folder(segmented, capsys):
    stack, out = segmented
    before = sorted(p.name for p in out.iterdir())
    with read_only(out):
        code, err = _main(["segment", str(stack), "--out", str(out), "--restart"], capsys)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert str(out) in err and "read-only" in err and "--out" in err
    assert sorted(p.name for p in out.iterdir()) == before  # nothing removed, nothing half-written


def test_track_into_a_read_only_folder(segmented, capsys):
    _, out = segmented
    with read_only(out):
        code, err = _main(["track", str(out), "--pairs", "1:2", "--no-plot"], capsys)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert str(out) in err and "read-only" in err
    assert not (out / "pair_distances.csv").exists()
    assert _main(["track", str(out), "--pairs", "1:2", "--no-plot"], capsys)[0] == 0  # writable again: it works


def test_synth_into_a_read_only_folder(tmp_path, capsys):
    out = tmp_path / "data"
    out.mkdir()
    with read_only(out):
        code, err = _main(["synth", "--n", "2", "--size", "64", "--out", str(out)], capsys)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert str(out) in err and "read-only" in err and "--out" in err
    assert list(out.iterdir()) == []


def test_output_error_words_for_a_full_disk(tmp_path):
    import errno

    from core.io.fileio import output_error

    e = output_error(OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x" / "f.npz")), tmp_path)
    assert str(e).startswith(f"{tmp_path}: disk full") and "run the same command again" in str(e)
