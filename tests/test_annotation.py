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
    # issue 18.5: unedited shapes keep their place and type (this asserted the reordering, polygon as linestrip)
    assert [s["shape_type"] for s in out["shapes"]] == ["linestrip", "point", "polygon"]


def test_add_needs_two_points():
    with pytest.raises(ValueError):
        FrameAnnotations(8, 8).add([[1, 1]])


def _every_shape_type() -> dict:
    """A labelme 5.5 file with one shape of every type, unknown keys, a non-ASCII label, ints and floats."""
    return {
        "version": "5.5.0", "flags": {"reviewed": True, "bad_focus": False},
        "shapes": [
            {"label": "Versetzung α", "points": [[10, 12], [40.5, 30.25], [70, 33]], "group_id": 1,
             "description": "lead", "shape_type": "linestrip", "flags": {"sure": True}, "mask": None},
            {"label": "dislocation", "points": [[5.0, 60.0], [50.0, 62.0]], "group_id": None, "description": "",
             "shape_type": "line", "flags": {}, "mask": None, "score": 0.93},
            {"label": "grain", "points": [[80, 5], [110, 5], [110, 40], [80, 40]], "group_id": None,
             "description": "", "shape_type": "polygon", "flags": {}, "mask": None},
            {"label": "box", "points": [[1, 1], [20, 20]], "group_id": 7, "description": "",
             "shape_type": "rectangle", "flags": {}, "mask": None},
            {"label": "particle", "points": [[60, 70], [64, 74]], "group_id": None, "description": "",
             "shape_type": "circle", "flags": {}, "mask": None},
            {"label": "pin", "points": [[90.5, 80.5]], "group_id": None, "description": "",
             "shape_type": "point", "flags": {}, "mask": None},
            {"label": "dots", "points": [[3, 90], [6, 91], [9, 92]], "group_id": None, "description": "",
             "shape_type": "points", "flags": {}, "mask": None},
            {"label": "blob", "points": [[30, 80], [34, 84]], "group_id": None, "description": "",
             "shape_type": "mask", "flags": {}, "mask": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgAB"},
            {"label": "dislocation", "points": [[20, 50], [35, 52], [50, 50], [40, 45]], "group_id": None,
             "shape_type": "polygon", "flags": {}},
        ],
        "imagePath": "frame_0001.png", "imageData": None, "imageHeight": 96, "imageWidth": 128,
        "otherTool": {"version": 2, "notes": ["kept"]},
    }


def test_unedited_labelme_file_is_written_back_byte_for_byte(tmp_path):
    """Issue 18.5: load -> save without an edit gives the same bytes; an edit changes only the edited shape."""
    from core.project.folder import Project

    project = Project.create(tmp_path / "p")
    path = project.annotation_path("frame_0001")
    text = json.dumps(_every_shape_type(), ensure_ascii=False, indent=2)  # exactly as labelme writes a file
    path.write_text(text, encoding="utf-8")
    fa, _ = project.load_annotations("frame_0001", 96, 128)
    assert len(fa) == 4  # linestrip, line and the two polygons are dislocations
    project.save_annotations("frame_0001", fa)
    assert path.read_bytes() == text.encode("utf-8")

    # a file in our own layout (ASCII escapes, final newline) round-trips too
    ours = json.dumps(_every_shape_type(), indent=2) + "\n"
    path.write_text(ours, encoding="utf-8")
    fa, _ = project.load_annotations("frame_0001", 96, 128)
    project.save_annotations("frame_0001", fa)
    assert path.read_bytes() == ours.encode("utf-8")

    # editing the line moves one point of that shape; every other shape stays as read, in its place
    fa.move_point(1, 0, (6.0, 61.0))
    fa.add([[100, 90], [120, 92]])
    project.save_annotations("frame_0001", fa)
    before, after = _every_shape_type()["shapes"], json.loads(path.read_text())["shapes"]
    assert after[1]["points"][0] == [6.0, 61.0] and after[1]["shape_type"] == "line"
    assert after[1]["score"] == 0.93 and list(after[1]) == list(before[1])
    assert [s for k, s in enumerate(after) if k not in (1, 9)] == [s for k, s in enumerate(before) if k != 1]
    assert after[9]["shape_type"] == "linestrip" and after[9]["points"] == [[100.0, 90.0], [120.0, 92.0]]


@pytest.mark.parametrize("change, message", [
    ({"flags": ["reviewed"]}, "flags: must be an object"),
    ({"flags": "yes"}, "flags: must be an object"),
    ({"shapes": [{"label": "d", "points": [[1, 1], [5, 5]], "shape_type": None}]}, r"shapes\[0\].shape_type"),
    ({"shapes": [{"label": "d", "points": [[1, 1], [5, 5]], "shape_type": "linestrip", "flags": [1]}]},
     r"shapes\[0\].flags: must be an object"),
    ({"imagePath": 5}, "imagePath: must be a file name"),
])
def test_malformed_labelme_fields_are_refused(tmp_path, change, message):
    """Issue 18.6: flags that are not an object and a null shape_type are errors naming the field."""
    from core.errors import DislocError

    d = {"version": "5.5.0", "flags": {}, "shapes": [], "imagePath": "f.png", "imageData": None,
         "imageHeight": 8, "imageWidth": 8, **change}
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(d))
    with pytest.raises(DislocError, match=message) as e:
        read_labelme(f)
    assert "bad.json" in str(e.value)


def test_predicted_lines_are_apart_one_step_each_and_never_written(tmp_path):
    fa = FrameAnnotations(100, 100)
    fa.add([[10, 10], [12, 50], [10, 90]])
    put = fa.set_predicted([np.array([[11, 12], [12, 50], [11, 88]]),  # along the drawn line: left out
                            np.array([[60, 10], [62, 50], [60, 90]]), np.array([[5, 5]])])  # one point: no line
    assert put == 1 and len(fa) == 2 and fa.n_predicted == 1 and fa[1].predicted and not fa[0].predicted
    assert len(fa.to_labelfile("f.png").shapes) == 1
    assert fa.set_predicted([np.array([[70, 10], [70, 90]])]) == 1 and len(fa) == 2  # replaces the predicted
    fa.undo()
    assert fa[1].points[0].tolist() == [60, 10]
    assert fa.accept_predicted() == 1 and fa.n_predicted == 0 and len(fa.to_labelfile("f.png").shapes) == 2
    fa.undo()
    assert fa.discard_predicted() == 1 and len(fa) == 1
    fa.undo()
    fa.begin_drag()  # editing a predicted line accepts it, in the edit's one step
    fa.drag_point(1, 0, (58, 12))
    assert fa.end_drag() and not fa[1].predicted
    fa.undo()
    assert fa[1].predicted and fa[1].points[0].tolist() == [60, 10]
