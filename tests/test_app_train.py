"""The Train panel with a real tiny training in its worker thread (offscreen, 64 px, one torch thread)."""
import time

import pytest
import torch
from PySide6 import QtCore

from app.gui import workers
from app.gui.mainwindow import MainWindow
from app.gui.testing import make_project, temp_settings
from core.learn.runfolder import read_history, write_history
from core.learn.trainconfig import DEFAULT_LOSS
from core.project.runs import list_runs, selected_model

from ._lines import make_line_dataset

STALL_MS = 100  # while the run goes on, the window must answer within this
START_MS = 250  # the click that starts it (first repaint of the plots, spawning the child) may take a little longer
EPOCHS = 4


@pytest.fixture
def win(qtbot, tmp_path):
    torch.set_num_threads(1)  # the GUI thread needs the other core
    from core.learn._torchcompat import import_smp

    import_smp()  # the first import of the model library is not what we time
    project = make_project(tmp_path / "proj", n_frames=2, size=(64, 64))
    make_line_dataset(project.datasets_dir / "lines", n=6, size=64, seed=0)
    make_line_dataset(project.datasets_dir / "lines_test", n=2, size=64, seed=1)
    w = MainWindow(settings=temp_settings(tmp_path))
    qtbot.addWidget(w)
    w.resize(1300, 850)
    w.show()
    w.open_project(project.root)
    # The Designer renders its first preview in a worker on opening; let it finish so only training is timed.
    qtbot.waitUntil(w.panels["designer"].is_ready, timeout=30000)
    panel = w.show_panel("train")
    panel.threads = 1
    f = panel.form
    f.encoder.setCurrentIndex(f.encoder.findData("resnet18"))
    f.n_masks.setValue(4)
    f.epochs.setValue(EPOCHS)
    f.batch.setValue(2)
    f.image_size.setValue(64)
    f.steps.setValue(2)
    yield w
    w.close()
    assert not workers.live_jobs(), "a worker thread was left running"


class GapMeter:
    """Largest gap between ticks of a 10 ms timer: how long the event loop was blocked."""

    def __init__(self):
        self.timer = QtCore.QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.last = None
        self.worst = 0.0
        self.first = None  # the first gap: the Start click's own work
        self.gaps = []

    def _tick(self):
        now = time.perf_counter()
        if self.first is None:
            self.first = now - self.last
        elif self.last is not None:
            self.worst = max(self.worst, now - self.last)
            if now - self.last > 0.05:
                self.gaps.append((round(self.last - self.t0, 3), round((now - self.last) * 1000)))
        self.last = now

    def start(self):
        self.last = self.t0 = time.perf_counter()
        self.timer.start()

    def stop(self):
        self.timer.stop()


def test_form_lists_project_data_and_builds_config(win):
    panel = win.panels["train"]
    f = panel.form
    labels = [f.data.topLevelItem(i).text(0) for i in range(f.data.topLevelItemCount())]
    assert labels == ["lines", "lines_test"]
    cfg = f.config(threads=1)
    assert [p.split("/")[-1] for p in cfg.data] == ["lines"] and [p.split("/")[-1] for p in cfg.test] == ["lines_test"]
    assert (cfg.encoder, cfg.epochs, cfg.batch_size, cfg.image_size, cfg.steps_per_epoch) == ("resnet18", EPOCHS, 2, 64, 2)
    assert f.loss.currentData() == DEFAULT_LOSS
    f.set_ticks(win.ctx.project.datasets_dir / "lines", train=False)
    panel.start()
    assert not panel.running and "no training data" in win.ctx.messages[-1][0]
    assert win.messages.isVisible()


