"""Issue 18.6: bad inputs that used to give a wrong or unrelated message, each now one clear DislocError.

A truncated TIFF stack, a file that is not a Gatan DM file, image sizes the
generator cannot draw, and a labelme ``imagePath`` that leads out of the
annotation's folder.
"""
from __future__ import annotations

import json
import logging
import subprocess
import sys

import numpy as np
import pytest

from core.errors import DislocError
from core.io.frames import open_frames

from .conftest import ROOT


def _stack(path, n=6, imagej=True):
    import tifffile

    frames = (np.random.default_rng(0).random((n, 64, 80)) * 65535).astype(np.uint16)
    if imagej:
        tifffile.imwrite(path, frames, imagej=True, metadata={"axes": "TYX"})
    else:
        tifffile.imwrite(path, frames)
    return path


@pytest.mark.parametrize("imagej", [True, False])
@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_truncated_tiff_stack_is_reported_as_truncated_without_library_noise(tmp_path, caplog, imagej, keep):
    whole = _stack(tmp_path / "whole.tif", imagej=imagej)
    cut = tmp_path / "cut.tif"
    data = whole.read_bytes()
    cut.write_bytes(data[:int(len(data) * keep)])
    caplog.set_level(logging.WARNING)
    with pytest.raises(DislocError, match="truncated or damaged") as e:
        open_frames(cut)
    msg = str(e.value)
    assert "cut.tif" in msg and "compressed" not in msg and "announces 6 frame" in msg
    assert len(msg.splitlines()) == 1
    assert not [r for r in caplog.records if r.name.startswith("tifffile")]  # no stray library line
    with open_frames(whole) as src:  # the whole file still reads every frame
        assert len(src) == 6 and src[5].shape == (64, 80)


def test_file_that_is_not_a_dm_file_says_so(tmp_path):
    garbage = tmp_path / "movie.dm4"
    garbage.write_bytes(b"PK\x03\x04 this is a zip, not a Gatan file" * 20)
    with pytest.raises(DislocError, match=r"movie.dm4: not a Gatan DM3/DM4 file"):
        open_frames(garbage)
    # ... also where rosettasciio is not installed (it used to say only: install rosettasciio)
    code = ("import sys; sys.modules['rsciio'] = None\n"
            "from core.errors import DislocError\nfrom core.io.frames import open_frames\n"
            f"try:\n    open_frames({str(garbage)!r})\nexcept DislocError as e:\n    print(e)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "not a Gatan DM3/DM4 file" in r.stdout and "rosettasciio" not in r.stdout, r.stdout + r.stderr


def _disloc(args, tmp_path):
    env = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=env)


def test_image_sizes_the_generator_cannot_draw_name_the_size(tmp_path):
    r = _disloc(["synth", "--n", "1", "--size", "1", "--out", str(tmp_path / "tiny")], tmp_path)
    assert r.returncode == 2 and "--size: 1 is outside the allowed range" in r.stderr, r.stderr
    assert "slip_width" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "tiny").exists()
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps({
        "version": "5.5.0", "flags": {}, "imagePath": "huge.png", "imageData": None,
        "imageHeight": 100000, "imageWidth": 100000,
        "shapes": [{"label": "d", "points": [[10, 10], [500, 900]], "shape_type": "linestrip", "flags": {}},
                   {"label": "d", "points": [[40, 10], [530, 900]], "shape_type": "linestrip", "flags": {}}]}))
    r = _disloc(["synth", "twin", "--annotation", str(huge), "--out", str(tmp_path / "twins")], tmp_path)
    assert r.returncode == 2 and "huge.json" in r.stderr and "100000x100000 px" in r.stderr, r.stderr
    assert "slip_width" not in r.stderr
    assert not (tmp_path / "twins").exists()


def test_image_path_leading_out_of_the_annotation_folder_is_not_opened(tmp_path):
    from core.io.dataset import to_uint8
    from core.io.fileio import atomic_write_png
    from core.learn.traindata import load_item, open_source

    outside = tmp_path / "private"
    outside.mkdir()
    atomic_write_png(outside / "secret.png", to_uint8(np.random.default_rng(1).random((32, 32))))
    ann = tmp_path / "project" / "annotations"
    ann.mkdir(parents=True)
    d = {"version": "5.5.0", "flags": {}, "imagePath": "../../private/secret.png", "imageData": None,
         "imageHeight": 32, "imageWidth": 32,
         "shapes": [{"label": "d", "points": [[2, 2], [30, 30]], "shape_type": "linestrip", "flags": {}}]}
    (ann / "f.json").write_text(json.dumps(d))
    src = open_source(ann)
    with pytest.raises(DislocError, match="leads out of the annotation's folder") as e:
        load_item(src, src.keys[0])
    assert "f.json" in str(e.value)
    d["imagePath"] = "../../../../../../../../etc/passwd"
    (ann / "f.json").write_text(json.dumps(d))
    with pytest.raises(DislocError, match="leads out of the annotation's folder"):
        load_item(src, src.keys[0])
    # an image inside the folder tree is used as before
    (ann / "img").mkdir()
    atomic_write_png(ann / "img" / "f.png", to_uint8(np.random.default_rng(2).random((32, 32))))
    d["imagePath"] = "img/f.png"
    (ann / "f.json").write_text(json.dumps(d))
    image, masks = load_item(src, src.keys[0])
    assert image.shape == (32, 32) and masks.shape == (1, 32, 32)
