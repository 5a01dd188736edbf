"""Designer latency: slider move -> new preview on screen (offscreen Qt).

Moves a slider programmatically, like a user letting go of it, and times
until the re-rendered image is shown (50 ms debounce + render in a worker +
display). Also records the longest gap of a 5 ms GUI-thread timer during the
renders: the window must never freeze. The reference is the bare render
(``core.synth.generate`` at the same size, no GUI); the ratio says what the
debounce, thread hop and drawing add.

    .venv/bin/python benchmarks/bench_gui.py [--moves 30] [--size 512]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PySide6 import QtCore, QtWidgets  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--moves", type=int, default=30)
    ap.add_argument("--size", type=int, default=512)
    a = ap.parse_args()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    from app.gui.mainwindow import MainWindow
    from app.gui.panels.designer_state import render_preview
    from app.gui.testing import make_project, temp_settings

    tmp = Path(tempfile.mkdtemp())
    project = make_project(tmp / "proj", 2, (256, 256))
    win = MainWindow(settings=temp_settings(tmp))
    win.resize(1500, 950)
    win.show()
    d = win.show_panel("designer")
    win.open_project(project.root)
    d.state.params = d.state.params.replace(size=a.size)

    def wait(pred, timeout=30.0):
        t0 = time.perf_counter()
        while not pred():
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 5)
            if time.perf_counter() - t0 > timeout:
                raise TimeoutError
        return time.perf_counter()

    d.request_render()
    wait(lambda: d.is_ready() and not d._debounce.isActive())

    gaps, last = [], [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QtCore.QTimer(interval=5)
    timer.timeout.connect(tick)
    timer.start()
    row = d.form.rows["lambda1"]
    rng = np.random.default_rng(0)
    lat = []
    for k in range(a.moves):
        before = d.shown_id
        t0 = time.perf_counter()
        row.slider.setValue(int(rng.integers(row.slider.minimum(), row.slider.maximum())))
        t1 = wait(lambda: d.shown_id > before and not d._debounce.isActive() and not d._renderer.busy)
        lat.append(t1 - t0)
    timer.stop()

    ref = []
    for k in range(a.moves):
        t0 = time.perf_counter()
        render_preview(d.state.params, d.state.seed)
        ref.append(time.perf_counter() - t0)
    win.close()

    lat_ms, ref_ms = np.array(lat) * 1e3, np.array(ref) * 1e3
    print(f"designer preview latency, {a.size} px, {a.moves} slider moves (offscreen, {os.cpu_count()} CPUs)")
    print(f"  slider move -> image shown: median {np.median(lat_ms):.0f} ms, 95th percentile "
          f"{np.percentile(lat_ms, 95):.0f} ms, max {lat_ms.max():.0f} ms (target < 300 ms)")
    print(f"  reference, bare render:      median {np.median(ref_ms):.0f} ms, 95th percentile "
          f"{np.percentile(ref_ms, 95):.0f} ms")
    print(f"  ratio GUI / bare render (median): {np.median(lat_ms) / np.median(ref_ms):.1f}x "
          f"(includes the {d._debounce.interval()} ms debounce)")
    print(f"  longest GUI-thread stall during the renders: {max(gaps) * 1e3:.0f} ms (5 ms timer)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
