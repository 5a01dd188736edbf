"""Progress reports that leave core as plain data.

Core jobs take ``on_progress: Callable[[Progress], None]`` and
``should_stop: Callable[[], bool]``; the CLI turns reports into a text bar,
the GUI into a Qt signal.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional

from .errors import Cancelled


@dataclass(frozen=True)
class Progress:
    """One progress report.

    Attributes
    ----------
    step, total : int
        Units done and units in all (``total`` 0 when unknown).
    message : str
        What is being done, for a person.
    metrics : Mapping[str, float]
        Numbers worth showing (loss, metric, frames/s, ...).
    """

    step: int
    total: int
    message: str = ""
    metrics: Mapping[str, float] = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        return self.step / self.total if self.total else 0.0


ProgressCallback = Callable[[Progress], None]
StopCallback = Callable[[], bool]


def no_progress(_: Progress) -> None:
    """A progress callback that does nothing."""


def never_stop() -> bool:
    return False


def check_stop(should_stop: Optional[StopCallback]) -> None:
    """Raise :class:`Cancelled` when the caller asked to stop."""
    if should_stop is not None and should_stop():
        raise Cancelled()


class TextBar:
    """A dependency-free progress bar with ETA for the command line.

    Use it as an ``on_progress`` callback. Writes to stderr, redraws in place
    on a terminal and prints occasional lines otherwise (CI logs stay short).
    """

    def __init__(self, label: str = "", stream=None, width: int = 28) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.t0 = time.monotonic()
        self._last_print = 0.0
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._done = False
        self._first_step: Optional[int] = None  # a resumed job starts part way

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        final = p.total and p.step >= p.total
        if not final and now - self._last_print < (0.1 if self._tty else 5.0):
            return
        self._last_print = now
        elapsed = now - self.t0
        if self._first_step is None:
            self._first_step = p.step
        if p.total:
            frac = min(1.0, p.step / p.total)
            filled = int(self.width * frac)
            bar = "#" * filled + "-" * (self.width - filled)
            done_here = p.step - self._first_step
            eta = elapsed / done_here * (p.total - p.step) if done_here > 0 else float("nan")
            text = f"{self.label} [{bar}] {p.step}/{p.total} {_fmt_time(elapsed)} eta {_fmt_time(eta)}"
        else:
            text = f"{self.label} {p.step} {_fmt_time(elapsed)}"
        if p.metrics:
            text += " " + " ".join(f"{k}={_fmt_num(v)}" for k, v in p.metrics.items())
        if p.message:
            text += f" {p.message}"
        if self._tty:
            self.stream.write("\r" + text[:200].ljust(80))
            if final:
                self.stream.write("\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()


def _fmt_time(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "--:--"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _fmt_num(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
