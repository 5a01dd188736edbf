"""Synthetic generator inputs: real background crops, labelme shapes, fitted presets, twins."""
import json
import math

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from app.cli import main
from core.errors import DislocError
from core.io import dataset
from core.io.labelme import LabelFile, read_labelme, write_labelme
from core.synth import default_params, generate, load_preset, sample_from_json, sample_params
from core.synth.background import patch_library, perlin_background
from core.synth.fit import fit_preset, group_pileups, twin_params, twin_scene
from core.synth.writer import write_dataset


def _patch_dir(tmp_path):
    """Background crops made from Perlin backgrounds: a 16-bit TIFF and a smaller 8-bit PNG."""
    d = tmp_path / "patches"
    d.mkdir()
    p = default_params(160)
    a, _ = perlin_background(p, np.random.default_rng(1), np.random.default_rng(2))
    b, _ = perlin_background(p.replace(size=80, lambda1=20.0), np.random.default_rng(3), np.random.default_rng(4))
    tifffile.imwrite(d / "crop_a.tif", (a * 65535).astype(np.uint16))
    iio.imwrite(d / "crop_b.png", (b * 255).astype(np.uint8))
    return d


def test_patch_background_blends_two_crops_and_records_them(tmp_path):
    d = _patch_dir(tmp_path)
    p = default_params(128).replace(background="patches", patch_dir=str(d))
    s = generate(p, 3)
    rec = s.record["background"]
    assert rec["kind"] == "patches" and 0 <= rec["a"] <= 1
    assert set(rec["files"]) <= {"crop_a.tif", "crop_b.png"} and len(rec["crops"]) == 2
    for name, (x0, y0, side, k) in zip(rec["files"], rec["crops"]):
        assert side == (128 if name == "crop_a.tif" else 80) and 0 <= k < 8
    r = sample_from_json(json.loads(json.dumps(s.to_json())))
    assert np.array_equal(r.image, s.image) and np.array_equal(r.masks, s.masks)
    # a different seed picks other crops / blend
    assert generate(p, 4).record["background"] != rec


