"""The demo command end to end on a tiny video (plumbing, with an untrained net)."""
import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from core.demo import match_tracks_to_truth, true_curves
from core.io.dataset import load_masks
from core.synth.video import make_glide_video

from .conftest import ROOT


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from core.learn.model import create_model, make_header, save_checkpoint

    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    m = create_model(encoder="resnet18", n_masks=4)
    save_checkpoint(path, m, make_header(arch="unetplusplus", encoder="resnet18", n_masks=4, input_size=64))
    return path


def test_true_curves_follow_identity_and_match_themselves():
    frames = make_glide_video(n_frames=3, seed=1, size=128, shift_px=2.0, n_dislocations=3)
    truth = true_curves(frames)
    assert len(truth) >= 2
    for g, fr in truth.items():
        assert all(c.shape == (50, 2) for c in fr.values())
    # the truth matched against itself (ids renamed) maps every id back
    renamed = {100 + g: fr for g, fr in truth.items()}
    assert match_tracks_to_truth(renamed, truth) == {100 + g: g for g in truth}


def test_demo_cli_writes_project_results_and_agreement(tmp_path, tiny_checkpoint):
    proj = tmp_path / "demo"
    r = subprocess.run([sys.executable, "-m", "app", "demo", "--project", str(proj), "--model", str(tiny_checkpoint),
                        "--frames", "3", "--size", "128", "--no-gui"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = proj / "results" / "demo_video"
    assert "length metric" in r.stdout and str(out) in r.stdout
    agreement = json.loads((out / "agreement.json").read_text())
    assert agreement["n_frames"] == 3 and 0.0 <= agreement["length_metric"] <= 1.0
    with open(out / "splines.csv", newline="") as f:
        header = next(csv.reader(f))
    assert header[:4] == ["frame", "time_s", "dislocation_id", "point_index"]
    truth = load_masks(proj / "frames" / "truth" / "frame_000000.npz")
    assert truth.ndim == 3 and truth.shape[1:] == (128, 128) and truth.any()
    assert json.loads((proj / "project.json").read_text())["frames"]
    # the app's panels look for a video's results under results/<frames name>
    from core.project.folder import Project, safe_name

    p = Project.open(proj)
    assert p.results_dir / safe_name(p.frames_path.name) == out


def test_demo_without_model_says_what_to_do(tmp_path):
    r = subprocess.run([sys.executable, "-m", "app", "demo", "--project", str(tmp_path / "d"),
                        "--model", str(tmp_path / "missing.pt"), "--frames", "2", "--size", "64", "--no-gui"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert "missing.pt" in r.stderr and "--model" in r.stderr
