"""The Train panel's one-click fine-tune on annotated frames, for real (96 px frames, seconds, one torch thread)."""
import pytest
import torch

from app.gui import workers
from app.gui.mainwindow import MainWindow
from app.gui.testing import make_project, temp_settings
from core.io.fileio import atomic_write_png
from core.io.labelme import LabelFile, write_labelme
from core.learn.finetune import DEFAULT_MINUTES
from core.learn.runfolder import read_history, seconds_spent
from core.project.runs import list_runs, selected_model
from core.synth import default_params, generate

SIZE = 96
TINY = {"steps_per_epoch": 2, "batch_size": 2, "image_size": SIZE}  # the recipe's crops shrunk to the frames


def annotate(folder, n, first=0):
    """``n`` annotated synthetic frames as the Annotate panel writes them (labelme + the frame as PNG)."""
    for i in range(first, first + n):
        s = generate(default_params(SIZE), 60 + i)
        atomic_write_png(folder / f"frame_{i:03d}.png", s.image_u8())
        write_labelme(folder / f"frame_{i:03d}.json",
                      LabelFile.from_polylines(s.polylines, f"frame_{i:03d}.png", SIZE, SIZE))


@pytest.fixture
def win(qtbot, tmp_path):
    torch.set_num_threads(1)
    project = make_project(tmp_path / "proj", n_frames=2, size=(SIZE, SIZE))
    w = MainWindow(settings=temp_settings(tmp_path))
    qtbot.addWidget(w)
    w.resize(1280, 720)
    w.show()
    w.open_project(project.root)
    panel = w.show_panel("train")
    panel.threads = 1
    panel.finetune_box.recipe = TINY
    yield w
    w.close()
    assert not workers.live_jobs(), "a worker thread was left running"


def test_one_click_finetune_shows_the_estimate_and_selects_the_model(qtbot, win):
    panel, box = win.panels["train"], win.panels["train"].finetune_box
    root = win.ctx.project.root
    annotate(root / "annotations", 1)
    assert box.start() is None  # one frame: nothing to hold back
    assert "annotate at least 2 frames in Annotate first" in box.result.text()
    assert not list_runs(root)
    annotate(root / "annotations", 4, first=1)
    panel.refresh()
    assert box.minutes.value() == DEFAULT_MINUTES  # the recipe's budget by default
    box.minutes.setValue(0.1)
    with qtbot.waitSignal(panel.runEnded, timeout=240000) as ended:
        box.button.click()
        assert panel.running and not box.button.isEnabled() and panel.cancel_btn.isEnabled()
    run, outcome = ended.args
    assert outcome == "finished", outcome
    best = root / "runs" / run.split("/runs/")[-1] / "best.pt"
    assert best.exists() and selected_model(root) == best  # the project's model now
    cfg = (best.parent / "config.json").read_text()
    assert "realistic.pt" in cfg  # from the shipped model for real frames, never a random network
    hist = read_history(best.parent / "history.csv")
    assert hist and "recall" in hist[0]
    text = box.result.text()
    assert "Expected on the rest of your video" in text and "recall" in text and "length score" in text \
        and "on-line share" in text
    assert f"{box.report.estimate['recall']:.2f}" in text
    row = panel.table.topLevelItem(0)
    assert row.text(0).startswith("★") and panel.selected_run().path == best.parent
    # a run that spent its budget is finished (not a stopped run to resume), shown by its budget and held-out recall
    assert (row.text(3), row.text(5)) == (f"{len(hist) - 1} (0.1 min budget)", "finished")
    assert row.text(4).startswith("recall ")
    assert panel.job_bar.bar.format() == "%v / %m s"  # the bar still counts seconds of the budget, not steps
    assert box.button.isEnabled() and len(panel.history) == len(hist)


def test_start_training_on_annotated_frames_alone_asks_for_a_model_not_a_random_start(qtbot, win):
    panel = win.panels["train"]
    root = win.ctx.project.root
    annotate(root / "annotations", 3)
    panel.refresh()
    f = panel.form
    assert [f.data.topLevelItem(i).data(1, 0x0100) for i in range(f.data.topLevelItemCount())] == ["annotations"]
    assert f.init.currentData() == ""  # random start chosen
    assert panel.start() is None and not panel.running and not list_runs(root)
    assert "Fine-tune on annotated frames" in win.ctx.messages[-1][0]
    f.set_init(str(f.init.itemData(1)))  # the shipped model: now it may train
    cfg = f.config(threads=1)
    assert cfg.init and cfg.annotations and not cfg.data


def test_cancel_stops_the_finetune_and_keeps_the_projects_model(qtbot, win):
    panel, box = win.panels["train"], win.panels["train"].finetune_box
    root = win.ctx.project.root
    annotate(root / "annotations", 4)
    panel.refresh()
    box.minutes.setValue(5)  # far more than the test waits: only Cancel ends it
    before = selected_model(root)
    with qtbot.waitSignal(panel.runEnded, timeout=240000) as ended:
        box.button.click()
        # training steps under way, and epochs worth 1.5 s done (the resumed run below has them spent)
        qtbot.waitUntil(lambda: "loss" in panel.status.text()
                        and seconds_spent(panel.history) >= 1.5, timeout=120000)
        panel.cancel_btn.click()
    run, outcome = ended.args
    assert outcome == "stopped", outcome
    assert selected_model(root) == before  # a stopped fine-tune does not become the project's model
    assert "stopped" in box.result.text() and "Fine-tune again" in box.result.text()
    assert any("fine-tuning stopped" in t for t, _ in win.ctx.messages)
    assert not panel.running and box.button.isEnabled() and not panel.cancel_btn.isEnabled()

    # Resume (runs table) continues it on the budget it has left: the bar counts the budget's seconds from
    # what the stopped run had spent, not steps from zero.
    r = panel.selected_run()
    assert r is not None and r.status == "stopped" and panel.resume_btn.isEnabled()
    spent = seconds_spent(read_history(r.path / "history.csv"))
    values = []
    panel.progressed.connect(lambda p: values.append((p.step, p.total)))
    with qtbot.waitSignal(panel.runEnded, timeout=240000) as ended:
        assert panel.resume() == r.path
        assert panel.job_bar.bar.format() == "%v / %m s"
        qtbot.waitUntil(lambda: "loss" in panel.status.text() and bool(values), timeout=120000)
        assert panel.job_bar.bar.maximum() == 300 and panel.job_bar.bar.value() >= int(spent)
        panel.cancel_btn.click()
    assert ended.args[1] == "stopped"
    assert values and all(total == 300 for _, total in values)  # 5 min
    assert spent >= 1 and values[0][0] >= int(spent)
