"""Run a core job in a child process, driven from a worker thread (Qt-free).

Why not simply the worker thread: torch holds Python's GIL in places for
100-300 ms at a time (writing a checkpoint with ``torch.save``, setting up
kernels for a new input shape), and the GUI thread, which needs the GIL to
do anything, stalls for as long. A child process has its own interpreter:
the window only receives small progress messages. The worker thread calls
:func:`call_in_child` like any core job (``on_progress``, ``should_stop``),
so cancelling, progress and errors keep the one worker pattern of
:mod:`app.gui.workers`.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import traceback
from typing import Any, Callable

from core.errors import Cancelled, DislocError

log = logging.getLogger(__name__)

NICE = 10  # the child yields the CPU to the window whenever the window needs it
POLL_S = 0.05


def _lower_priority(nice: int) -> None:
    """Let the window have the CPU first whenever it needs it (Linux/macOS nice; ignored elsewhere)."""
    try:
        os.nice(nice)
    except (AttributeError, OSError):
        pass


def _child(fn: Callable, args: tuple, kwargs: dict, out: "mp.Queue", stop: "mp.Event", nice: int) -> None:
    _lower_priority(nice)
    try:
        result = fn(*args, on_progress=lambda p: out.put(("progress", p)), should_stop=stop.is_set, **kwargs)
    except Cancelled:
        out.put(("cancelled", None))
    except DislocError as e:
        out.put(("error", str(e)))
    except BaseException as e:  # a bug or out of memory: the parent shows one line, the log has the rest
        out.put(("bug", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
    else:
        out.put(("done", result))


def call_in_child(fn: Callable[..., Any], *args, on_progress=None, should_stop=None, nice: int = NICE,
                  **kwargs) -> Any:
    """Call ``fn(*args, on_progress=..., should_stop=..., **kwargs)`` in a spawned process; return its result.

    ``fn`` must be importable (a module-level function such as
    :func:`core.learn.train.train`), its arguments and result picklable. Progress
    reports are passed to ``on_progress`` in this thread; ``should_stop`` is
    polled every 50 ms and forwarded, and the child stops at its own next
    check (so it saves what it saves on a cancel). Raises what the job
    raised: :class:`Cancelled`, :class:`DislocError` (same text), or a
    DislocError when the child died without a word (killed, crashed).
    """
    ctx = mp.get_context("spawn")  # never fork a process that runs Qt and torch threads
    out, stop = ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=_child, args=(fn, args, kwargs, out, stop, nice), daemon=True,
                       name=f"disloc-{getattr(fn, '__name__', 'job')}")
    proc.start()
    try:
        while True:
            if should_stop is not None and should_stop():
                stop.set()
            try:
                kind, payload = out.get(timeout=POLL_S)
            except queue.Empty:
                if not proc.is_alive():
                    try:  # the last words may have arrived just as it ended
                        kind, payload = out.get(timeout=1.0)
                    except queue.Empty:
                        raise DislocError(f"the {proc.name} process ended unexpectedly (exit code {proc.exitcode}; "
                                          "out of memory?). What was saved before is kept; try a smaller batch "
                                          "size or image size") from None
                else:
                    continue
            if kind == "progress":
                if on_progress is not None:
                    on_progress(payload)
            elif kind == "done":
                return payload
            elif kind == "cancelled":
                raise Cancelled()
            elif kind == "error":
                raise DislocError(payload)
            else:
                log.error("%s failed:\n%s", proc.name, payload)
                raise DislocError(f"internal error in {proc.name}: {payload.splitlines()[0]}")
    finally:
        stop.set()
        proc.join(timeout=600)  # it has sent its last message and only exits now
        out.close()
