"""How many CPU threads torch gets in the app's process and in training (Qt-free)."""
from __future__ import annotations

import os
import threading


def default_threads() -> int:
    """Torch CPU threads for training: all cores but one, so the window keeps a core to stay responsive."""
    return max(1, (os.cpu_count() or 2) - 1)


_THREADS_LOCK = threading.Lock()
_THREADS_SET = False


def set_torch_threads_once() -> None:
    """Give torch all cores but one, once per process, before its first use (called in workers).

    The window keeps a core, and on a busy machine fewer threads than cores
    keeps OpenMP threads from waiting for each other (measured here: 0.2 s
    instead of 4 s per 512 px frame). Once only: changing the count while
    another thread runs torch can hang it.
    """
    global _THREADS_SET
    with _THREADS_LOCK:
        if not _THREADS_SET:
            import torch

            torch.set_num_threads(default_threads())
            _THREADS_SET = True