def test_training_runs_in_worker_curves_update_cancel_keeps_checkpoints_and_resume(qtbot, win):
    panel = win.panels["train"]
    meter = GapMeter()
    meter.start()
    run = panel.start()
    assert run is not None and panel.running
    assert not panel.form.isEnabled()

    # Cancel from the worker thread as soon as the first epoch's report arrives (the child stops at its next step).
    def cancel_after_epoch(p):
        if "train_loss" in p.metrics:
            panel.job.cancel()

    panel.job.worker.progress.connect(cancel_after_epoch, QtCore.Qt.ConnectionType.DirectConnection)
    events = []
    panel.progressed.connect(lambda p: events.append((round(time.perf_counter() - meter.t0, 3), p.message)))
    with qtbot.waitSignal(panel.runEnded, timeout=60000) as ended:
        pass
    meter.stop()
    assert ended.args == [str(run), "stopped"]
    assert (run / "best.pt").exists() and (run / "last.pt").exists() and (run / "config.json").exists()
    assert panel.curves.n_steps_drawn >= 2  # the step curve was fed during the run
    qtbot.waitUntil(lambda: panel.curves.step_curve.getData()[0] is not None
                    and len(panel.curves.step_curve.getData()[0]) >= 2, timeout=2000)
    done = len(read_history(run / "history.csv"))
    assert 1 <= done < EPOCHS
    assert len(panel.curves.train_curve.getData()[0]) == done and len(panel.curves.metric_curve.getData()[0]) == done
    assert panel.device_text.startswith(("CPU", "CUDA"))
    print(f"event loop: start click {meter.first * 1000:.0f} ms, worst gap while training {meter.worst * 1000:.0f} ms")
    assert meter.first * 1000 < START_MS, f"starting the run blocked the window {meter.first * 1000:.0f} ms"
    assert meter.worst * 1000 < STALL_MS, f"the event loop stalled {meter.worst * 1000:.0f} ms (gaps: {meter.gaps}, events {events})"
    assert "Resume" in panel.status.text()
    assert panel.form.isEnabled()

    # the stopped run is listed, selected and resumable; Resume finishes the 3 epochs
    r = panel.selected_run()
    assert r is not None and r.path == run and r.status == "stopped" and panel.resume_btn.isEnabled()
    with qtbot.waitSignal(panel.runEnded, timeout=60000) as ended:
        assert panel.resume() == run
    assert ended.args[1] == "finished"
    assert [row["epoch"] for row in read_history(run / "history.csv")] == list(range(1, EPOCHS + 1))
    assert list_runs(win.ctx.project.root)[0].status == "finished"
    # the project had no model: the finished run became it, and the Segment panel knows
    assert selected_model(win.ctx.project.root) == run / "best.pt"
    seg = win.panels["segment"]
    seg.refresh_model()
    assert seg.model_path == run / "best.pt" and "project model" in seg.model_label.text()


def test_runs_are_compared_and_one_chosen_as_model(qtbot, win):
    panel = win.panels["train"]
    root = win.ctx.project.root
    for name, losses in (("20250101-090000_a", [0.9, 0.7]), ("20250102-090000_b", [0.8, 0.5])):
        d = root / "runs" / name
        d.mkdir(parents=True)
        (d / "config.json").write_text('{"encoder": "resnet18", "epochs": 2, "data": ["x/lines"]}')
        write_history(d / "history.csv", [{"epoch": e + 1, "train_loss": v, "test_loss": v + 0.05, "metric": 1 - v,
                                           "duplicates": 0.0, "iou": 0.5, "dropped": 0, "seconds": 1.0}
                                          for e, v in enumerate(losses)])
        (d / "best.pt").write_bytes(b"not a real checkpoint; only its path is chosen here")
    panel.refresh()
    assert panel.table.topLevelItemCount() == 2
    assert panel.table.topLevelItem(0).text(0) == "20250102-090000_b"  # newest first
    assert "0.500 (epoch 2)" in panel.table.topLevelItem(0).text(4)
    panel.compare(["20250101-090000_a", "20250102-090000_b"])
    assert panel.curves.n_compared == 2
    panel.table.setCurrentItem(panel.table.topLevelItem(1))
    with qtbot.waitSignal(panel.modelChosen):
        qtbot.keyClick(panel, QtCore.Qt.Key.Key_U, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert selected_model(root) == root / "runs" / "20250101-090000_a" / "best.pt"
    assert panel.table.topLevelItem(1).text(0).startswith("★")
    # fine-tune from it: the form's start point is that checkpoint and the encoder is the checkpoint's
    panel.finetune_btn.click()
    assert panel.form.init.currentData().endswith("20250101-090000_a/best.pt")
    assert not panel.form.encoder.isEnabled()
    assert panel.form.config(threads=1).init.endswith("best.pt")
