"""The Qt-free annotation model: splines, pure edits, bounded undo/redo, labelme round trip."""
import json

import numpy as np
import pytest

from core.io.labelme import read_labelme, write_labelme
from core.project.annotation import Dislocation, FrameAnnotations, polyline_length, spline_points


def test_spline_passes_through_support_points_and_is_smooth():
    pts = np.array([[10, 10], [40, 30], [70, 20], [100, 50]], float)
    c = spline_points(pts, per_segment=8)
    assert len(c) == 8 * 3 + 1
    assert np.allclose(c[::8], pts)  # every support point lies on the curve
    # a cubic spline bends: it is longer than the chords' straight line but not by much
    assert polyline_length(pts) < polyline_length(c) < 1.2 * polyline_length(pts)


def test_two_points_are_a_straight_line_and_duplicates_are_harmless():
    c = spline_points(np.array([[0, 0], [10, 0]]), per_segment=4)
    assert np.allclose(c[:, 1], 0) and np.isclose(polyline_length(c), 10)
    c = spline_points(np.array([[0, 0], [0, 0], [10, 0], [20, 5]]))
    assert np.all(np.isfinite(c))


def test_pure_edits_leave_the_original_unchanged():
    d = Dislocation(np.array([[0, 0], [10, 0], [20, 0]]))
    d2 = d.insert_point(1, (5, 1)).move_point(0, (-1, 0)).remove_point(3)
    assert d.points.tolist() == [[0, 0], [10, 0], [20, 0]]
    assert d2.points.tolist() == [[-1, 0], [5, 1], [10, 0]]


def test_insertion_index_finds_the_segment_clicked():
    d = Dislocation(np.array([[0, 0], [10, 0], [20, 0], [30, 0]]))
    idx, dist = d.insertion_index((15, 0.5))
    assert idx == 2 and dist < 1
    assert d.nearest_point((21, 1))[0] == 2


def test_undo_redo_and_redo_cleared_by_new_edit():
    fa = FrameAnnotations(64, 64)
    calls = []
    fa.listeners.append(lambda: calls.append(1))
    fa.add([[1, 1], [20, 20]])
    fa.insert_point(0, 1, (10, 12))
    fa.move_point(0, 0, (2, 2))
    assert len(calls) == 3
    assert fa.undo() and fa[0].points.tolist()[0] == [1, 1]
    assert fa.undo() and len(fa[0].points) == 2
    assert fa.redo() and len(fa[0].points) == 3
    fa.remove_point(0, 1)  # a new edit
    assert not fa.can_redo and not fa.redo()
    while fa.undo():
        pass
    assert len(fa) == 0


def test_drag_is_one_undo_step():
    fa = FrameAnnotations(64, 64, [Dislocation([[0, 0], [10, 10]])])
    fa.begin_drag()
    for x in range(1, 20):
        fa.drag_point(0, 1, (10 + x, 10))
    assert fa.end_drag()
    assert fa[0].points[1].tolist() == [29, 10]
    assert fa.undo() and fa[0].points[1].tolist() == [10, 10]
    assert not fa.can_undo
    fa.begin_drag()
    assert not fa.end_drag()  # a click without a move records nothing
    assert not fa.can_undo


def test_undo_stack_is_bounded():
    fa = FrameAnnotations(64, 64, limit=5)
    for i in range(12):
        fa.add([[0, i], [10, i]])
    n = 0
    while fa.undo():
        n += 1
    assert n == 5 and len(fa) == 7


def test_removing_to_one_point_deletes_the_dislocation():
    fa = FrameAnnotations(64, 64, [Dislocation([[0, 0], [10, 10]])])
    fa.remove_point(0, 0)
    assert len(fa) == 0


def test_labelme_roundtrip_keeps_other_shapes_and_meta(tmp_path):
    d = {"version": "5.4.1", "flags": {"done": True}, "imagePath": "f.png", "imageData": None,
         "imageHeight": 64, "imageWidth": 80, "tool": "x",
         "shapes": [
             {"label": "dislocation", "points": [[1, 2], [30, 40], [50, 41]], "group_id": 3,
              "shape_type": "linestrip", "flags": {}, "description": "lead"},
             {"label": "pt", "points": [[5, 5]], "shape_type": "point", "flags": {}},
             {"label": "dislocation", "points": [[1, 1], [9, 1], [9, 9]], "shape_type": "polygon", "flags": {}}]}
    src = tmp_path / "a.json"
    src.write_text(json.dumps(d))
    fa = FrameAnnotations.from_labelfile(read_labelme(src))
    assert len(fa) == 2 and fa.unknown_shape_types() == ["point"]
    assert len(fa[1].points) == 4  # the polygon is read as its closed outline
    fa.move_point(0, 0, (2, 3))
    write_labelme(tmp_path / "b.json", fa.to_labelfile("f.png"))
    out = json.loads((tmp_path / "b.json").read_text())
    assert out["tool"] == "x" and out["flags"] == {"done": True}
    assert out["shapes"][0]["points"][0] == [2, 3] and out["shapes"][0]["group_id"] == 3
    assert out["shapes"][0]["description"] == "lead" and out["shapes"][0]["shape_type"] == "linestrip"
    assert [s["shape_type"] for s in out["shapes"]] == ["linestrip", "linestrip", "point"]


def test_add_needs_two_points():
    with pytest.raises(ValueError):
        FrameAnnotations(8, 8).add([[1, 1]])
