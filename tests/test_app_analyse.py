"""The Analyse panel on a segmentation run with known tracks: pairs, distance plot with a frame cursor, exports."""
import csv
import xml.etree.ElementTree as ET

import imageio.v3 as iio
import numpy as np
import pytest
from PySide6 import QtCore

from app.gui import workers
from app.gui.mainwindow import MainWindow
from app.gui.testing import click_image, temp_settings
from core.analysis.export import read_splines_csv
from core.analysis.results import curves_by_track
from core.analysis.segment import segment_video
from core.analysis.segmentconfig import SegmentConfig
from core.analysis.tracking import pair_distance, pair_distance_rows
from core.io.fileio import atomic_write_png
from core.io.frames import open_frames
from core.project.folder import Project
from core.synth.video import make_glide_video

N_FRAMES, SIZE = 6, 128


class TruthModel:
    """Stands in for the network: the true masks of each frame, as probabilities (real segment_video,
    post-processing, splines and tracking run on them, so the tracks and distances are known)."""

    n_masks = 5

    def __init__(self, video):
        self.images = np.stack([s.image_u8() / 255.0 for s in video]).astype(np.float32)
        self.masks = [s.masks for s in video]

    def predict(self, frames):
        frames = np.asarray(frames, np.float32).reshape(-1, SIZE, SIZE)
        out = np.zeros((len(frames), self.n_masks, SIZE, SIZE), np.float32)
        for b, f in enumerate(frames):
            i = int(np.argmin(np.abs(self.images - f).reshape(len(self.images), -1).mean(1)))
            out[b, : len(self.masks[i])] = self.masks[i] * 0.95
        return out


@pytest.fixture(scope="module")
def video():
    return make_glide_video(n_frames=N_FRAMES, seed=5, size=SIZE, shift_px=3.0, n_dislocations=3)


@pytest.fixture
def win(qtbot, tmp_path, video):
    folder = tmp_path / "proj" / "frames"
    folder.mkdir(parents=True)
    for i, s in enumerate(video):
        atomic_write_png(folder / f"frame_{i:04d}.png", s.image_u8())
    project = Project.create(tmp_path / "proj", frames=folder)
    segment_video(folder, TruthModel(video), project.results_dir / "frames", SegmentConfig(batch_size=3))
    w = MainWindow(settings=temp_settings(tmp_path))
    qtbot.addWidget(w)
    w.resize(1300, 850)
    w.show()
    panel = w.show_panel("analyse")
    with qtbot.waitSignal(panel.frameShown, timeout=20000):
        w.open_project(project.root)
    yield w
    w.close()
    assert not workers.live_jobs(), "a worker thread was left running"


def truth_ids(panel, video):
    """Track id of each true dislocation (by the nearest curve in frame 0)."""
    r = panel.result
    ids = []
    for line in video[0].polylines:
        d = {tid: np.hypot(*(fr[0][:, None, :] - line[None, :, :]).T).min(0).mean()
             for tid, fr in r.curves.items() if 0 in fr}
        ids.append(min(d, key=d.get))
    return ids


def test_tracks_leading_pairs_and_plot_cursor(qtbot, win, video):
    panel = win.panels["analyse"]
    r = panel.result
    assert panel.tracks.topLevelItemCount() == 3
    assert all(panel.tracks.topLevelItem(i).text(1) == str(N_FRAMES) for i in range(3))
    assert len(panel.overlay.curves) == 3 and panel.index == 0
    assert len(panel.trajectories) == 3 and len(panel.trajectories[0].getData()[0]) == N_FRAMES
    # opened like 'disloc track' starts: the leading three of the pileup, as two pairs
    assert len(panel.pairs) == 2 and "leading three" in panel.hint.text()
    auto = list(panel.pairs)
    panel.set_pairs([])
    qtbot.keyClick(panel, QtCore.Qt.Key.Key_L)  # leading three again, by key
    assert panel.pairs == auto and len(panel.plot.items_by_pair) == 2
    # the plot shows core's pair distances; they agree with the true centre lines
    cols = read_splines_csv(r.out / "splines.csv")
    curves, times = curves_by_track(cols)
    expect = pair_distance_rows(curves, {f: None for f in times}, panel.pairs)
    ids = truth_ids(panel, video)
    for pair, item in panel.plot.items_by_pair.items():
        xs, ys = item.getData()
        rows = [row for row in expect if (row[2], row[3]) == pair]
        assert list(xs) == list(range(N_FRAMES)) and np.allclose(ys, [row[4] for row in rows])
        a, b = ids.index(pair[0]), ids.index(pair[1])
        true = [pair_distance(video[f].polylines[a], video[f].polylines[b]) for f in range(N_FRAMES)]
        assert np.abs(np.asarray(ys) - true).max() < 1.5, (ys, true)
    # scrubbing moves the plot cursor; dragging the cursor moves the frame
    with qtbot.waitSignal(panel.frameShown, timeout=10000):
        panel.slider.setValue(4)
    assert panel.plot.frame_line.value() == 4 and panel.index == 4
    with qtbot.waitSignal(panel.frameShown, timeout=10000):
        panel.plot.frame_line.setValue(2.2)
        panel.plot.frame_line.sigPositionChangeFinished.emit(panel.plot.frame_line)
    assert panel.slider.value() == 2 and panel.index == 2


