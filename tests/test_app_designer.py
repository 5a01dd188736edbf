"""The Designer panel with real widgets: live preview, twin, presets, dataset generation."""
import json

import numpy as np
import pytest

from app.gui import workers
from app.gui.mainwindow import MainWindow
from app.gui.panels.designer_state import render_preview
from app.gui.testing import make_project, temp_settings
from core.project.annotation import FrameAnnotations


@pytest.fixture
def win(qtbot, tmp_path):
    project = make_project(tmp_path / "proj", n_frames=2, size=(96, 128))
    w = MainWindow(settings=temp_settings(tmp_path))
    qtbot.addWidget(w)
    w.resize(1300, 850)
    w.show()
    d = w.show_panel("designer")
    qtbot.waitUntil(d.is_ready, timeout=20000)
    w.open_project(project.root)
    yield w
    w.close()
    assert not workers.live_jobs(), "a worker thread was left running"


def _settled(panel):
    return lambda: panel.is_ready() and not panel._debounce.isActive()


def test_slider_move_updates_preview(qtbot, win):
    d = win.panels["designer"]
    before = d.compare.synth.data.copy()
    row = d.form.rows["lambda1"]
    with qtbot.waitSignal(d.previewShown, timeout=20000):
        row.slider.setValue(row.slider.maximum())
    assert d.state.params.lambda1 == pytest.approx(row.hi)
    assert not np.array_equal(before, d.compare.synth.data)


def test_newest_request_wins(qtbot, win):
    d = win.panels["designer"]
    row = d.form.rows["contrast"]
    for k in range(6):  # faster than a render: only the last one must end up on screen
        row.slider.setValue(100 + 150 * k)
    qtbot.waitUntil(_settled(d), timeout=20000)
    expected = render_preview(d.state.params, d.state.seed)["image"]
    assert np.array_equal(d.compare.synth.data, expected)


def test_new_sample_and_overlay_toggle(qtbot, win):
    d = win.panels["designer"]
    before = d.compare.synth.data.copy()
    with qtbot.waitSignal(d.previewShown, timeout=20000):
        d.new_btn.click()
    assert d.state.seed == 2 and not np.array_equal(before, d.compare.synth.data)
    d.overlay_box.setChecked(False)
    assert not d.compare.overlay.isVisible() and not d.act_masks.isChecked()
    d.act_traces.trigger()
    assert d.traces_box.isChecked()


def test_profiles_and_histograms_of_both_images(qtbot, win):
    d = win.panels["designer"]
    assert d.compare.real.data is not None
    d.compare.set_line("real", (20, 50), (100, 50))
    x, y = d.compare.profile("real")
    assert len(y) > 50 and x[-1] == pytest.approx(80, abs=1)
    # the test frames have a dark line near x = 51 at mid height: the profile dips there
    assert y.min() < np.median(y) - 0.1
    xs, ys = d.compare.profile("synth")
    assert len(ys) > 10
    hx, hy = d.compare.hist_curves["real"].getData()
    assert len(hx) == len(hy) + 1 and hy.sum() > 0


def test_twin_this_frame(qtbot, win):
    d = win.panels["designer"]
    project = win.ctx.project
    fa = FrameAnnotations(96, 128)
    fa.add([[50, 5], [53, 48], [50, 90]])
    fa.add([[90, 10], [95, 80]])
    project.save_annotations("frame_000", fa)
    d.frame_spin.setValue(0)
    with qtbot.waitSignal(d.previewShown, timeout=20000):
        assert d.twin_frame()
    assert d.compare.synth.data.shape == (96, 128)
    assert "2 dislocations" in d.info.text()
    d.frame_spin.setValue(1)
    assert not d.twin_frame()
    assert "no annotated dislocations" in win.ctx.messages[-1][0]


def test_save_load_preset_and_bad_preset(qtbot, win, tmp_path):
    d = win.panels["designer"]
    row = d.form.rows["lambda1"]
    with qtbot.waitSignal(d.previewShown, timeout=20000):
        row.spin.setValue(61.0)
    path = d.save_preset(tmp_path / "mine")
    saved = json.loads(path.read_text())
    lo, hi = saved["ranges"]["lambda1"]
    assert (lo, hi) == pytest.approx((16.0, 106.0))  # m2 range width 90, re-centred
    assert d.load_preset(path) is not None
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema_version": 1, "format": "disloc-synth-preset", "name": "b",
                               "ranges": {"lambda1": [10, 20], "wobble": 3}}))
    assert d.load_preset(bad) is None
    text = win.messages.text
    assert "bad.json" in text and "wobble" in text
    assert d.state.preset.name == "mine"  # the previous preset is still in use


def test_generate_dataset_through_the_dialog(qtbot, win, tmp_path):
    pytest.importorskip("core.synth.writer")
    from core.io.dataset import list_samples

    d = win.panels["designer"]
    dlg = d.generate_dialog()
    dlg.count.setValue(3)
    dlg.size.setValue(64)
    dlg.folder.setText(str(tmp_path / "ds"))
    with qtbot.waitSignal(dlg.done, timeout=60000):
        dlg.start_btn.click()
    assert len(list_samples(tmp_path / "ds")) == 3
    assert dlg.bar.value() == dlg.bar.maximum()
    dlg.close()


def test_cancel_dataset_generation(qtbot, win, tmp_path):
    pytest.importorskip("core.synth.writer")
    d = win.panels["designer"]
    dlg = d.generate_dialog()
    dlg.count.setValue(500)
    dlg.size.setValue(64)
    dlg.folder.setText(str(tmp_path / "ds"))
    dlg.start_btn.click()
    qtbot.waitUntil(lambda: dlg.bar.value() >= 1, timeout=30000)  # running, with progress shown
    assert "ETA" in dlg.status.text()
    with qtbot.waitSignal(dlg.stopped, timeout=60000) as blocker:
        dlg.cancel_btn.click()
    assert blocker.args[0] == "stopped"
    assert "cancelled" in dlg.status.text() and dlg.start_btn.isEnabled()
    dlg.close()


