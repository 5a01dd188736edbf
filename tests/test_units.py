"""Physical units without Qt: the project's pixel size and frame rate, per-dislocation results, exports in nm and s."""
import csv
import json
import math

import numpy as np
import pytest

from core.analysis.export import read_splines_csv, spline_rows, write_splines_in_units
from core.analysis.measure import (DislocationRow, columns, default_min_frames, measure_dislocations,
                                   write_dislocations_csv)
from core.analysis.splines import fit_spline
from core.analysis.units import Units, fmt_scale, nice_length, pixel_size_from_line
from core.errors import DislocError
from core.io.fileio import atomic_write_png
from core.project.folder import Project
from core.synth.video import make_glide_video


def test_units_convert_and_fall_back_to_px_and_frames():
    u = Units(pixel_size_nm=0.5, fps=20.0)
    assert u.fmt_length(10) == "5.0 nm" and u.curvature(0.1) == pytest.approx(0.2)
    assert u.time(40) == pytest.approx(2.0) and u.velocity(2.0) == pytest.approx(20.0)  # 2 px/frame = 1 nm x 20/s
    assert u.velocity_unit == "nm/s"
    bare = Units()
    assert bare.fmt_length(10) == "10.0 px" and bare.time(40) == 40 and bare.time_s(40) is None
    assert bare.velocity_unit == "px/frame" and "unknown" in bare.describe()
    with pytest.raises(DislocError, match="pixel_size_nm"):
        Units(pixel_size_nm=-1.0)


def test_scale_bar_lengths_and_set_scale_from_a_line():
    assert [nice_length(v) for v in (7.3, 19.9, 20.0, 430.0, 0.8)] == [5.0, 10.0, 20.0, 200.0, 0.5]
    assert fmt_scale(2000.0, "nm") == "2 µm" and fmt_scale(50.0, "px") == "50 px" and fmt_scale(200, "nm") == "200 nm"
    assert pixel_size_from_line(200.0, 100.0, "nm") == pytest.approx(0.5)
    assert pixel_size_from_line(100.0, 1.0, "µm") == pytest.approx(10.0)
    with pytest.raises(DislocError, match="at least 2 px"):
        pixel_size_from_line(1.0, 10.0)
    with pytest.raises(DislocError, match="positive"):
        pixel_size_from_line(100.0, 0.0)


def test_project_keeps_pixel_size_and_frame_rate_and_frames_carry_them(tmp_path):
    frames = tmp_path / "p" / "frames"
    for i in range(3):
        atomic_write_png(frames / f"f{i}.png", np.full((32, 40), 100 + i, np.uint8))
    p = Project.create(tmp_path / "p", frames=frames)
    with p.open_frames() as src:
        assert src.pixel_size_nm is None and src.fps is None  # PNGs say nothing
    p.set_calibration(0.8, 12.5)
    d = json.loads((p.root / "project.json").read_text())
    assert d["pixel_size_nm"] == 0.8 and d["fps"] == 12.5
    q = Project.open(p.root)
    assert (q.pixel_size_nm, q.fps) == (0.8, 12.5)
    with q.open_frames() as src:
        assert src.pixel_size_nm == 0.8 and src.frame_time(25) == pytest.approx(2.0)
    with pytest.raises(DislocError, match="pixel size"):
        q.set_calibration(0.0, None)
    assert Project.open(p.root).pixel_size_nm == 0.8  # a refused value changes nothing
    q.set_calibration(None, None)
    assert Project.open(p.root).fps is None


def test_project_file_with_a_bad_pixel_size_names_the_key(tmp_path):
    p = Project.create(tmp_path / "p")
    d = json.loads((p.root / "project.json").read_text())
    d["pixel_size_nm"] = "big"
    (p.root / "project.json").write_text(json.dumps(d))
    with pytest.raises(DislocError, match="pixel_size_nm"):
        Project.open(p.root)


def _splines_csv(path, curves_by_frame):
    """A splines.csv from {frame: {id: (n, 2) points}} through core's own row writer."""
    text = "frame,time_s,dislocation_id,point_index,x_px,y_px,arc_length_px,tangent_angle_rad,curvature_per_px," \
           "mask_index,flags\n"
    for f, by_id in curves_by_frame.items():
        for k, (tid, pts) in enumerate(sorted(by_id.items())):
            text += spline_rows(f, None, tid, fit_spline(pts), k)
    path.write_text(text)
    return path


