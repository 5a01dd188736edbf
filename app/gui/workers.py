"""Long jobs off the GUI thread: one QObject worker moved to a QThread.

A job is a plain function ``fn(on_progress, should_stop) -> result`` from
core; the worker turns its :class:`core.progress.Progress` reports into a
Qt signal and its ``should_stop`` into :meth:`Worker.cancel`. Threads are
never terminated: cancel sets a flag the core loop checks between steps.
"""
from __future__ import annotations

import gc
import logging
import threading
import time
import traceback
from typing import Any, Callable, Optional

from PySide6 import QtCore

from core.errors import Cancelled, DislocError

log = logging.getLogger(__name__)

# Every started thread until it has finished: the window waits for them on
# close and the tests fail when one is left running.
_LIVE: set["Job"] = set()


def live_jobs() -> list["Job"]:
    """Jobs whose thread has not finished yet."""
    return [j for j in _LIVE if not j.is_done]


class GuiThreadGC(QtCore.QObject):
    """Python's cyclic garbage collector runs on the GUI thread only, while a job's thread lives.

    Automatic collection runs in whichever thread happens to allocate. In a
    worker (building a network, drawing a preview) it would destroy the GUI's
    own unreachable Qt objects there: the menus of a closed window, pyqtgraph
    items. Qt objects must die on their own thread; elsewhere Qt can crash or
    hang. Seen here (gdb): a worker's collection ran ``QMenu::~QMenu``, which
    holds a Qt mutex while it waits for the GIL, as the GUI thread, holding
    the GIL, deleted a widget and waited for that mutex; the app and its tests
    froze. So while any job runs, automatic collection is off, and a timer on
    the GUI thread collects by the same thresholds (pyqtgraph's
    ``GarbageCollector`` does the same for the whole life of an app). When the
    last job has ended, automatic collection is as it was before.

    A full collection walks every object (about 0.3 s with the app, torch and
    a model loaded, measured here), so the timer runs one at most every
    :attr:`FULL_EVERY_S` seconds, and never more than 1% of the time; CPython
    rations them too. Young garbage, most of it, goes at every tick.
    """

    INTERVAL_MS = 500
    FULL_EVERY_S = 60.0

    def __init__(self) -> None:
        super().__init__()
        self._holders = 0
        self._was_enabled = True
        self._last_full = time.monotonic()
        self._full_cost = 0.0
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(self.INTERVAL_MS)
        self._timer.timeout.connect(self.collect_due)

    def hold(self) -> None:
        """A job starts (call on the GUI thread)."""
        if self._holders == 0:
            self._was_enabled = gc.isenabled()
            if self._was_enabled:  # collection switched off by someone else stays off
                gc.disable()
                self._last_full = time.monotonic()
                self._timer.start()
        self._holders += 1

    def release(self) -> None:
        """A job's thread has ended (call on the GUI thread)."""
        if self._holders == 0:
            return
        self._holders -= 1
        if self._holders == 0:
            self._timer.stop()
            if self._was_enabled:
                gc.enable()

    @QtCore.Slot()
    def collect_due(self) -> int:
        """Collect the generations whose allocation counts passed their thresholds, as gc would."""
        (t0, t1, t2), (c0, c1, c2) = gc.get_threshold(), gc.get_count()
        if t0 == 0 or c0 <= t0:
            return 0
        gen = 1 if c1 > t1 else 0
        now = time.monotonic()
        if gen == 1 and c2 > t2 and now - self._last_full >= max(self.FULL_EVERY_S, 100 * self._full_cost):
            gen = 2
        n = gc.collect(gen)
        if gen == 2:
            self._last_full = time.monotonic()
            self._full_cost = self._last_full - now
        return n


_GC: Optional[GuiThreadGC] = None


def _gui_gc() -> Optional[GuiThreadGC]:
    """The process's guard, made on first use; None off the GUI thread (no app, or a worker)."""
    global _GC
    app = QtCore.QCoreApplication.instance()
    if app is None or not QtCore.QThread.isMainThread():
        return None
    if _GC is None:
        _GC = GuiThreadGC()
    return _GC


class Worker(QtCore.QObject):
    """Runs one job in its thread; signals ``progress(Progress)``, ``finished(result)``, ``failed(str)``.

    ``failed`` carries a message for a person: the text of a DislocError, or
    "stopped" after :meth:`cancel`, or a one-line description of a bug (the
    traceback goes to the log).
    """

    progress = QtCore.Signal(object)
    finished = QtCore.Signal(object)
    failed = QtCore.Signal(str)

    def __init__(self, fn: Callable[..., Any]) -> None:
        super().__init__()
        self._fn = fn
        self._stop = threading.Event()

    def cancel(self) -> None:
        """Ask the job to stop at its next check (thread-safe)."""
        self._stop.set()

    def should_stop(self) -> bool:
        return self._stop.is_set()

    @QtCore.Slot()
    def run(self) -> None:
        try:
            result = self._fn(self.progress.emit, self.should_stop)
        except Cancelled:
            self.failed.emit("stopped")
        except DislocError as e:
            self.failed.emit(str(e))
        except Exception as e:  # a bug: keep the GUI alive and tell the user once
            log.error("job failed:\n%s", traceback.format_exc())
            self.failed.emit(f"internal error: {type(e).__name__}: {e}")
        else:
            self.finished.emit(result)


