"""The Annotate panel driven with real widgets and mouse clicks (offscreen)."""
import json

import numpy as np
import pytest
from PySide6 import QtCore

from app.gui import workers
from app.gui.mainwindow import MainWindow
from app.gui.testing import click_image, drag_image, make_project, temp_settings
from core.io.labelme import read_labelme


@pytest.fixture
def win(qtbot, tmp_path):
    project = make_project(tmp_path / "proj", n_frames=3)
    w = MainWindow(settings=temp_settings(tmp_path))
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    panel = w.show_panel("annotate")
    with qtbot.waitSignal(panel.frameShown, timeout=10000):
        w.open_project(project.root)
    yield w
    w.close()
    assert not workers.live_jobs(), "a worker thread was left running"


def _draw(qtbot, panel, pts, finish="enter"):
    panel.set_tool("draw")
    for x, y in pts[:-1]:
        click_image(qtbot, panel.view, x, y)
    if finish == "enter":
        click_image(qtbot, panel.view, *pts[-1])
        qtbot.keyClick(panel.view, QtCore.Qt.Key.Key_Return)
    else:
        click_image(qtbot, panel.view, *pts[-1], double=True)


def test_draw_spline_with_clicks_autosaves_labelme(qtbot, win):
    panel = win.panels["annotate"]
    pts = [(40, 10), (48, 40), (45, 70), (50, 90)]
    _draw(qtbot, panel, pts)
    assert len(panel.fa) == 1
    got = panel.fa[0].points
    assert np.allclose(got, pts, atol=1.0)  # clicks land on the image pixels we aimed at
    assert panel.list.count() == 1 and "px" in panel.list.item(0).text()
    path = win.ctx.project.annotation_path(panel.frame_name(0))
    lf = read_labelme(path)
    assert lf.shapes[0].shape_type == "linestrip" and np.allclose(lf.shapes[0].points, got)
    assert (path.parent / lf.image_path).exists()  # labelme can open the frame beside it
    # a second one, finished with a double click
    _draw(qtbot, panel, [(90, 20), (100, 50), (95, 80)], finish="double")
    assert len(panel.fa) == 2 and len(panel.fa[1].points) == 3
    assert len(read_labelme(path).shapes) == 2


