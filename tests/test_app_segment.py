"""The Segment panel: one frame with a key, the mask viewer, spline inspection, prediction -> annotation,
and the whole video in the background (the same files as core's segment_video)."""
import json

import numpy as np
import pytest
import torch
from PySide6 import QtCore

from app.gui import workers
from app.gui.mainwindow import MainWindow
from app.gui.testing import click_image, temp_settings
from core.analysis.export import read_splines_csv
from core.analysis.results import mask_path, read_state
from core.analysis.segment import segment_video
from core.analysis.segmentconfig import SegmentConfig
from core.io.dataset import load_masks
from core.io.fileio import atomic_write_png
from core.io.labelme import rasterize_polyline, read_labelme
from core.learn.model import create_model, make_header, save_checkpoint
from core.project.folder import Project
from core.project.runs import select_model
from core.synth.video import make_glide_video

N_FRAMES, SIZE = 5, 96


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """An untrained tiny network: the plumbing is tested, not the accuracy."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_checkpoint(path, create_model("unetplusplus", "resnet18", 4),
                    make_header(arch="unetplusplus", encoder="resnet18", n_masks=4, input_size=64))
    return path


@pytest.fixture(scope="module")
def video():
    return make_glide_video(n_frames=N_FRAMES, seed=3, size=SIZE, shift_px=2.0, n_dislocations=3)


@pytest.fixture
def win(qtbot, tmp_path, checkpoint, video):
    torch.set_num_threads(1)
    folder = tmp_path / "proj" / "frames"
    folder.mkdir(parents=True)
    for i, s in enumerate(video):
        atomic_write_png(folder / f"frame_{i:04d}.png", s.image_u8())
    project = Project.create(tmp_path / "proj", frames=folder)
    select_model(project.root, checkpoint)
    w = MainWindow(settings=temp_settings(tmp_path))
    qtbot.addWidget(w)
    w.resize(1300, 850)
    w.show()
    panel = w.show_panel("segment")
    with qtbot.waitSignal(panel.frameShown, timeout=20000):
        w.open_project(project.root)
    yield w
    w.close()
    assert not workers.live_jobs(), "a worker thread was left running"


def known_probs(sample) -> np.ndarray:
    """Six model outputs: A, a near copy of A, B, C with a line across it, two empty."""
    a, b, c = sample.masks[0], sample.masks[1], sample.masks[2]
    h, w = a.shape
    ys, xs = np.nonzero(c)
    cx, cy = xs.mean(), ys.mean()
    cross = rasterize_polyline(np.array([[cx - 14, cy - 14], [cx + 14, cy + 14]]), (h, w), 2.0)
    near_a = a.copy()
    near_a[np.nonzero(a)[0][:3], np.nonzero(a)[1][:3]] = False  # a few pixels less: near-identical
    probs = np.zeros((6, h, w), np.float32)
    probs[0][a] = 0.9
    probs[1][near_a] = 0.8
    probs[2][b] = 0.9
    probs[3][c | cross] = 0.85
    return probs


def test_segment_frame_with_one_key(qtbot, win):
    panel = win.panels["segment"]
    assert panel.model_path is not None and "project model" in panel.model_label.text()
    with qtbot.waitSignal(panel.segmented, timeout=30000) as got:
        qtbot.keyClick(panel, QtCore.Qt.Key.Key_F5)
    assert got.args == [0]
    v = panel.view
    assert v is not None and v.origin == "frame" and v.probs.shape == (4, SIZE, SIZE)
    assert v.seconds < 2.0
    assert panel.grid.count() == len(v) and len(panel.overlay.curves) == len(v)
    assert "frame 0" in panel.status.text()


def test_mask_viewer_merges_duplicates_and_flags_multiple(qtbot, win, video):
    panel = win.panels["segment"]
    v = panel.show_probs(known_probs(video[0]))
    assert len(v) == 3  # A (with its duplicate merged), B, C-with-cross
    merged = [k for k in range(3) if v.merged_from[k]]
    assert len(merged) == 1 and v.merged_from[merged[0]] == [1] and v.channels[merged[0]] == 0
    flagged = [k for k in range(3) if v.flagged(k)]
    assert flagged == [v.channels.index(3)]
    caps = panel.grid.captions()
    assert len(caps) == 3 and sum("+1 merged" in c for c in caps) == 1 and sum("⚠" in c for c in caps) == 1
    assert "1 with merged duplicates" in panel.inspector.summary.text() and "1 flagged" in panel.inspector.summary.text()
    # each dislocation in its own colour (core.colors by id) on the overlay, with its id
    assert [lab.toPlainText().rstrip(" ⚠") for lab in panel.overlay.labels] == ["1", "2", "3"]
    assert len({c for c in panel.overlay._colours}) == 3
    # the raw N outputs: the duplicate shows, with what happened to it
    qtbot.keyClick(panel, QtCore.Qt.Key.Key_R)
    assert panel.raw_box.isChecked()
    caps = panel.grid.captions()
    assert len(caps) == 6
    assert "duplicate, merged" in caps[1] and "kept" in caps[0] and "empty" in caps[4] and "empty" in caps[5]
    assert panel.overlay._colours[0] == panel.overlay._colours[1]  # a duplicate wears its keeper's colour
    panel.raw_box.setChecked(False)
    assert panel.grid.count() == 3


def test_min_length_setting_drops_short_masks(qtbot, win, video):
    panel = win.panels["segment"]
    probs = known_probs(video[0])
    panel.min_length.setValue(0)
    assert len(panel.show_probs(probs)) == 3
    panel.min_length.setValue(SIZE)  # longer than any line of these small frames
    assert panel.postprocess_config().min_length_px == SIZE
    v = panel.show_probs(probs)
    assert len(v) == 0 and panel.grid.count() == 0
    panel.join_gap.setValue(0)
    assert panel.postprocess_config().join_gap_px == 0  # the box reaches core's settings


def test_click_dislocation_shows_spline_points_and_curvature(qtbot, win, video):
    panel = win.panels["segment"]
    v = panel.show_probs(known_probs(video[0]))
    k = v.channels.index(2)  # B
    x, y = v.splines[k].xy[25]
    click_image(qtbot, panel.pane, x, y)
    assert panel.selected == k
    assert panel.grid.currentRow() == k
    xs, ys = panel.curv.curve.getData()
    assert len(xs) == 50 and np.allclose(ys, v.splines[k].curvature)
    assert len(panel.overlay.points_item.data) == 50
    assert f"dislocation {v.ids[k]}" in panel.inspector.info.text() and "length" in panel.inspector.info.text()
    click_image(qtbot, panel.pane, 2, 2)  # away from every line
    assert panel.selected == -1 and len(panel.curv.curve.getData()[0] or []) == 0


def test_prediction_becomes_editable_annotation(qtbot, win, video):
    panel = win.panels["segment"]
    ann = win.panels["annotate"]
    v = panel.show_probs(known_probs(video[0]))
    path = win.ctx.project.annotation_path(ann.frame_name(0) if ann.index >= 0 else "frame_0000")
    qtbot.keyClick(panel, QtCore.Qt.Key.Key_E)
    qtbot.waitUntil(lambda: path.exists(), timeout=10000)
    assert win.tabs.currentWidget() is ann
    lf = read_labelme(path)
    n = sum(s is not None for s in v.splines)
    assert len(lf.shapes) == n == len(ann.fa)
    for j, sp in enumerate(s for s in v.splines if s is not None):
        assert lf.shapes[j].shape_type == "linestrip" and 6 <= len(lf.shapes[j].points) <= 10
        # the spline through the support points follows the predicted line
        dense = ann.fa[j].curve()
        gap = np.hypot(sp.xy[:, None, 0] - dense[None, :, 0], sp.xy[:, None, 1] - dense[None, :, 1]).min(1)
        assert gap.max() < 1.5
    assert (path.parent / lf.image_path).exists()  # opens in labelme
    qtbot.keyClick(ann.view, QtCore.Qt.Key.Key_Z, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert len(read_labelme(path).shapes) == 0  # what was there before (nothing) comes back


def test_edit_as_annotation_never_replaces_traced_lines(qtbot, win, video):
    panel, ann = win.panels["segment"], win.panels["annotate"]
    win.show_panel("annotate")
    qtbot.waitUntil(lambda: ann.fa is not None and ann.index == 0, timeout=10000)
    ann.fa.add([[5.0, 5.0], [6.0, 40.0], [5.0, 90.0]])  # traced by hand, away from the predicted lines
    path = win.ctx.project.annotation_path(ann.frame_name(0))
    win.show_panel("segment")
    panel.show_probs(known_probs(video[0]))
    panel.edit_as_annotation()
    qtbot.waitUntil(lambda: ann.fa.n_predicted > 0, timeout=10000)
    assert not ann.fa[0].predicted and np.allclose(ann.fa[0].points[0], (5, 5))  # kept
    assert len(read_labelme(path).shapes) == 1  # the prediction waits beside it, not saved
    ann.accept_predicted()
    assert len(read_labelme(path).shapes) == len(ann.fa) > 1


def test_whole_video_cancel_resume_writes_what_core_writes(qtbot, win, checkpoint, tmp_path):
    panel = win.panels["segment"]
    out = panel.result_dir()
    with qtbot.waitSignal(panel.videoDone, timeout=60000):
        qtbot.keyClick(panel, QtCore.Qt.Key.Key_F5, QtCore.Qt.KeyboardModifier.ControlModifier)
        panel.cancel()  # the job stops at its first check, after one frame
    state = read_state(out)
    assert 1 <= state["frames_done"] < N_FRAMES and not state["finished"]
    assert "resume" in panel.status.text()
    with qtbot.waitSignal(panel.videoDone, timeout=60000):
        panel.segment_video()  # resumes
    state = read_state(out)
    assert state["finished"] and state["frames_done"] == N_FRAMES
    cols = read_splines_csv(out / "splines.csv")
    keys = set(zip(cols["frame"], cols["mask_index"], cols["point_index"]))
    assert len(keys) == len(cols["frame"])  # resuming wrote no row twice
    assert all(mask_path(out, i).exists() for i in range(N_FRAMES))
    # 'start over' and a full run: the same files as a plain core (CLI) run with the same model
    panel.restart_box.setChecked(True)
    with qtbot.waitSignal(panel.videoDone, timeout=60000):
        panel.segment_video()
    assert not panel.restart_box.isChecked()
    # The panel's own background work (loading results, warming the model) ends before this
    # thread runs torch too: two threads starting OpenMP work at once is what we avoid.
    qtbot.waitUntil(lambda: not workers.live_jobs(), timeout=30000)
    ref = tmp_path / "cli"
    segment_video(win.ctx.project.frames_path, checkpoint, ref)  # the CLI defaults
    assert (out / "splines.csv").read_text() == (ref / "splines.csv").read_text()
    for i in range(N_FRAMES):
        a, b = load_masks(mask_path(out, i)), load_masks(mask_path(ref, i))
        assert a.shape == b.shape, (i, a.shape, b.shape)
        assert np.array_equal(a, b), (i, a.shape, [(m ^ n).sum() for m, n in zip(a, b)])
    # scrubbing now shows the stored result of each frame
    qtbot.waitUntil(lambda: panel._result is not None, timeout=10000)
    panel.slider.setValue(3)
    qtbot.waitUntil(lambda: panel.index == 3 and panel.view is not None, timeout=10000)
    assert panel.view.origin == "video" and panel.view.index == 3


def test_without_a_model_the_panel_says_what_to_do(qtbot, win, checkpoint):
    from core.project.runs import clear_selected_model, selected_model
    from core.shipped import default_model_path

    panel = win.panels["segment"]
    root = win.ctx.project.root
    clear_selected_model(root)
    panel.refresh_model()
    if default_model_path().is_file():
        assert "shipped default model" in panel.model_label.text()
    else:
        assert "none" in panel.model_label.text()
        qtbot.keyClick(panel, QtCore.Qt.Key.Key_F5)
        text, level = win.ctx.messages[-1]
        assert level == "warning" and "default" in text and "choose a checkpoint" in text
    panel.use_model(checkpoint)  # what Choose model… does after the file dialog
    assert selected_model(root) == checkpoint and "project model" in panel.model_label.text()
    # Choose model… also offers the shipped models by name
    real = panel.shipped_actions["realistic"]
    assert real.text() == "Shipped model for real frames" and real.isEnabled()
    real.trigger()
    assert selected_model(root).name == "realistic.pt"
    text = panel.model_label.text()
    assert "</b> realistic.pt <i>(shipped model for real frames, chosen for this project)" in text
    # stored by name, so the choice survives reinstalling the package elsewhere
    assert json.loads((root / "runs" / "selected.json").read_text())["checkpoint"] == "realistic"


def test_pixel_size_from_a_drawn_line_puts_nm_in_the_inspector(qtbot, win, video):
    panel = win.panels["segment"]
    v = panel.show_probs(known_probs(video[0]))
    k = v.channels.index(2)
    panel.select(k)
    L = v.splines[k].length_px
    assert f"{L:.1f} px" in panel.inspector.info.text() and panel.pane.scale_bar.text.endswith(" px")
    dlg = win.calibration_dialog()
    dlg.set_line((10, 50), (90, 50))  # 80 px along a feature 40 nm long
    dlg.known.setValue(40.0)
    assert dlg.line_length_px() == pytest.approx(80.0, abs=0.01) and dlg.apply_line() == pytest.approx(0.5)
    dlg.fps.setValue(20.0)
    with qtbot.waitSignal(win.ctx.unitsChanged, timeout=5000):
        dlg.accept()
    saved = Project.open(win.ctx.project.root)
    assert (saved.pixel_size_nm, saved.fps) == (0.5, 20.0)
    assert f"{0.5 * L:.1f} nm" in panel.inspector.info.text() and f"({L:.0f} px)" in panel.inspector.info.text()
    assert panel.curv.getPlotItem().getAxis("bottom").labelText == "arc length (nm)"
    assert panel.pane.scale_bar.text.endswith(" nm")
    assert "0.5 nm/px" in win.units_btn.text() and "20 frames/s" in win.units_btn.text()
    # the whole-video run takes the project's calibration: splines.csv gets nm columns and times
    assert panel.form.config(units=win.ctx.units()).pixel_size_nm == 0.5


def test_whole_video_view_and_f5_count_merged_duplicates_alike(qtbot, win, video):
    """The same model outputs, read back from a batch run's files and segmented now: the same counts."""
    from core.analysis.frameview import view_from_probs
    from core.analysis.results import ResultIndex

    class Known:  # stands in for the network: the same six outputs for every frame
        n_masks = 6

        def predict(self, frames, scale=1.0):
            return np.stack([known_probs(video[0])] * len(frames))

    panel = win.panels["segment"]
    out = panel.result_dir()
    segment_video(win.ctx.project.frames_path, Known(), out, SegmentConfig(batch_size=1))
    image = win.ctx.frames()[0]
    stored = ResultIndex(out).view(0, image)
    now = view_from_probs(0, image, known_probs(video[0]))
    assert stored.n_merged() == now.n_merged() == 1 and len(stored) == len(now) == 3
    panel.load_results()
    qtbot.waitUntil(lambda: panel._result is not None, timeout=10000)
    panel.slider.setValue(1)
    qtbot.waitUntil(lambda: panel.index == 1 and panel.view is not None, timeout=10000)
    assert panel.view.origin == "video" and "1 with merged duplicates" in panel.inspector.summary.text()
    assert sum("merged" in c for c in panel.grid.captions()) == 1
    panel.show_probs(known_probs(video[0]))
    assert "1 with merged duplicates" in panel.inspector.summary.text() and "1 with merged" in panel.status.text()