def test_per_dislocation_length_centre_curvature_and_velocity(tmp_path):
    # a straight 100 px line moving 3 px per frame to the right, seen in frames 0, 1 and 3
    line = lambda x: np.column_stack([np.full(50, x), np.linspace(20, 120, 50)])  # noqa: E731
    arc = lambda r, x0: np.column_stack([x0 + r * np.cos(np.linspace(-0.5, 0.5, 50)),  # noqa: E731
                                         60 + r * np.sin(np.linspace(-0.5, 0.5, 50))])
    path = _splines_csv(tmp_path / "splines.csv", {0: {1: line(10.0), 2: arc(80.0, 0.0)}, 1: {1: line(13.0)},
                                                   3: {1: line(19.0)}})
    rows = measure_dislocations(read_splines_csv(path))
    assert [(r.frame, r.dislocation_id) for r in rows] == [(0, 1), (0, 2), (1, 1), (3, 1)]
    r0, bent, r1, r3 = rows
    assert r0.length_px == pytest.approx(100.0, abs=0.5) and r0.mean_abs_curvature_per_px == pytest.approx(0, abs=1e-3)
    assert (r0.centre_x_px, r0.centre_y_px) == pytest.approx((10.0, 70.0), abs=0.3)
    assert bent.mean_abs_curvature_per_px == pytest.approx(1 / 80.0, rel=0.1)
    assert bent.centre_x_px == pytest.approx(80.0, abs=0.5)  # on the arc, not at its centroid
    assert r0.velocity_px_per_frame is None and r1.velocity_px_per_frame == pytest.approx(3.0, abs=0.1)
    assert r3.velocity_px_per_frame == pytest.approx(3.0, abs=0.1)  # 6 px over two frames
    assert r0.frames_seen == 3 and bent.frames_seen == 1


def test_default_min_frames_hides_fragments_only():
    assert default_min_frames([]) == 1 and default_min_frames([1, 2, 3]) == 1  # short videos: show all
    assert default_min_frames([10, 9, 1]) == 2  # a fifth of the longest-lived track
    assert default_min_frames([30, 30, 3, 1, 1]) == 3 and default_min_frames([1000, 40, 2]) == 3  # at most 3
    assert default_min_frames([6, 5, 1]) == 2


def test_dislocations_csv_has_nm_and_s_columns_only_when_known(tmp_path):
    rows = [DislocationRow(0, 1, 100.0, 0.01, 10.0, 70.0, None, 2), DislocationRow(1, 1, 102.0, 0.01, 13.0, 70.0, 3.0, 2)]
    write_dislocations_csv(tmp_path / "px.csv", rows)
    with open(tmp_path / "px.csv", newline="") as f:
        got = list(csv.DictReader(f))
    assert list(got[0]) == columns(Units()) and "length_nm" not in got[0]
    assert got[0]["velocity_px_per_frame"] == "" and float(got[1]["velocity_px_per_frame"]) == 3.0
    write_dislocations_csv(tmp_path / "nm.csv", rows, Units(0.5, 10.0))
    with open(tmp_path / "nm.csv", newline="") as f:
        got = list(csv.DictReader(f))
    assert float(got[1]["length_nm"]) == pytest.approx(51.0) and float(got[1]["time_s"]) == pytest.approx(0.1)
    assert float(got[1]["velocity_nm_per_s"]) == pytest.approx(15.0)  # 3 px/frame x 0.5 nm x 10/s
    assert float(got[1]["mean_abs_curvature_per_nm"]) == pytest.approx(0.02)


def test_splines_csv_gets_nm_and_time_after_the_run(tmp_path):
    sample = make_glide_video(n_frames=1, seed=1, size=96, n_dislocations=2)[0]
    path = _splines_csv(tmp_path / "splines.csv", {0: {1: sample.polylines[0]}, 2: {1: sample.polylines[0]}})
    write_splines_in_units(path, tmp_path / "nm.csv", 2.0, 4.0)
    a, b = read_splines_csv(path), read_splines_csv(tmp_path / "nm.csv")
    assert np.allclose(b["x_nm"], 2 * a["x_px"], atol=2e-3) and np.allclose(b["curvature_per_nm"],
                                                                            a["curvature_per_px"] / 2, rtol=1e-4)
    assert math.isnan(a["time_s"][-1]) and b["time_s"][-1] == pytest.approx(0.5)
    assert np.array_equal(a["mask_index"], b["mask_index"]) and list(a["flags"]) == list(b["flags"])


def test_kept_splines_leave_out_tracks_seen_in_few_frames(tmp_path):
    from core.analysis.export import frames_seen
    from core.analysis.results import write_kept_splines
    from core.errors import DislocError

    line = lambda x: np.column_stack([np.full(50, x), np.linspace(20, 120, 50)])  # noqa: E731
    _splines_csv(tmp_path / "splines.csv", {0: {1: line(10), 2: line(40)}, 1: {1: line(12)}, 2: {1: line(14), 3: line(70)}})
    assert frames_seen(read_splines_csv(tmp_path / "splines.csv")) == {1: 3, 2: 1, 3: 1}
    assert write_kept_splines(tmp_path, tmp_path / "k2.csv", 2) == (1, 2)
    k2 = read_splines_csv(tmp_path / "k2.csv")
    assert set(k2["dislocation_id"]) == {1} and sorted(set(k2["frame"])) == [0, 1, 2] and len(k2["frame"]) == 150
    assert write_kept_splines(tmp_path, tmp_path / "k1.csv", 1) == (3, 0)
    assert len(read_splines_csv(tmp_path / "k1.csv")["frame"]) == 250
    with pytest.raises(DislocError, match="min-frames"):
        write_kept_splines(tmp_path, tmp_path / "k0.csv", 0)
