"""Garbage collection while a worker runs: where it runs, how long the GUI waits, how long the job takes.

The app's jobs (``app.gui.workers.start_job``) turn automatic collection off while
their thread lives and collect on the GUI thread from a timer, so Qt objects
are never destroyed in a worker. The reference is the same job in a plain
thread with automatic collection on (how every thread ran before): collections
then run inside the worker, whichever objects they free.

The job is what a worker does in the app: load the shipped model (the Segment
panel's warm-up) and build a list of young objects (a dataset's metadata,
a history), ``--repeat`` times. A 5 ms GUI-thread timer measures the event
loop's longest gap: a full collection (every object, about 0.2-0.3 s here
with torch and a model loaded) blocks the GUI whichever thread runs it, since
it holds the GIL; what differs is where it runs and how often.

    .venv/bin/python benchmarks/bench_gui_gc.py [--repeat 3] [--objects 200000]
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6 import QtCore, QtWidgets  # noqa: E402

from app.gui import workers  # noqa: E402


def run(mode: str, job) -> dict:
    gaps, last = [], [time.perf_counter()]
    by_thread = {"gui": 0, "worker": 0}
    gui = threading.get_ident()

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    def note(phase, info):
        if phase == "start":
            by_thread["gui" if threading.get_ident() == gui else "worker"] += 1

    timer = QtCore.QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    loop = QtCore.QEventLoop()
    gc.collect()
    gc.callbacks.append(note)
    timer.start()
    t0 = time.perf_counter()
    if mode == "app worker":
        j = workers.start_job(lambda _p, _s: job())
        j.done.connect(loop.quit)
    else:
        def plain():
            job()
            QtCore.QMetaObject.invokeMethod(loop, "quit", QtCore.Qt.ConnectionType.QueuedConnection)

        threading.Thread(target=plain).start()
    loop.exec()
    seconds = time.perf_counter() - t0
    timer.stop()
    gc.callbacks.remove(note)
    g = sorted(gaps) or [0.0]
    return {"seconds": seconds, "p99": g[int(len(g) * 0.99)] * 1000, "worst": g[-1] * 1000, **by_thread}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--objects", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=2, help="runs of each mode, alternating")
    a = ap.parse_args()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])  # noqa: F841
    import torch

    from core.analysis.segment import load_predictor
    from core.shipped import default_model_path

    torch.set_num_threads(1)
    model = default_model_path()
    load_predictor(model)  # imports and first-use costs out of the timings

    def job():
        for _ in range(a.repeat):
            load_predictor(model)
            rows = [{"frame": i, "ids": [i, i + 1]} for i in range(a.objects)]
            del rows

    print(f"job: load {model.name} and build {a.objects} small dicts, {a.repeat}x; GUI timer every 5 ms")
    print(f"{'mode':<40}{'job s':>7}{'GUI gap p99 ms':>16}{'worst ms':>10}{'collections gui/worker':>24}")
    for _ in range(a.rounds):
        for mode in ("app worker", "plain thread, automatic gc (reference)"):
            r = run(mode, job)
            print(f"{mode:<40}{r['seconds']:>7.2f}{r['p99']:>16.0f}{r['worst']:>10.0f}{r['gui']:>13}/{r['worker']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
