"""Background crops harvested from frames: away from annotated lines, or where no ridge is."""
import json
import subprocess
import sys

import numpy as np
import pytest
from scipy import ndimage

from core.io.dataset import load_image
from core.errors import DislocError
from core.io.fileio import atomic_write_png
from core.io.labelme import LabelFile, write_labelme
from core.synth import default_params, generate
from core.synth.background import patch_library
from core.synth.harvest import free_squares, harvest_backgrounds, ridge_mask


def _frames(folder, n=3, size=256, annotate=()):
    """Realistic synthetic frames as PNGs (and labelme files for the indices in ``annotate``); their masks."""
    folder.mkdir()
    masks = []
    for i in range(n):
        # fixed drawing settings (not a preset's ranges, which get tuned): one pileup on a mottled,
        # unevenly lit background with a few straight lines
        p = default_params(size).replace(illumination=0.5, bend_contours=1, extra_traces=3, bg_contrast=0.3,
                                         w_white=0.2)
        s = generate(p, 40 + i)
        atomic_write_png(folder / f"f{i}.png", s.image_u8())
        if i in annotate:
            write_labelme(folder / f"f{i}.json", LabelFile.from_polylines(s.polylines, f"f{i}.png", size, size))
        masks.append(s.masks.any(0) if len(s.masks) else np.zeros((size, size), bool))
    return masks


def _boxes(out):
    return json.loads((out / "harvest.json").read_text())["crops"]


def test_crops_keep_away_from_annotated_lines(tmp_path):
    masks = _frames(tmp_path / "frames", annotate=(0, 1, 2))
    rep = harvest_backgrounds(tmp_path / "frames", tmp_path / "bg", annotations=tmp_path / "frames", margin=6)
    assert rep.annotated_frames == 3 and len(rep.files) >= 3
    for c in _boxes(tmp_path / "bg"):
        x0, y0, side, _ = c["box"]
        assert c["criterion"] == "annotation"
        near = ndimage.binary_dilation(masks[c["frame"]], iterations=4)
        assert not near[y0:y0 + side, x0:x0 + side].any()
        crop = load_image(tmp_path / "bg" / c["file"])
        assert crop.shape == (side, side)
    assert patch_library(tmp_path / "bg").check() == len(rep.files)  # usable as patch_dir


def test_without_annotations_crops_avoid_ridges(tmp_path):
    masks = _frames(tmp_path / "frames")
    harvest_backgrounds(tmp_path / "frames", tmp_path / "bg", margin=6)
    inside = total = 0
    for c in _boxes(tmp_path / "bg"):
        x0, y0, side, _ = c["box"]
        assert c["criterion"] == "ridge"
        inside += masks[c["frame"]][y0:y0 + side, x0:x0 + side].sum()
        total += side * side
    # a few faint lines may pass the ridge test; where a frame holds lines, crops hold few of them
    frac_all = np.mean([m.mean() for m in masks])
    assert inside / total < 0.25 * frac_all


def test_ridge_mask_finds_a_dark_line_and_not_flat_noise():
    rng = np.random.default_rng(0)
    img = (0.6 + 0.02 * rng.standard_normal((96, 96))).astype(np.float32)
    img[:, 47:50] -= 0.2
    m = ridge_mask(img, margin=0)
    assert m[:, 46:51].mean() > 0.8 and m[:, :30].mean() < 0.02


def test_free_squares_are_free_and_largest_first():
    ex = np.zeros((200, 300), bool)
    ex[:, 140:150] = True
    sq = free_squares(ex, sizes=(128, 64), per_frame=3)
    assert sq and sq[0][2] == 128
    for x, y, s in sq:
        assert not ex[y:y + s, x:x + s].any()


def test_no_free_square_says_what_to_do(tmp_path):
    (tmp_path / "f").mkdir()
    img = np.full((96, 96), 200, np.uint8)
    atomic_write_png(tmp_path / "f" / "a.png", img)
    # every pixel near an annotated line: nothing is left
    lines = [[[x, 0], [x, 95]] for x in range(4, 96, 12)]
    write_labelme(tmp_path / "f" / "a.json", LabelFile.from_polylines(lines, "a.png", 96, 96))
    with pytest.raises(DislocError, match="no dislocation-free square"):
        harvest_backgrounds(tmp_path / "f", tmp_path / "bg", annotations=tmp_path / "f", min_size=32)
    assert not (tmp_path / "bg" / "harvest.json").exists()


def test_cli_harvest_backgrounds(tmp_path):
    _frames(tmp_path / "frames", n=2, annotate=(0,))
    r = subprocess.run([sys.executable, "-m", "app", "synth", "harvest-backgrounds", str(tmp_path / "frames"),
                        "--annotations", str(tmp_path / "frames"), "--out", str(tmp_path / "bg")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "background crops from 2 frames (1 annotated)" in r.stdout
    crit = {c["criterion"] for c in _boxes(tmp_path / "bg")}
    assert "annotation" in crit and crit <= {"annotation", "ridge"}