class Job(QtCore.QObject):
    """A worker and its thread; start with :func:`start_job`.

    The job re-emits the worker's signals on the GUI thread (it lives
    there), so plain functions connected to ``progress``, ``finished`` and
    ``failed`` run on the GUI thread. ``done`` follows once the thread has
    ended, whatever the outcome.
    """

    progress = QtCore.Signal(object)
    finished = QtCore.Signal(object)
    failed = QtCore.Signal(str)
    done = QtCore.Signal()

    def __init__(self, fn: Callable[..., Any], parent: Optional[QtCore.QObject] = None) -> None:
        super().__init__(parent)
        self.worker = Worker(fn)
        self.thread = QtCore.QThread()
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run)
        # Direct: QThread.quit is thread-safe, and a queued quit would never arrive while the GUI
        # thread blocks in wait() (closing the window), so the wait would run into its timeout.
        direct = QtCore.Qt.ConnectionType.DirectConnection
        self.worker.finished.connect(self.thread.quit, direct)
        self.worker.failed.connect(self.thread.quit, direct)
        # Slots of this GUI-thread object: Qt queues these calls across threads.
        self.worker.progress.connect(self._relay_progress)
        self.worker.finished.connect(self._relay_finished)
        self.worker.failed.connect(self._relay_failed)
        self.thread.finished.connect(self._on_thread_finished)
        self.is_done = False
        self._gc: Optional[GuiThreadGC] = None

    @QtCore.Slot(object)
    def _relay_progress(self, p) -> None:
        self.progress.emit(p)

    @QtCore.Slot(object)
    def _relay_finished(self, r) -> None:
        self.finished.emit(r)

    @QtCore.Slot(str)
    def _relay_failed(self, msg) -> None:
        self.failed.emit(msg)

    def start(self) -> "Job":
        _LIVE.add(self)
        self._gc = _gui_gc()
        if self._gc is not None:
            self._gc.hold()
        self.thread.start()
        return self

    def cancel(self) -> None:
        self.worker.cancel()

    def wait(self, ms: int = 30000) -> bool:
        """Block until the thread has finished (used on close)."""
        if self.is_done:
            return True
        ok = self.thread.wait(ms)
        if ok:
            self._on_thread_finished()
        return ok

    @QtCore.Slot()
    def _on_thread_finished(self) -> None:
        if self.is_done:
            return
        self.is_done = True
        _LIVE.discard(self)
        if self._gc is not None:
            self._gc.release()
            self._gc = None
        self.done.emit()


def start_job(fn: Callable[..., Any], on_finished=None, on_failed=None, on_progress=None,
              parent: Optional[QtCore.QObject] = None) -> Job:
    """Run ``fn(on_progress, should_stop)`` in a new thread; callbacks run on the GUI thread."""
    job = Job(fn, parent)
    if on_finished is not None:
        job.finished.connect(on_finished)
    if on_failed is not None:
        job.failed.connect(on_failed)
    if on_progress is not None:
        job.progress.connect(on_progress)
    return job.start()


def stop_all(timeout_ms: int = 30000) -> bool:
    """Cancel every live job and wait for its thread; False if one did not stop in time."""
    ok = True
    for j in list(_LIVE):
        j.cancel()
    for j in list(_LIVE):
        ok = j.wait(timeout_ms) and ok
    return ok


class LatestOnly(QtCore.QObject):
    """Runs at most one job at a time and keeps only the newest waiting request.

    For live previews: each :meth:`submit` gets a rising request id; while a
    render is running, newer requests replace the waiting one, and results of
    requests older than the newest one shown are dropped.

    Signals ``result(request_id, value)`` and ``failed(request_id, message)``.
    """

    result = QtCore.Signal(int, object)
    failed = QtCore.Signal(int, str)

    def __init__(self, parent: Optional[QtCore.QObject] = None) -> None:
        super().__init__(parent)
        self._next_id = 0
        self._shown_id = -1
        self._running: Optional[Job] = None
        self._pending: Optional[tuple[int, Callable]] = None

    @property
    def busy(self) -> bool:
        return self._running is not None or self._pending is not None

    def submit(self, fn: Callable[[], Any]) -> int:
        """Queue ``fn()`` (no arguments); returns its request id."""
        self._next_id += 1
        self._pending = (self._next_id, fn)
        if self._running is None:
            self._start_pending()
        return self._next_id

    def _start_pending(self) -> None:
        if self._pending is None:
            return
        rid, fn = self._pending
        self._pending = None

        def ok(value, rid=rid):
            if rid > self._shown_id:
                self._shown_id = rid
                self.result.emit(rid, value)

        def bad(msg, rid=rid):
            if rid > self._shown_id:
                self.failed.emit(rid, msg)

        job = start_job(lambda _p, _s: fn(), on_finished=ok, on_failed=bad, parent=self)
        job.done.connect(self._on_done)
        self._running = job

    def _on_done(self) -> None:
        self._running = None
        self._start_pending()

    def stop(self) -> None:
        self._pending = None
        if self._running is not None:
            self._running.cancel()
            self._running.wait()
            self._running = None