def test_scale_control_reaches_the_config_and_f5(qtbot, win):
    panel = win.panels["segment"]
    form = panel.form
    assert form.config().scale == 1.0
    form.scale.setCurrentText("auto")
    assert form.config().scale == "auto"
    form.scale.setCurrentText("0.5")
    assert form.config().scale == 0.5
    assert "as wide as" in form.scale.toolTip()
    with qtbot.waitSignal(panel.segmented, timeout=30000):
        panel.segment_frame()  # resampled by 0.5 before the network, masks back at the frame's size
    assert panel.view.masks.shape[1:] == panel.image.shape
    form.scale.setCurrentText("big")
    panel.segment_video()
    text, level = win.ctx.messages[-1]
    assert level == "error" and "scale" in text and not panel.running


def test_every_panel_fits_a_laptop_screen_also_after_f5(qtbot, win):
    from PySide6 import QtWidgets

    from app.gui.mainwindow import PANELS

    def fits(key):
        QtWidgets.QApplication.processEvents()
        hint = win.minimumSizeHint()
        assert hint.width() <= 1280 and hint.height() <= 720, (key, hint)
        assert (win.width(), win.height()) == (1280, 720), key

    win.resize(1280, 720)
    for key in PANELS:
        p = win.show_panel(key)
        qtbot.waitUntil(lambda: not hasattr(p, "is_ready") or p.is_ready(), timeout=30000)
        fits(key)
    panel = win.show_panel("segment")
    with qtbot.waitSignal(panel.segmented, timeout=30000):
        qtbot.keyClick(panel, QtCore.Qt.Key.Key_F5)
    fits("segment after F5")
    panel.status.setText("frame 0: " + "a status line longer than any screen " * 12)
    fits("segment with a long status line")
    assert panel.status.toolTip().startswith("frame 0:")  # cut on screen, whole in the tooltip