def test_click_two_dislocations_makes_a_pair(qtbot, win):
    panel = win.panels["analyse"]
    panel.set_pairs([])
    ids, curves = panel.result.frame_curves(0)
    for k in (0, 2):
        click_image(qtbot, panel.pane, *curves[k][20])
    assert panel.pairs == [(ids[0], ids[2])]
    assert list(panel.plot.items_by_pair) == [(ids[0], ids[2])]
    assert panel.pair_list.count() == 1 and f"({N_FRAMES} frames)" in panel.pair_list.item(0).text()
    panel.pair_list.setCurrentRow(0)
    panel.remove_selected_pair()
    assert panel.pairs == [] and not panel.plot.items_by_pair


def test_exports_load_back(qtbot, win, tmp_path):
    panel = win.panels["analyse"]
    r = panel.result
    panel.auto_pairs()
    out = tmp_path / "export"
    assert panel.export("splines", out / "s.csv") is not None
    assert (out / "s.csv").read_bytes() == (r.out / "splines.csv").read_bytes()
    panel.export("pairs", out / "pairs.csv")
    with open(out / "pairs.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["frame", "time_s", "id_a", "id_b", "distance_px"]
    assert len(rows) == len(panel.rows) == 2 * N_FRAMES
    assert np.allclose([float(x["distance_px"]) for x in rows], [row[4] for row in panel.rows], atol=1e-3)
    assert iio.imread(out / "pairs.png").ndim == 3  # the matplotlib figure 'disloc track' writes
    panel.export("png", out / "plot.png")
    assert iio.imread(out / "plot.png").shape[1] == 1200
    panel.export("svg", out / "plot.svg")
    assert ET.parse(out / "plot.svg").getroot().tag.endswith("svg")
    for kind, target in (("frames", out / "overlays"), ("video", out / "overlay.mp4")):
        panel.export(kind, target)
        qtbot.waitUntil(lambda: panel.job.is_done, timeout=30000)
    pngs = sorted((out / "overlays").glob("overlay_*.png"))
    assert len(pngs) == N_FRAMES and iio.imread(pngs[0]).shape == (SIZE, SIZE, 3)
    with open_frames(out / "overlay.mp4") as v:
        assert len(v) == N_FRAMES
    assert not any(lv == "error" for _t, lv in win.ctx.messages)


def test_no_results_says_what_to_do(qtbot, tmp_path):
    project = Project.create(tmp_path / "empty")
    w = MainWindow(settings=temp_settings(tmp_path))
    qtbot.addWidget(w)
    w.open_project(project.root)
    panel = w.show_panel("analyse")
    assert panel.result is None and "Segment panel" in panel.hint.text()
    panel.export_dialog("pairs")
    assert "segmentation result first" in w.ctx.messages[-1][0]
    w.close()


def test_per_dislocation_table_follows_the_frame_and_exports_in_nm_and_s(qtbot, win, tmp_path):
    panel = win.panels["analyse"]
    r = panel.result
    cols = read_splines_csv(r.out / "splines.csv")

    def arc(frame, tid):
        pick = (cols["frame"] == frame) & (cols["dislocation_id"] == tid)
        return cols["arc_length_px"][pick].max()

    assert panel.index == 0 and panel.table.rowCount() == 3
    ids = [int(t) for t in panel.table.column_texts(0)]
    assert ids == sorted(r.curves)
    assert [float(t) for t in panel.table.column_texts(1)] == pytest.approx([arc(0, t) for t in ids], abs=0.06)
    assert panel.table.column_texts(4) == ["—"] * 3  # no speed in a track's first frame
    assert "px/frame" in panel.table.horizontalHeaderItem(4).text()
    panel.slider.setValue(2)
    qtbot.waitUntil(lambda: panel.index == 2 and panel.is_ready(), timeout=10000)
    assert "frame 2" in panel.table_title.text()
    speeds = [float(t) for t in panel.table.column_texts(4)]
    assert all(1.5 < s < 4.5 for s in speeds), speeds  # the pileup glides 3 px per frame
    # a pixel size and a frame rate: nm and s in the table, the plot, the position line and the files
    with qtbot.waitSignal(win.ctx.unitsChanged, timeout=5000):
        win.ctx.set_calibration(2.0, 5.0)
    assert "nm/s" in panel.table.horizontalHeaderItem(4).text()
    assert [float(t) for t in panel.table.column_texts(1)] == pytest.approx([2 * arc(2, t) for t in ids], abs=0.2)
    assert [float(t) for t in panel.table.column_texts(4)] == pytest.approx([10 * s for s in speeds], abs=0.1)
    assert panel.plot.getPlotItem().getAxis("bottom").labelText == "time (s)"
    assert panel.plot.getPlotItem().getAxis("left").labelText == "mean distance (nm)"
    xs, _ = next(iter(panel.plot.items_by_pair.values())).getData()
    assert xs[1] == pytest.approx(0.2) and panel.plot.frame_line.value() == pytest.approx(0.4)
    assert "t = 0.400 s" in panel.nav.label.text()
    assert panel.export("dislocations", tmp_path / "d.csv") is not None
    with open(tmp_path / "d.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 * N_FRAMES
    assert all(float(x["length_nm"]) == pytest.approx(2 * float(x["length_px"]), abs=0.01) for x in rows)
    moving = [x for x in rows if x["velocity_px_per_frame"]]
    assert len(moving) == 3 * (N_FRAMES - 1)
    assert all(float(x["velocity_nm_per_s"]) == pytest.approx(10 * float(x["velocity_px_per_frame"]), abs=0.01)
               for x in moving)
    panel.export("splines", tmp_path / "s.csv")  # calibrated after the run: the nm columns are filled in
    s = read_splines_csv(tmp_path / "s.csv")
    assert np.allclose(s["x_nm"], 2 * s["x_px"], atol=0.01) and s["time_s"][-1] == pytest.approx(0.2 * (N_FRAMES - 1))
    panel.export("pairs", tmp_path / "p.csv")
    with open(tmp_path / "p.csv", newline="") as f:
        assert "distance_nm" in next(csv.reader(f))


class FragmentModel(TruthModel):
    """The truth, except that the third dislocation is found in frame 0 only (a fragment)."""

    def predict(self, frames):
        out = super().predict(frames)
        for b, f in enumerate(np.asarray(frames, np.float32).reshape(-1, SIZE, SIZE)):
            if int(np.argmin(np.abs(self.images - f).reshape(len(self.images), -1).mean(1))) > 0:
                out[b, 2] = 0.0
        return out


def test_filter_hides_tracks_seen_in_few_frames(qtbot, win, video, tmp_path, capsys):
    panel = win.panels["analyse"]
    out = win.ctx.project.results_dir / "fragments"
    segment_video(win.ctx.project.frames_path, FragmentModel(video), out, SegmentConfig(batch_size=3))
    with qtbot.waitSignal(panel.loaded, timeout=20000):
        panel.refresh_results(select=str(out))
    qtbot.waitUntil(lambda: panel.is_ready() and panel.index == 0, timeout=10000)
    short = [t for t, n in panel.frames_seen.items() if n == 1]
    assert len(short) == 1 and panel.min_frames.value() == 2  # chosen from the data: a fifth of 6 frames, at least 2
    hidden = [panel.tracks.topLevelItem(i).isHidden() for i in range(panel.tracks.topLevelItemCount())]
    assert sum(hidden) == 1
    assert panel.table.rowCount() == 2 and short[0] not in panel.frame_ids and "1 fragment(s) hidden" in panel.table_title.text()
    panel.min_frames.setValue(1)
    assert panel.table.rowCount() == 3 and short[0] in panel.frame_ids
    panel.min_frames.setValue(2)
    panel.export("dislocations", tmp_path / "d.csv")
    with open(tmp_path / "d.csv", newline="") as f:
        assert short[0] not in {int(x["dislocation_id"]) for x in csv.DictReader(f)}
    # the splines export leaves the hidden track out too, and keeps every point of the others as segmented
    panel.export("splines", tmp_path / "s.csv")
    every, kept = read_splines_csv(out / "splines.csv"), read_splines_csv(tmp_path / "s.csv")
    assert short[0] not in set(kept["dislocation_id"].astype(int))
    rest = every["dislocation_id"] != short[0]
    assert np.allclose(kept["x_px"], every["x_px"][rest]) and len(kept["frame"]) == int(rest.sum())
    # scripted, the same: disloc track --splines-out --min-frames 2
    from app.cli import main as cli

    assert cli(["track", str(out), "--pairs", "auto", "--no-plot", "--splines-out", str(tmp_path / "k.csv"),
                "--min-frames", "2"]) == 0
    assert (tmp_path / "k.csv").read_bytes() == (tmp_path / "s.csv").read_bytes()
    capsys.readouterr()
    assert cli(["track", str(out), "--no-plot", "--min-frames", "2"]) == 2  # --min-frames alone: refused
    assert "give --splines-out" in capsys.readouterr().err
