import contextlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

# Real Qt widgets, no screen.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Two cores: keep torch from oversubscribing when tests run beside each other.
os.environ.setdefault("OMP_NUM_THREADS", "2")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")
    parser.addoption("--gc-stress", type=int, default=0, metavar="N",
                     help="collect young garbage after every N allocations (CPython's default: 700), "
                          "to bring out thread bugs of garbage collection")


def pytest_configure(config):
    n = config.getoption("--gc-stress")
    if n > 0:
        import gc

        gc.set_threshold(n, 2, 2)


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: give --runslow to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


# A test still running after this many seconds has its threads' native (C/C++) stacks printed, so a
# deadlock between the GIL and a Qt or torch lock shows where each thread waits; 30 s later pytest's
# faulthandler_timeout (pyproject.toml) prints the Python stacks and ends the run.
NATIVE_STACKS_AFTER_S = float(os.environ.get("DISLOC_NATIVE_STACKS_AFTER_S", "270"))
_FRAME = re.compile(r"^#\d+\s+(?:0x[0-9a-f]+ in )?(\S+) \(.*?\)(?: (?:at|from) (\S+))?")


def native_stacks(pid: int, depth: int = 14) -> str:
    """Every thread's innermost native frames (function and library), identical stacks counted once."""
    gdb = shutil.which("gdb")
    if gdb is None:
        return "(no gdb on this machine: native stacks not available)"
    try:
        out = subprocess.run([gdb, "-batch", "-nx", "-p", str(pid), "-ex", "set pagination off",
                              "-ex", f"thread apply all bt {depth}"],
                             capture_output=True, text=True, timeout=25).stdout  # before faulthandler's 300 s
    except (OSError, subprocess.SubprocessError) as e:
        return f"(gdb failed: {e})"
    stacks, cur = [], None
    for line in out.splitlines():
        if line.startswith("Thread "):
            cur = []
            stacks.append(cur)
        elif cur is not None and (m := _FRAME.match(line)):
            func, where = m.groups()
            cur.append(f"{func} [{Path(where).name.split(':')[0]}]" if where else func)
    counted = Counter(" <- ".join(st) for st in stacks if st)
    return "\n".join(f"{n} thread(s): {st}" for st, n in counted.most_common()) or out[-4000:]


def _print_native_stacks(item) -> None:
    text = native_stacks(os.getpid())
    capman = item.config.pluginmanager.getplugin("capturemanager")
    # to the terminal: a hung run never shows captured output
    with capman.global_and_fixture_disabled() if capman is not None else contextlib.nullcontext():
        sys.stderr.write(f"\n{item.nodeid} still runs after {NATIVE_STACKS_AFTER_S:g} s; native stacks "
                         f"(innermost first):\n{text}\n")
        sys.stderr.flush()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    timer = threading.Timer(NATIVE_STACKS_AFTER_S, _print_native_stacks, args=(item,))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


# A test that leaves a thread running fails (napari's dangling-thread check): a worker still going
# would touch the next test's widgets or files, or keep the interpreter from exiting. Threads get a
# few seconds to wind down; the app's jobs end on the GUI thread, so its events are processed meanwhile.
LEFTOVER_GRACE_S = 10.0


def _leftovers(before: set) -> list[str]:
    threads = [t.name for t in threading.enumerate()
               # a QThread that ran Python shows as a _DummyThread that never ends: app jobs are checked instead
               if t not in before and t.is_alive() and not isinstance(t, threading._DummyThread)]
    workers = sys.modules.get("app.gui.workers")
    jobs = [f"app job {j.worker._fn!r}" for j in workers.live_jobs()] if workers is not None else []
    return threads + jobs


@pytest.fixture(autouse=True)
def no_leftover_threads():
    before = set(threading.enumerate())
    yield
    qt = sys.modules.get("PySide6.QtCore")
    deadline = time.monotonic() + LEFTOVER_GRACE_S
    while left := _leftovers(before):
        if time.monotonic() > deadline:
            pytest.fail(f"threads left running after the test: {', '.join(left)}")
        if qt is not None and qt.QCoreApplication.instance() is not None:
            qt.QCoreApplication.processEvents()
        time.sleep(0.02)