def test_a_resumed_run_keeps_the_scale_it_started_with(qtbot, win):
    panel = win.panels["segment"]
    out = panel.result_dir()
    with qtbot.waitSignal(panel.videoDone, timeout=60000):
        panel.segment_video()
        panel.cancel()  # stops after its first frame, without a pixel size
    win.ctx.set_calibration(0.5, None)
    with qtbot.waitSignal(panel.videoDone, timeout=60000):
        panel.segment_video()
    assert read_state(out)["finished"] and "x_nm" not in read_splines_csv(out / "splines.csv")  # one header
    assert any("resuming with the scale the run started with" in t for t, _ in win.ctx.messages)
    panel.restart_box.setChecked(True)
    with qtbot.waitSignal(panel.videoDone, timeout=60000):
        panel.segment_video()
    cols = read_splines_csv(out / "splines.csv")
    assert np.allclose(cols["x_nm"], 0.5 * cols["x_px"], atol=1e-3)


def test_full_ends_box_reaches_the_splines_and_an_older_run_resumes_with_it_unticked(qtbot, win, video):
    panel = win.panels["segment"]
    probs = known_probs(video[0])
    assert panel.form.extend_ends.isChecked() and panel.form.follow_ridge.isChecked()  # core's defaults
    panel.form.follow_ridge.setChecked(False)  # (this test is about the mask's own ends)
    assert panel.postprocess_config().follow_ridge is False and panel.postprocess_config().extend_ends is True
    full = [s.length_px for s in panel.show_probs(probs).splines]
    panel.form.extend_ends.setChecked(False)
    assert panel.postprocess_config().extend_ends is False
    short = [s.length_px for s in panel.show_probs(probs).splines]
    assert len(full) == len(short) == 3
    assert all(f >= s for f, s in zip(full, short)) and sum(full) - sum(short) > 3.0  # a few px at each end
    # a run stopped with the box unticked (as runs from before the setting) resumes only unticked
    out = panel.result_dir()
    with qtbot.waitSignal(panel.videoDone, timeout=60000):
        panel.segment_video()
        panel.cancel()
    assert not read_state(out)["finished"]
    panel.form.extend_ends.setChecked(True)
    with qtbot.waitSignal(panel.videoDone, timeout=60000):
        panel.segment_video()
    text, level = win.ctx.messages[-1]
    assert level == "error" and "extended spline ends no -> yes" in text and "Set the boxes as they were" in text
    assert not read_state(out)["finished"]  # nothing mixed into the stopped run
    panel.form.extend_ends.setChecked(False)
    with qtbot.waitSignal(panel.videoDone, timeout=60000):
        panel.segment_video()
    assert read_state(out)["finished"] and read_state(out)["postprocess"]["extend_ends"] is False


