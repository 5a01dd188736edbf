"""``disloc segment`` as separate processes: two runs on one folder, and runs killed with SIGKILL.

Real processes running the shipped model (a trained network, so the bf16
check passes where the CPU has bf16), because what is tested is what
happens between processes: the folder's lock, and a resume that reuses the
first process's precision decision and batches (issue 18.2, 18.4).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from core.analysis.results import STATE_FILE, writer_lock

from .conftest import ROOT
from .test_segment import GLIDE, render, true_lines


def glide_stack(path, n: int, distinct: int = 8):
    """A TIFF stack of ``n`` frames: a pileup gliding 2 px per frame, ``distinct`` rendered frames repeated."""
    import tifffile

    base = [render(true_lines(t), seed=t) for t in range(distinct)]
    frames = np.stack([base[t % distinct] for t in range(n)])
    tifffile.imwrite(path, (frames * 65535).round().astype(np.uint16), imagej=True, metadata={"axes": "TYX"})
    return path


def start(stack, out, *extra):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "app", "segment", str(stack), "--out", str(out), *extra],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def frames_done(out) -> int:
    try:
        return int(json.loads((out / STATE_FILE).read_text())["frames_done"])
    except (OSError, ValueError, KeyError):
        return 0


def wait_for(out, proc, at_least: int, timeout: float = 240.0) -> int:
    """Poll the state file until ``at_least`` frames are done; the process must still run."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        done = frames_done(out)
        if done >= at_least:
            return done
        if proc.poll() is not None:
            pytest.fail(f"segment ended (exit {proc.returncode}) before {at_least} frames: {proc.stderr.read()}")
        time.sleep(0.005)
    pytest.fail(f"no {at_least} frames done in {timeout} s")


def kill(proc) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()


def test_a_second_run_on_the_same_folder_is_refused(tmp_path, capsys):
    from app.cli import main

    stack = glide_stack(tmp_path / "long.tif", 400)
    out = tmp_path / "out"
    first = start(stack, out)
    try:
        wait_for(out, first, 1)
        assert main(["segment", str(stack), "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert "another segmentation is writing into this folder" in err and f"pid {first.pid}" in err, err
        assert str(out) in err and len(err.splitlines()) == 1
        assert first.poll() is None  # the first run goes on, untouched
    finally:
        kill(first)
    with writer_lock(out):  # a killed run holds no lock: the same command can resume
        pass


def test_killed_twice_and_resumed_is_byte_identical_to_one_run(tmp_path):
    """Issue 18.2: SIGKILL twice mid-run, run again: splines.csv and the masks equal an uninterrupted run's."""
    import torch

    from core.learn.predict import bf16_supported

    stack = glide_stack(tmp_path / "glide.tif", 60)
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    args = ("--batch-size", "4")
    run = start(stack, whole, *args)
    assert run.wait(timeout=600) == 0, run.stderr.read()
    run.stdout.close()
    run.stderr.close()
    done = 0
    for extra in (2, 5):  # kill when a few more frames are done than at the last start
        run = start(stack, cut, *args)
        done = wait_for(cut, run, done + extra)
        kill(run)
        assert done < 60, "the run ended before it could be killed: give it more frames"
    run = start(stack, cut, *args)
    assert run.wait(timeout=600) == 0, run.stderr.read()
    run.stdout.close()
    run.stderr.close()
    state = json.loads((cut / STATE_FILE).read_text())
    first = json.loads((whole / STATE_FILE).read_text())["precision"]
    assert state["finished"] and [state["precision"][k] for k in ("used", "check_window")] == [
        first[k] for k in ("used", "check_window")]
    if bf16_supported(torch.device("cpu")):
        assert state["precision"]["used"] == "bf16", state["precision"]  # the case that used to differ
    assert (cut / "splines.csv").read_bytes() == (whole / "splines.csv").read_bytes()
    for f in range(60):
        name = f"masks/frame_{f:06d}.npz"
        assert np.array_equal(np.load(cut / name)["bits"], np.load(whole / name)["bits"]), name
