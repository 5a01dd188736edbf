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


class Eta:
    """The time a job still needs, from the steps it did since its first report.

    A resumed job's first report already stands part way (finished frames,
    epochs or samples are skipped at once), so the rate counts only the
    steps done after it; counting all would promise a few seconds for hours
    of work. The one ETA of the project: the CLI's :class:`TextBar` and the
    app's job bars use it.

    Parameters
    ----------
    t0 : float, optional
        When the job started (``time.monotonic()`` seconds). The clock runs
        from there; by default it starts at the first report.
    """

    def __init__(self, t0: Optional[float] = None) -> None:
        self.t0 = t0
        self.first_step: Optional[int] = None
        self.rate = 0.0  # steps per second at the last report (0 while unknown)

    def seconds_left(self, step: int, total: int, now: Optional[float] = None) -> float:
        """Seconds until ``step`` reaches ``total`` at the rate so far; nan while unknown.

        Parameters
        ----------
        step, total : int
            Units done and units in all.
        now : float, optional
            The time of this report (``time.monotonic()`` seconds; default: now).
        """
        now = time.monotonic() if now is None else now
        if self.t0 is None:
            self.t0 = now
        if self.first_step is None:
            self.first_step = step
        done, elapsed = step - self.first_step, now - self.t0
        if done <= 0 or elapsed <= 0:
            self.rate = 0.0
            return float("nan")
        self.rate = done / elapsed
        return elapsed / done * (total - step)


def format_duration(seconds: float) -> str:
    """``mm:ss``, or ``h:mm:ss`` from an hour on; ``--:--`` for an unknown (nan, infinite or negative) time."""
    if seconds != seconds or seconds == float("inf") or seconds < 0:
        return "--:--"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class TextBar:
    """A dependency-free progress bar with ETA for the command line.

    Use it as an ``on_progress`` callback. Writes to stderr, redraws in place
    on a terminal and prints occasional lines otherwise (CI logs stay short).
    """

    def __init__(self, label: str = "", stream=None, width: int = 28) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self._eta = Eta(time.monotonic())  # from the bar's start: setting up the job takes time too
        self._last_print = 0.0
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._done = False

    @property
    def t0(self) -> float:
        """When the bar started (``time.monotonic()`` s)."""
        return self._eta.t0

    @t0.setter
    def t0(self, value: float) -> None:
        self._eta.t0 = value

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        final = p.total and p.step >= p.total
        if not final and now - self._last_print < (0.1 if self._tty else 5.0):
            return
        self._last_print = now
        elapsed = now - self.t0
        eta = self._eta.seconds_left(p.step, p.total, now)  # the first report sets the steps' origin
        if p.total:
            frac = min(1.0, p.step / p.total)
            filled = int(self.width * frac)
            bar = "#" * filled + "-" * (self.width - filled)
            text = f"{self.label} [{bar}] {p.step}/{p.total} {format_duration(elapsed)} eta {format_duration(eta)}"
        else:
            text = f"{self.label} {p.step} {format_duration(elapsed)}"
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


def _fmt_num(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