def test_a_fine_tunes_best_pt_can_be_pooled_with_its_last_pt_for_the_video(qtbot, win, checkpoint, tmp_path):
    import shutil

    panel = win.panels["segment"]
    assert not panel.pool_box.isVisible()  # tiny.pt has no last.pt beside it
    run = tmp_path / "run"
    run.mkdir()
    shutil.copyfile(checkpoint, run / "best.pt")
    torch.manual_seed(1)  # another network as the last epoch
    save_checkpoint(run / "last.pt", create_model("unetplusplus", "resnet18", 4),
                    make_header(arch="unetplusplus", encoder="resnet18", n_masks=4, input_size=64))
    panel.use_model(run / "best.pt")
    assert panel.pool_box.isVisible() and not panel.pool_box.isChecked()
    assert panel.models_in_use() == [run / "best.pt"]
    panel.pool_box.setChecked(True)
    assert panel.models_in_use() == [run / "best.pt", run / "last.pt"]
    out = panel.result_dir()
    with qtbot.waitSignal(panel.videoDone, timeout=60000):
        panel.segment_video()
    assert read_state(out)["model"] == [str((run / "best.pt").resolve()), str((run / "last.pt").resolve())]
    qtbot.waitUntil(lambda: not workers.live_jobs(), timeout=30000)
    ref = tmp_path / "cli"
    segment_video(win.ctx.project.frames_path, [run / "best.pt", run / "last.pt"], ref)  # disloc segment, two --model
    assert (out / "splines.csv").read_text() == (ref / "splines.csv").read_text()
    # F5 pools too: both networks' outputs, the lines the video run kept for this frame
    with qtbot.waitSignal(panel.segmented, timeout=30000):
        panel.segment_frame()
    assert panel.view.origin == "frame" and panel.view.probs.shape[0] == 4 + 4
    assert sorted(panel.predictor.loaded_paths) == sorted([str(run / "best.pt"), str(run / "last.pt")])
    cols = read_splines_csv(out / "splines.csv")
    stored = set(cols["dislocation_id"][cols["frame"] == panel.index])
    assert sum(s is not None for s in panel.view.splines) == len(stored)  # the lines the video run kept here
    panel.inspector.raw_box.setChecked(True)
    assert "2 models pooled (outputs 0-3 and 4-7: the first model's, then the second's)" in panel.inspector.summary.text()
    # a damaged last.pt: F5 says so and what to do; the frame's lines stay on screen
    good, shown = (run / "last.pt").read_bytes(), panel.view
    (run / "last.pt").write_bytes(good[:1000])
    errors = []
    win.ctx.error = errors.append
    panel.segment_frame()
    qtbot.waitUntil(lambda: bool(errors), timeout=30000)
    assert "last.pt" in errors[-1] and "Untick 'with last.pt'" in errors[-1] and panel.view is shown
    (run / "last.pt").write_bytes(good)
    # unticked, the run is not resumed with another set of models: the message says what to do
    panel.pool_box.setChecked(False)
    errors = []
    win.ctx.error = errors.append
    with qtbot.waitSignal(panel.videoDone, timeout=60000):
        panel.segment_video()
    assert errors and "with last.pt" in errors[-1] and "start over" in errors[-1]
    assert (out / "splines.csv").read_text() == (ref / "splines.csv").read_text()  # nothing lost
    panel.use_model(checkpoint)
    assert not panel.pool_box.isVisible() and panel.models_in_use() == [checkpoint]