def test_real_patch_background_from_project(qtbot, win):
    d = win.panels["designer"]
    combo = d.form.rows["background"]
    combo.setCurrentText("patches")  # no patches in the project yet: a message, Perlin stays
    assert d.state.params.background == "perlin" and combo.currentText() == "perlin"
    assert "no background patches" in win.messages.text
    project = win.ctx.project
    rng = np.random.default_rng(0)
    for _ in range(2):
        project.save_background(rng.random((64, 64)).astype(np.float32) * 0.2 + 0.6, "p")
    with qtbot.waitSignal(d.previewShown, timeout=20000):
        combo.setCurrentText("patches")
    assert d.state.params.background == "patches" and d.state.params.patch_dir == str(project.backgrounds_dir)
    assert d.last_result["background"] == "patches"


def test_sliders_have_plain_names_and_the_papers_symbols_in_the_tooltip(qtbot, win):
    from PySide6 import QtCore, QtGui, QtWidgets

    d = win.panels["designer"]
    label = d.form.labels["lambda1"]
    assert label.text() == "blotch size (px)" and "λ1" in label.toolTip() and "lambda1" in label.toolTip()
    assert d.form.labels["w_white"].text() == "grain" and d.form.labels["grain_noise"].text() == "camera noise"
    titles = [b.title() for b in d.form.boxes.values()]
    assert {"Illumination", "Lines that are not dislocations (never masked)", "Specks and dirt", "Camera"} <= set(titles)
    # pointing at a row explains it in a line under the sliders
    QtWidgets.QApplication.sendEvent(d.form.rows["specks"], QtGui.QEnterEvent(QtCore.QPointF(2, 2),
                                                                              QtCore.QPointF(2, 2),
                                                                              QtCore.QPointF(2, 2)))
    assert d.explain.text().startswith("specks: small round specks")


def test_realistic_preset_from_the_chooser_renders_its_scenery(qtbot, win):
    d = win.panels["designer"]
    assert "realistic" in [d.preset_combo.itemData(i) for i in range(d.preset_combo.count())]
    with qtbot.waitSignal(d.previewShown, timeout=30000):
        d.choose_preset("realistic")
    qtbot.waitUntil(_settled(d), timeout=30000)
    p = d.state.params
    assert d.state.preset.name == "realistic" and d.preset_combo.currentText() == "realistic"
    assert d.compare.synth.data.shape == (p.height, p.size)
    assert p.grain_noise > 0 and d.form.rows["grain_noise"].value() == pytest.approx(p.grain_noise, abs=1e-3)
    # how it is computed sits apart, named plainly
    assert p.renderer == "fast" and d.form.rows["renderer"].value() == "fast"
    assert d.form.labels["renderer"].text().startswith("rendering")
    assert "Advanced" in [b.title() for b in d.form.boxes.values()]
    expected = render_preview(p, d.state.seed)["image"]
    assert np.array_equal(d.compare.synth.data, expected)


def test_twin_hides_the_controls_it_does_not_use(qtbot, win):
    d = win.panels["designer"]
    fa = FrameAnnotations(96, 128)
    fa.add([[50, 5], [53, 48], [50, 90]])
    win.ctx.project.save_annotations("frame_000", fa)
    d.frame_spin.setValue(0)
    assert not d.form.is_hidden("spacing")
    with qtbot.waitSignal(d.previewShown, timeout=20000):
        d.twin_btn.click()
    assert d.form.is_hidden("spacing") and d.form.is_hidden("slip_width") and not d.form.is_hidden("contrast")
    assert not d.form.boxes["Pileup"].isVisibleTo(d) and d.pileup_combo.isHidden()
    d.draw_from_preset()  # leaves twin mode
    assert not d.form.is_hidden("spacing") and not d.pileup_combo.isHidden()


def test_a_setting_that_leaves_pileups_out_says_so(qtbot, win):
    d = win.panels["designer"]
    n_pileups = len(d.state.params.pileups)
    assert n_pileups > 1
    d.pileup_combo.setCurrentIndex(0)
    with qtbot.waitSignal(d.previewShown, timeout=20000):
        d.form.rows["n_dislocations"].spin.setValue(20)
    text = win.ctx.messages[-1][0]
    assert text.startswith(f"20 dislocations fill the image: {n_pileups - 1} pileups left out")
    qtbot.waitUntil(_settled(d), timeout=20000)
    assert "pileups left out" in d.info.text()


def test_backgrounds_from_my_frames_become_the_background(qtbot, win):
    d = win.panels["designer"]
    project = win.ctx.project
    fa = FrameAnnotations(96, 128)  # the test frame's one dark line, traced: the rest of the frame is background
    fa.add([[51, 0], [55, 48], [51, 95]])
    project.save_annotations("frame_000", fa)
    d.harvest_backgrounds()
    assert d.harvesting and d.harvest_bar.isVisibleTo(d) and not d.harvest_btn.isEnabled()
    with qtbot.waitSignal(d.harvest_job.done, timeout=60000):
        pass
    out = project.backgrounds_dir / "from_frames"
    assert sorted(out.glob("bg_*.png")) and (out / "harvest.json").exists()
    assert d.state.params.background == "patches" and d.state.params.patch_dir == str(out)
    assert d.form.rows["background"].value() == "patches" and not d.harvest_bar.isVisibleTo(d)
    qtbot.waitUntil(_settled(d), timeout=30000)
    assert d.last_result["background"] == "patches"
