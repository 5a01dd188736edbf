"""The project folder model (Qt-free)."""
import json

import numpy as np
import pytest

from core.errors import DislocError
from core.io.dataset import load_image
from core.io.fileio import atomic_write_png
from core.io.labelme import read_labelme
from core.project.annotation import FrameAnnotations
from core.project.folder import FOLDERS, Project


def _frames(folder, n=3, size=(48, 64)):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        atomic_write_png(folder / f"img_{i:02d}.png", (rng.random(size) * 255).astype(np.uint8))
    return folder


def test_create_open_and_frames_are_referenced_relatively(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    frames = _frames(root / "frames")
    p = Project.create(root, frames=frames)
    assert all((root / f).is_dir() for f in FOLDERS)
    assert json.loads((root / "project.json").read_text())["frames"] == "frames"
    q = Project.open(root)
    assert q.frames_path == frames.resolve() and q.name == "proj"
    src = q.open_frames()
    assert len(src) == 3 and src[0].shape == (48, 64)
    with pytest.raises(DislocError, match="already a project"):
        Project.create(root)


def test_unknown_key_and_not_a_project_are_clear_errors(tmp_path):
    with pytest.raises(DislocError, match="no project.json"):
        Project.open(tmp_path)
    Project.create(tmp_path / "p")
    d = json.loads((tmp_path / "p" / "project.json").read_text())
    d["colour"] = "red"
    (tmp_path / "p" / "project.json").write_text(json.dumps(d))
    with pytest.raises(DislocError, match="unknown key 'colour'"):
        Project.open(tmp_path / "p")


def test_save_and_load_annotations_writes_labelme_with_frame_png(tmp_path):
    p = Project.create(tmp_path / "p")
    fa = FrameAnnotations(48, 64)
    fa.add([[1, 1], [20, 30], [40, 30]])
    img = np.full((48, 64), 0.5, np.float32)
    path = p.save_annotations("frame 0001.tif", fa, img)
    assert path.name == "frame_0001.json"
    lf = read_labelme(path)
    assert lf.image_path == "frame_0001.png" and (path.parent / lf.image_path).exists()
    assert lf.shapes[0].shape_type == "linestrip" and len(lf.shapes[0].points) == 3
    back, msgs = p.load_annotations("frame 0001.tif", 48, 64)
    assert msgs == [] and np.allclose(back[0].points, fa[0].points)
    assert p.annotated_frames() == ["frame_0001"]


def test_wrong_size_file_is_reported_and_kept_as_backup(tmp_path):
    p = Project.create(tmp_path / "p")
    fa = FrameAnnotations(32, 32)
    fa.add([[1, 1], [20, 20]])
    p.save_annotations("f", fa)
    back, msgs = p.load_annotations("f", 48, 64)
    assert len(back) == 0 and "32x32" in msgs[0] and "f.json" in msgs[0]
    new = FrameAnnotations(48, 64)
    new.add([[2, 2], [9, 9]])
    p.save_annotations("f", new)
    assert read_labelme(p.annotations_dir / "f.json.bak").image_width == 32
    assert read_labelme(p.annotations_dir / "f.json").image_width == 64


def test_background_patch_is_16bit_and_never_overwritten(tmp_path):
    p = Project.create(tmp_path / "p")
    patch = np.linspace(0, 1, 40 * 30, dtype=np.float32).reshape(30, 40)
    a = p.save_background(patch, "frame_0003")
    b = p.save_background(patch, "frame_0003")
    assert a != b and p.background_files() == [a, b]
    assert np.abs(load_image(a) - patch).max() < 1e-4
    with pytest.raises(DislocError):
        p.save_background(np.zeros((3, 3)))