def test_mirrors_box_reaches_f5_and_the_video_run_and_a_fine_tuned_model_is_told_what_to_do(qtbot, win, checkpoint,
                                                                                          tmp_path):
    panel = win.panels["segment"]
    form = panel.form
    assert form.config().mirrors == 1 and "Views of each frame" in form.mirrors.toolTip()
    assert [form.mirrors.itemText(k) for k in range(form.mirrors.count())] == ["1", "2", "4", "8"]
    # tiny.pt's header names no flipped training frames (as a fine-tuned model's): F5 says what to do
    form.mirrors.setCurrentText("4")
    assert form.config().mirrors == 4
    errors = []
    win.ctx.error = errors.append
    panel.segment_frame()
    qtbot.waitUntil(lambda: bool(errors), timeout=30000)
    assert "trained without mirrored frames" in errors[-1] and "Mirrors 1" in errors[-1]
    # a model trained on flipped frames (as the shipped ones): F5 pools the frame's two mirror images
    torch.manual_seed(2)
    flipped = tmp_path / "flipped.pt"
    save_checkpoint(flipped, create_model("unetplusplus", "resnet18", 4),
                    make_header(arch="unetplusplus", encoder="resnet18", n_masks=4, input_size=64,
                                config={"augment": ["flip", "rot90"]}))
    panel.use_model(flipped)
    form.mirrors.setCurrentText("2")
    with qtbot.waitSignal(panel.segmented, timeout=30000):
        panel.segment_frame()
    assert panel.view.origin == "frame" and panel.view.model_outputs == (4, 4)
    panel.inspector.raw_box.setChecked(True)
    assert ("2 views of the frame pooled (outputs 0-3: as it is; 4-7: mirrored left-right)"
            in panel.inspector.summary.text())
    panel.inspector.raw_box.setChecked(False)
    out = panel.result_dir()
    with qtbot.waitSignal(panel.videoDone, timeout=60000):
        panel.segment_video()
    assert read_state(out)["mirrors"] == 2
    qtbot.waitUntil(lambda: not workers.live_jobs(), timeout=30000)
    ref = tmp_path / "cli"
    segment_video(win.ctx.project.frames_path, flipped, ref, SegmentConfig(mirrors=2))  # disloc segment --mirrors 2
    assert (out / "splines.csv").read_text() == (ref / "splines.csv").read_text()
    cols = read_splines_csv(out / "splines.csv")
    stored = set(cols["dislocation_id"][cols["frame"] == panel.index])
    assert sum(s is not None for s in panel.view.splines) == len(stored)  # F5: the lines the video run kept here
    # another count does not resume the run: the message says what to do, and nothing is lost
    form.mirrors.setCurrentText("1")
    errors = []
    win.ctx.error = errors.append
    with qtbot.waitSignal(panel.videoDone, timeout=60000):
        panel.segment_video()
    assert errors and "Set Mirrors as it was to resume, or tick 'start over'" in errors[-1]
    assert (out / "splines.csv").read_text() == (ref / "splines.csv").read_text()