def test_patch_background_errors_name_the_folder_or_file(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    with pytest.raises(DislocError, match="no background images") as e:
        generate(default_params(64).replace(background="patches", patch_dir=str(empty)), 0)
    assert str(empty.resolve()) in str(e.value)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(DislocError, match="broken.png"):
        generate(default_params(64).replace(background="patches", patch_dir=str(bad)), 0)
    with pytest.raises(DislocError, match="broken.png"):
        patch_library(bad).check()


def test_dataset_with_a_corrupt_background_fails_before_writing(tmp_path):
    d = _patch_dir(tmp_path)
    (d / "zz_corrupt.tif").write_bytes(b"II*\x00garbage")
    preset = load_preset("m2").with_range("background", "patches").with_range("patch_dir", str(d))
    with pytest.raises(DislocError, match="zz_corrupt.tif"):
        write_dataset(tmp_path / "ds", preset, 3, size=64)
    assert not (tmp_path / "ds" / "params").exists()


def _arc(p0, t, n, width, bow, k=9):
    """A bowed line from p0 across a slip band of ``width`` px (t: trace direction)."""
    s = np.linspace(0, 1, k)
    return p0 + np.outer(s * width, n) + np.outer(bow * 4 * s * (1 - s), t)


def _frame(path, pileups, h=400, w=500):
    """Write a labelme file with pileups given as (p0, angle deg, count, spacing, slip width)."""
    polys = []
    for p0, ang, count, spacing, width in pileups:
        a = math.radians(ang)
        t, n = np.array([math.cos(a), math.sin(a)]), np.array([-math.sin(a), math.cos(a)])
        for j in range(count):
            polys.append(_arc(np.asarray(p0, float) + j * spacing * t, t, n, width, 10.0))
    write_labelme(path, LabelFile.from_polylines(polys, path.with_suffix(".png").name, h, w))
    return polys


def _annotations(tmp_path):
    d = tmp_path / "labelled"
    d.mkdir()
    _frame(d / "f1.json", [((100, 100), 0, 4, 30, 100)])
    _frame(d / "f2.json", [((60, 60), 0, 3, 25, 120), ((300, 150), 60, 2, 40, 80)])
    _frame(d / "f3.json", [((200, 120), 90, 1, 0, 90)])
    return d


def test_grouping_finds_the_pileups():
    d_polys = []
    for j in range(4):
        d_polys.append(_arc(np.array([100.0 + 30 * j, 100.0]), np.array([1.0, 0]), np.array([0, 1.0]), 100, 10))
    other = [_arc(np.array([350.0 + 20 * j, 300.0]), np.array([0, 1.0]), np.array([-1.0, 0]), 60, 5)
             for j in range(2)]
    groups = group_pileups(d_polys + other)
    assert sorted(map(sorted, groups)) == [[0, 1, 2, 3], [4, 5]]


def test_fit_preset_from_labelled_frames(tmp_path):
    pr = fit_preset(_annotations(tmp_path), name="m1-test")
    r = pr.ranges
    assert r["n_pileups"] == (1, 2)
    assert r["n_dislocations"][0] == 1 and r["n_dislocations"][1] == 4
    obs = pr.meta["observed"]
    scale = 512 / 500
    assert sorted(obs["slip_width"]) == pytest.approx(sorted(np.array([100, 120, 80, 90]) * scale), abs=1.0)
    assert sorted(set(np.round(obs["spacing"], 3))) == pytest.approx(sorted({25 * scale, 30 * scale, 40 * scale}))
    assert r["slip_width"][0] <= 80 * scale and r["slip_width"][1] >= 120 * scale
    assert sorted(obs["angle"]) == pytest.approx([0, 0, 60, 90], abs=1e-6)
    assert pr.meta["fitted_from"] == ["f1.json", "f2.json", "f3.json"]
    # usable as a preset: draws stay inside the fitted ranges
    p = sample_params(pr, 1)
    assert all(1 <= q.n_dislocations <= 4 for q in p.pileups) and 1 <= len(p.pileups) <= 2


def test_fit_preset_cli_writes_a_loadable_preset(tmp_path, capsys):
    out = tmp_path / "m1.json"
    assert main(["synth", "fit-preset", "--annotations", str(_annotations(tmp_path)), "--out", str(out)]) == 0
    assert "fitted preset 'm1'" in capsys.readouterr().out
    pr = load_preset(out)
    assert pr.name == "m1" and generate(sample_params(pr, 0, size=96), 0).image.shape == (96, 96)


def test_fit_preset_bad_input_names_the_file(tmp_path):
    d = tmp_path / "labelled"
    d.mkdir()
    with pytest.raises(DislocError, match="no labelme"):
        fit_preset(d)
    (d / "a.json").write_text(json.dumps({"imageHeight": 10, "imageWidth": 10,
                                          "shapes": [{"label": "d", "points": [[1, 2], [3]]}]}))
    with pytest.raises(DislocError) as e:
        fit_preset(d)
    assert "a.json" in str(e.value) and "shapes[0].points" in str(e.value)


def test_labelme_shapes_give_the_support_points(tmp_path):
    d = tmp_path / "shapes"
    d.mkdir()
    _frame(d / "real.json", [((50, 50), 20, 2, 30, 120)])
    q = default_params(160).pileups[0]
    pile = type(q)(**{**q.to_dict(), "shape_source": "labelme", "shape_jitter": 0.0, "curvature_jitter": 0.0})
    p = default_params(160).replace(shape_dir=str(d), pileups=(pile,))
    s = generate(p, 1)
    shape = s.scene.pileups[0]["shape"]
    assert shape["source"] == "labelme" and shape["file"] == "real.json" and shape["index"] in (0, 1)
    a = math.radians(pile.angle)
    n = np.array([-math.sin(a), math.cos(a)])
    for dis in s.scene.dislocations:
        v = (dis.support - [pile.p0_x, pile.p0_y]) @ n
        assert len(dis.support) == 9  # the annotated points are the support points
        assert v[0] == pytest.approx(0, abs=1e-6) and v[-1] == pytest.approx(pile.slip_width, abs=1e-6)
    r = sample_from_json(json.loads(json.dumps(s.to_json())))
    assert np.array_equal(r.image, s.image)
    (d / "broken.json").write_text("{not json")
    with pytest.raises(DislocError, match="broken.json"):
        generate(p, 2)


def test_twin_replicates_the_annotated_geometry(tmp_path):
    d = tmp_path / "labelled"
    d.mkdir()
    polys = _frame(d / "frame.json", [((80, 60), 0, 3, 35, 110), ((330, 120), 90, 2, 30, 70)], h=240, w=400)
    lf = read_labelme(d / "frame.json")
    params = twin_params("m2", 0, lf.image_height, lf.image_width)
    scene = twin_scene(lf, params, 0)
    assert len(scene.dislocations) == 5 and len(scene.traces) == 4
    assert sorted({dd.pileup for dd in scene.dislocations}) == [0, 1]
    out = tmp_path / "twin"
    assert main(["synth", "twin", "--annotation", str(d / "frame.json"), "--out", str(out), "--seed", "3"]) == 0
    img, masks = dataset.load_sample(out, "frame_twin")
    assert img.shape == (240, 400) and len(masks) == 5
    for poly, m in zip(polys, masks):  # mask k follows line strip k
        xi, yi = np.rint(poly).astype(int).T
        assert m[yi, xi].all()
    rec = json.loads((out / "params" / "frame_twin.json").read_text())
    assert rec["mode"] == "scene" and rec["twin_of"].endswith("frame.json")
    again = sample_from_json(rec)
    assert np.array_equal(again.masks, masks)


def test_twin_of_an_unreadable_file_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "frame.json"
    bad.write_text(json.dumps({"imageHeight": 64, "shapes": []}))
    assert main(["synth", "twin", "--annotation", str(bad), "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "imageWidth" in err
    assert not (tmp_path / "t").exists()


def test_preview_grid_is_written(tmp_path):
    from core.synth.preview import save_grid

    out = tmp_path / "grid.png"
    save_grid(out, "m2", rows=1, cols=2, seed=0, size=64, dpi=40)
    img = iio.imread(out)
    assert img.ndim == 3 and img.shape[0] > 20 and img.shape[1] > 2 * img.shape[0]
