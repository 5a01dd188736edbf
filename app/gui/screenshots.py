"""The README's screenshots, remade at a laptop's 1280 x 720: ``python -m app.gui.screenshots docs/images``.

Builds the demo project (:func:`core.demo.run_demo`: a synthetic glide
video segmented and tracked by the shipped model) in a temporary folder,
gives it a pixel size (so the pictures show nm and a scale bar), annotates
its first two frames with their true centre lines, adds the shipped
model's three training runs from its card (so the Train panel has curves
to show), and saves each panel offscreen: the start page, the
Designer on the realistic preset, Annotate, Train, Segment after F5 on a
frame, Analyse, and Annotate once more with the model's predicted lines
on a frame nobody annotated, one of them being corrected.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

SIZE = (1280, 720)
PIXEL_SIZE_NM = 0.8  # for the pictures: the demo video is synthetic and has no calibration of its own


def add_card_runs(project_root: Path) -> None:
    """The shipped model's training stages (resources/models/card/history_stage*.csv) as runs of the project."""
    from core.learn.runfolder import write_history, read_history
    from core.learn.trainconfig import TrainConfig

    card = Path(__file__).resolve().parents[2] / "resources" / "models" / "card"
    runs = project_root / "runs"
    previous = None
    for k, (loss, size) in enumerate((("hungarian+empty", 256), ("hungarian", 256), ("hungarian", 512)), 1):
        history = read_history(card / f"history_stage{k}.csv")
        run = runs / f"20260101-0{k}0000_stage{k}"
        run.mkdir(parents=True, exist_ok=True)
        TrainConfig(data=("data/m2-train",), test=("data/m2-val",), epochs=len(history), loss=loss,
                    image_size=size, init=str(previous / "best.pt") if previous else None).save(run / "config.json")
        write_history(run / "history.csv", history)
        previous = run


def annotate_from_truth(project, frames=(0, 1), points: int = 7) -> None:
    """Annotate demo frames with their true centre lines (``points`` support points each), as a user would."""
    import json

    import numpy as np

    from core.project.annotation import FrameAnnotations

    truth = json.loads((project.root / "frames" / "truth" / "centre_lines.json").read_text())
    with project.open_frames() as src:
        h, w = src.shape
        for f in frames:
            fa = FrameAnnotations(h, w)
            for lines in truth.values():
                line = np.asarray(lines.get(str(f), []), float)
                if len(line) >= 2:
                    fa.add(line[np.round(np.linspace(0, len(line) - 1, points)).astype(int)])
            project.save_annotations(src.name(f), fa, src[f])


def take(out_dir: Path, project: Path) -> list[Path]:
    """Save the start page and every panel of ``project`` as PNGs in ``out_dir``; returns the files."""
    from PySide6 import QtWidgets

    from .main import _wait_until
    from .mainwindow import MainWindow
    from .testing import temp_settings

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    settings_dir = Path(tempfile.mkdtemp(prefix="shots-settings-"))
    settings = temp_settings(settings_dir)
    settings.setValue("recentProjects", [str(project)])
    win = MainWindow(settings=settings)
    win.resize(*SIZE)
    win.show()
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = []

    def settle(ready=lambda: True):
        _wait_until(app, ready, 120)
        for _ in range(10):
            app.processEvents()

    def save(name):
        path = out_dir / f"{name}.png"
        settle()
        win.grab().save(str(path))
        saved.append(path)

    save("start_page")
    win.open_project(project)
    d = win.show_panel("designer")
    settle(d.is_ready)
    d.choose_preset("realistic")
    settle(lambda: d.is_ready() and not d._debounce.isActive())
    save("panel_designer")
    a = win.show_panel("annotate")
    settle(lambda: a.fa is not None)
    a.set_tool("select")
    a.editor.select(1)
    save("panel_annotate")
    t = win.show_panel("train")
    settle(t.is_ready)
    t.compare([r.name for r in t.runs[:2]])
    save("panel_train")
    s = win.show_panel("segment")
    settle(s.is_ready)
    s.segment_frame()
    settle(lambda: s.view is not None and s.view.origin == "frame")
    save("panel_segment")
    an = win.show_panel("analyse")
    settle(an.is_ready)
    an.nav.set_value(12)
    settle(lambda: an.index == 12 and an.is_ready())
    save("panel_analyse")
    predicted_lines(win, settle)
    save("panel_annotate_predicted")
    win.close()
    app.processEvents()
    shutil.rmtree(settings_dir, ignore_errors=True)
    return saved


def predicted_lines(win, settle, frame: int = 9) -> None:
    """Annotate on a frame nobody annotated: Predict this frame, then the shortest predicted line corrected.

    The correction is what a user does: drag the end of a line the model
    found only in part to where the dislocation ends (its true end, from the
    demo's ground truth); that one drag accepts the line.
    """
    import json

    import numpy as np

    a = win.show_panel("annotate")
    a.nav.set_value(frame)
    settle(lambda: a.index == frame and a.fa is not None)
    a.predict_frame()
    settle(lambda: a.fa.n_predicted > 0)
    truth = json.loads((win.ctx.project.root / "frames" / "truth" / "centre_lines.json").read_text())
    lines = [np.asarray(t[str(frame)], float) for t in truth.values() if len(t.get(str(frame), [])) >= 2]
    k = min(range(len(a.fa)), key=lambda i: a.fa[i].length())
    pts = a.fa[k].points

    def gap(line):
        return np.hypot(*(pts[:, None] - line[None]).transpose(2, 0, 1)).min(1).mean()

    true = min(lines, key=gap)
    ends = [(np.hypot(*(pts[j] - true[e])), j if j == 0 else len(pts) - 1, true[e]) for j in (0, -1) for e in (0, -1)]
    paired = min(((ends[0], ends[3]), (ends[1], ends[2])), key=lambda p: p[0][0] + p[1][0])
    _, j, end = max(paired, key=lambda e: e[0])  # the end of the line that is furthest off: drag it there
    a.fa.begin_drag()  # one drag (one undo step; it accepts the line)
    a.fa.drag_point(k, j, tuple(end))
    a.fa.end_drag()
    a.set_tool("select")
    a.editor.select(k, j)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m app.gui.screenshots", description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="folder for the PNG files (docs/images)")
    ap.add_argument("--keep", type=Path, help="build the demo project here and keep it (default: a temporary one)")
    args = ap.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from core.demo import run_demo
    from core.project.folder import Project

    tmp = None if args.keep else Path(tempfile.mkdtemp(prefix="shots-"))
    root = args.keep or tmp / "demo-project"
    run_demo(root)
    project = Project.open(root)
    project.set_calibration(PIXEL_SIZE_NM, None)  # the video's TIFF says 10 frames/s
    annotate_from_truth(project)
    add_card_runs(project.root)
    for p in take(args.out, project.root):
        print(f"saved {p}")
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
