"""Worker threads: Python's garbage collector runs on the GUI thread while a job's thread lives.

Unreachable Qt objects (a closed window's menus, old pyqtgraph items) must be
destroyed on the GUI thread; automatic collection would destroy them in any
thread that happens to allocate, a worker included.
"""
import gc
import threading
import time

from app.gui import workers


class Cycle:
    """Unreachable as soon as it is made (it refers to itself); notes the thread that collects it."""

    def __init__(self, seen: list) -> None:
        self.me = self
        self.seen = seen

    def __del__(self) -> None:
        self.seen.append(threading.get_ident())


def _run(qtbot, fn):
    job = workers.start_job(fn)
    with qtbot.waitSignal(job.done, timeout=20000):
        pass
    return job


def test_a_job_that_allocates_leaves_collection_to_the_gui_thread(qtbot):
    assert gc.isenabled()
    seen, got = [], {}

    def job(_progress, _stop):
        got["enabled"] = gc.isenabled()
        for _ in range(50):
            Cycle(seen)
        got["junk"] = len([[] for _ in range(20000)])  # many times what triggers an automatic collection

    _run(qtbot, job)
    assert got == {"enabled": False, "junk": 20000}
    assert gc.isenabled()  # back on once the last job has ended
    gc.collect()  # whatever the timer had not collected yet, collected here
    assert len(seen) == 50
    assert set(seen) == {threading.get_ident()}, "collected in the worker thread"


def test_the_gui_thread_collects_while_a_long_job_runs(qtbot):
    seen, got = [], {}

    def job(_progress, should_stop):
        for _ in range(2000):
            Cycle(seen)
        t0 = time.monotonic()
        while len(seen) < 2000 and time.monotonic() - t0 < 10 and not should_stop():
            time.sleep(0.01)  # the GUI thread's timer should collect meanwhile (over one tick or several)
        got["seen_while_running"] = len(seen)

    _run(qtbot, job)
    assert got["seen_while_running"] == 2000
    assert set(seen) == {threading.get_ident()}


def test_overlapping_jobs_keep_collection_off_until_the_last_ends(qtbot):
    release = threading.Event()
    a = workers.start_job(lambda _p, _s: release.wait(10))
    b = workers.start_job(lambda _p, _s: None)
    try:
        with qtbot.waitSignal(b.done, timeout=10000):
            pass
        assert not gc.isenabled()  # a still runs
    finally:
        release.set()
    with qtbot.waitSignal(a.done, timeout=10000):
        pass
    assert gc.isenabled()
    assert not workers.live_jobs()


def test_full_collections_are_rationed_young_ones_run_every_tick(qtbot):
    g = workers.GuiThreadGC()
    gens = []

    def note(phase, info):
        if phase == "start":
            gens.append(info["generation"])

    old, kept = gc.get_threshold(), []
    g.hold()
    gc.callbacks.append(note)
    try:
        gc.set_threshold(10, 1, 1)  # every tick is due for a collection, every third one for a full one
        for i in range(40):
            if i == 30:
                g._last_full -= g.FULL_EVERY_S  # as if a minute had passed
            kept.extend([] for _ in range(20))  # live objects: the allocation count grows
            g.collect_due()
    finally:
        gc.callbacks.remove(note)
        gc.set_threshold(*old)
        g.release()
    assert len(gens) == 40 and gens[:30].count(1) >= 8
    assert 2 not in gens[:30]  # the first full collection is due FULL_EVERY_S after the job started
    assert gens[30:].count(2) == 1  # then one, and the next a minute later again


def test_collection_switched_off_by_the_program_stays_off(qtbot):
    gc.disable()
    try:
        got = {}
        _run(qtbot, lambda _p, _s: got.update(enabled=gc.isenabled()))
        assert got == {"enabled": False} and not gc.isenabled()
    finally:
        gc.enable()