def test_undo_redo_shortcuts_and_autosave(qtbot, win):
    panel = win.panels["annotate"]
    _draw(qtbot, panel, [(40, 10), (45, 50), (50, 90)])
    path = win.ctx.project.annotation_path(panel.frame_name(0))
    qtbot.keyClick(panel.view, QtCore.Qt.Key.Key_Z, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert len(panel.fa) == 0 and read_labelme(path).shapes == []
    qtbot.keyClick(panel.view, QtCore.Qt.Key.Key_Z,
                   QtCore.Qt.KeyboardModifier.ControlModifier | QtCore.Qt.KeyboardModifier.ShiftModifier)
    assert len(panel.fa) == 1 and len(read_labelme(path).shapes) == 1


def test_drag_point_is_one_undo_step_and_delete(qtbot, win):
    panel = win.panels["annotate"]
    _draw(qtbot, panel, [(40, 10), (45, 50), (50, 90)])
    panel.set_tool("select")
    drag_image(panel.view, (45, 50), (60, 55))
    assert np.allclose(panel.fa[0].points[1], (60, 55), atol=1.0)
    saved = read_labelme(win.ctx.project.annotation_path(panel.frame_name(0)))
    assert np.allclose(saved.shapes[0].points[1], (60, 55), atol=1.0)
    panel.undo()
    assert np.allclose(panel.fa[0].points[1], (45, 50), atol=1.0)  # the whole drag undone at once
    panel.redo()
    # the selected point (from the drag) goes with Delete; then the dislocation
    qtbot.keyClick(panel.view, QtCore.Qt.Key.Key_Delete)
    assert len(panel.fa[0].points) == 2
    qtbot.keyClick(panel.view, QtCore.Qt.Key.Key_Escape)
    assert panel.editor.selected == -1
    click_image(qtbot, panel.view, 42.5, 30)  # a click on the (now straight) curve selects the dislocation
    assert panel.editor.selected == 0 and panel.editor.selected_point == -1
    qtbot.keyClick(panel.view, QtCore.Qt.Key.Key_Delete)
    assert len(panel.fa) == 0


def test_click_on_selected_curve_inserts_point(qtbot, win):
    panel = win.panels["annotate"]
    _draw(qtbot, panel, [(40, 10), (40, 90)])
    panel.set_tool("select")
    qtbot.keyClick(panel.view, QtCore.Qt.Key.Key_Escape)  # the new line starts selected
    click_image(qtbot, panel.view, 40, 50)  # selects
    assert panel.editor.selected == 0 and len(panel.fa[0].points) == 2
    click_image(qtbot, panel.view, 40, 50)  # inserts
    assert len(panel.fa[0].points) == 3 and np.allclose(panel.fa[0].points[1], (40, 50), atol=1.0)


def test_reload_and_hand_written_labelme(qtbot, tmp_path, win):
    panel = win.panels["annotate"]
    project = win.ctx.project
    # a file written by hand for frame 1, as labelme would write it
    d = {"version": "5.5.0", "flags": {}, "imagePath": "../frames/frame_001.png", "imageData": None,
         "imageHeight": 96, "imageWidth": 128,
         "shapes": [{"label": "dislocation", "points": [[10, 10], [20, 40], [30, 80]], "group_id": None,
                     "shape_type": "linestrip", "flags": {}},
                    {"label": "d2", "points": [[60, 10], [90, 10], [90, 40]], "group_id": None,
                     "shape_type": "polygon", "flags": {}}]}
    (project.annotations_dir / "frame_001.json").write_text(json.dumps(d))
    with qtbot.waitSignal(panel.frameShown, timeout=10000):
        panel.slider.setValue(1)
    assert len(panel.fa) == 2 and panel.list.count() == 2
    _draw(qtbot, panel, [(100, 60), (110, 90)])
    # a new window on the same project sees the saved edits
    w2 = MainWindow(settings=temp_settings(tmp_path / "s2"))
    qtbot.addWidget(w2)
    p2 = w2.show_panel("annotate")
    with qtbot.waitSignal(p2.frameShown, timeout=10000):
        w2.open_project(project.root)
    with qtbot.waitSignal(p2.frameShown, timeout=10000):
        p2.slider.setValue(1)
    assert len(p2.fa) == 3
    w2.close()


def test_bad_labelme_files_give_messages_and_the_rest_works(qtbot, win):
    panel = win.panels["annotate"]
    project = win.ctx.project
    ann = project.annotations_dir
    (ann / "frame_001.json").write_text(json.dumps(
        {"imageHeight": 50, "imageWidth": 50, "shapes": [{"points": [[1, 1], [5, 5]], "shape_type": "linestrip"}]}))
    (ann / "frame_002.json").write_text(json.dumps(
        {"imageHeight": 96, "imageWidth": 128,
         "shapes": [{"label": "x", "points": [[1, 1], [5, 5]], "shape_type": "circle"}]}))
    with qtbot.waitSignal(panel.frameShown, timeout=10000):
        panel.slider.setValue(1)
    assert "frame_001.json" in win.messages.text and "50x50" in win.messages.text
    assert len(panel.fa) == 0
    _draw(qtbot, panel, [(10, 10), (20, 80)])  # still usable; the old file is kept as .bak
    assert (ann / "frame_001.json.bak").exists() and len(read_labelme(ann / "frame_001.json").shapes) == 1
    with qtbot.waitSignal(panel.frameShown, timeout=10000):
        panel.slider.setValue(2)
    assert "frame_002.json" in win.messages.text and "circle" in win.messages.text
    _draw(qtbot, panel, [(10, 10), (20, 80)])
    kinds = [s.shape_type for s in read_labelme(ann / "frame_002.json").shapes]
    assert kinds == ["linestrip", "circle"]  # the unknown shape is kept


def test_copy_previous_and_background_patch(qtbot, win):
    panel = win.panels["annotate"]
    _draw(qtbot, panel, [(40, 10), (45, 50), (50, 90)])
    with qtbot.waitSignal(panel.frameShown, timeout=10000):
        qtbot.keyClick(panel.view, QtCore.Qt.Key.Key_PageDown)
    assert panel.index == 1 and len(panel.fa) == 0
    panel.act_copy_prev.trigger()
    assert len(panel.fa) == 1
    # patch over the dislocation is refused, elsewhere it is saved as 16-bit PNG
    panel.act_patch.trigger()
    panel.patch_roi.setPos((30, 20))
    panel.patch_roi.setSize((30, 30))
    panel.act_patch.trigger()
    assert "crosses dislocation" in win.messages.text and not win.ctx.project.background_files()
    panel.act_patch.trigger()
    panel.patch_roi.setPos((80, 40))
    panel.patch_roi.setSize((40, 40))
    panel.act_patch.trigger()
    files = win.ctx.project.background_files()
    assert len(files) == 1
    import imageio.v3 as iio
    img = iio.imread(files[0])
    assert img.dtype == np.uint16 and img.shape == (40, 40)


def test_status_bar_shows_pixel_under_cursor(qtbot, win):
    panel = win.panels["annotate"]
    pos = panel.view.view_to_widget(20.5, 30.5)
    qtbot.mouseMove(panel.view.viewport(), pos)
    qtbot.waitUntil(lambda: "x 20" in win.pixel_label.text(), timeout=3000)
    assert "y 30" in win.pixel_label.text() and "value" in win.pixel_label.text()


def test_unreadable_frame_in_a_folder_is_reported(qtbot, win):
    panel = win.panels["annotate"]
    frames = win.ctx.project.frames_path
    (frames / "frame_002.png").write_bytes(b"not a png")
    with qtbot.waitSignal(win.ctx.message, timeout=10000, check_params_cb=lambda t, lv: lv == "error"):
        panel.slider.setValue(2)
    assert "frame_002" in win.messages.text or "frame 2" in win.messages.text
    assert "another frame" in win.messages.text
    with qtbot.waitSignal(panel.frameShown, timeout=10000):
        panel.slider.setValue(1)  # the other frames still work
    assert panel.index == 1


def _keys(qtbot, panel, key, mods=QtCore.Qt.KeyboardModifier.NoModifier):
    qtbot.keyClick(panel.view, key, mods)


CTRL, SHIFT = QtCore.Qt.KeyboardModifier.ControlModifier, QtCore.Qt.KeyboardModifier.ShiftModifier


def test_predict_this_frame_keeps_lines_apart_accept_discard_undo(qtbot, win):
    """The shipped model on the frame's dark line: predicted lines apart, each action one undo step."""
    panel = win.panels["annotate"]
    hand = [(110, 10), (112, 50), (110, 90)]  # hand-drawn, far from the frame's dark line (x 51-59 px)
    _draw(qtbot, panel, hand)
    path = win.ctx.project.annotation_path(panel.frame_name(0))
    _keys(qtbot, panel, QtCore.Qt.Key.Key_P)  # Predict this frame, in a worker
    qtbot.waitUntil(lambda: panel.fa.n_predicted > 0, timeout=60000)
    n = panel.fa.n_predicted
    assert len(panel.fa) == 1 + n and not panel.fa[0].predicted and np.allclose(panel.fa[0].points, hand, atol=1.0)
    assert abs(panel.fa[1].curve()[:, 0].mean() - 55) < 10  # on the dark line
    assert len(read_labelme(path).shapes) == 1  # predicted lines are not annotations
    assert "predicted" in panel.list.item(1).text() and "predicted" in panel.list_label.text()
    assert panel.act_accept.isEnabled() and panel.act_discard.isEnabled()
    # undo takes the whole prediction back in one step; the hand-drawn line stays
    _keys(qtbot, panel, QtCore.Qt.Key.Key_Z, CTRL)
    assert len(panel.fa) == 1 and panel.fa.n_predicted == 0 and np.allclose(panel.fa[0].points, hand, atol=1.0)
    _keys(qtbot, panel, QtCore.Qt.Key.Key_Z, CTRL | SHIFT)
    assert panel.fa.n_predicted == n
    # accept: one step, saved; undo brings them back as predicted, and the file back to the hand line
    _keys(qtbot, panel, QtCore.Qt.Key.Key_Return, CTRL)
    assert panel.fa.n_predicted == 0 and len(panel.fa) == 1 + n and len(read_labelme(path).shapes) == 1 + n
    _keys(qtbot, panel, QtCore.Qt.Key.Key_Z, CTRL)
    assert panel.fa.n_predicted == n and len(read_labelme(path).shapes) == 1
    # discard: one step
    _keys(qtbot, panel, QtCore.Qt.Key.Key_Delete, SHIFT)
    assert len(panel.fa) == 1 and panel.fa.n_predicted == 0 and len(read_labelme(path).shapes) == 1
    _keys(qtbot, panel, QtCore.Qt.Key.Key_Z, CTRL)
    assert panel.fa.n_predicted == n
    # editing a predicted line (a drag of one of its points) accepts that line, in the drag's one step
    panel.set_tool("select")
    x, y = panel.fa[1].points[1]
    drag_image(panel.view, (x, y), (x + 6, y))
    assert not panel.fa[1].predicted and panel.fa.n_predicted == n - 1
    assert np.allclose(panel.fa[1].points[1], (x + 6, y), atol=1.0)
    assert len(read_labelme(path).shapes) == 2
    panel.undo()
    assert panel.fa.n_predicted == n and np.allclose(panel.fa[1].points[1], (x, y))
    # predicting again replaces predicted lines only, and leaves out what is traced already
    panel.fa.accept_predicted()
    panel.predict_frame()
    qtbot.waitUntil(lambda: not panel._predicting.busy, timeout=60000)
    assert panel.fa.n_predicted == 0 and len(panel.fa) == 1 + n


def test_predict_this_frame_uses_the_segment_panels_scale(qtbot, win):
    """Predicted at the Segment panel's Scale, the lines come back in the frame's pixels; a bad scale says where."""
    panel, seg = win.panels["annotate"], win.panels["segment"]
    seg.form.scale.setCurrentText("abc")
    panel.predict_frame()
    text, level = win.ctx.messages[-1]
    assert "abc" in text and "Segment panel" in text and not panel._predicting.busy and panel.fa.n_predicted == 0
    seg.form.scale.setCurrentText("2")
    panel.predict_frame()
    assert any("at scale 2.0" in t for t, _ in win.ctx.messages[-3:])
    qtbot.waitUntil(lambda: panel.fa.n_predicted > 0, timeout=60000)
    xs = panel.fa[0].curve()[:, 0]
    assert abs(xs.mean() - 55) < 10 and panel.fa[0].curve()[:, 1].max() <= panel.fa.height  # frame pixels


def test_frame_slider_marks_annotated_frames_not_predicted_ones(qtbot, win):
    panel = win.panels["annotate"]
    assert panel.nav.marks() == frozenset()
    _draw(qtbot, panel, [(40, 10), (45, 50), (50, 90)])
    assert panel.nav.marks() == {0} and "annotated frames (1)" in panel.slider.toolTip()
    with qtbot.waitSignal(panel.frameShown, timeout=10000):
        panel.slider.setValue(2)
    path = win.ctx.project.annotation_path(panel.frame_name(2))
    assert panel.put_predicted([np.array([[20.0, 10], [25, 50], [20, 90]])]) == 1
    assert not path.exists() and panel.nav.marks() == {0}  # a prediction is not an annotation
    panel.discard_predicted()
    assert not path.exists()
    panel.undo()
    panel.accept_predicted()
    assert path.exists() and panel.nav.marks() == {0, 2}
    panel.nav.slider.repaint()  # the marks paint (offscreen) without error
    assert panel.nav.slider.mark_x(2) > panel.nav.slider.mark_x(0)
