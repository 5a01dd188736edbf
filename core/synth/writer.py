"""Writing synthetic datasets (core/dataset.py format), resumable and in parallel.

Sample ``i`` of a dataset with seed ``S`` uses the seed :func:`derive_seed`
(S, i) for both its parameters and its image, so the result does not depend
on the number of workers, on the order of completion or on resuming.
"""
from __future__ import annotations

import multiprocessing as mp
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .. import __version__
from ..io.dataset import MANIFEST, is_complete, read_manifest, sample_id, write_manifest, write_sample
from ..errors import DislocError
from ..io.fileio import PathLike, output_error, read_json
from ..progress import Progress, ProgressCallback, StopCallback, check_stop, no_progress
from .generate import Sample, generate, sample_from_json
from .params import check_value
from .presets import Preset, load_preset, sample_params

_SUBDIRS = ("images", "masks", "overlay", "params")


def derive_seed(dataset_seed: int, index: int) -> int:
    """The seed of sample ``index`` of a dataset seeded ``dataset_seed`` (63-bit int)."""
    state = np.random.SeedSequence([int(dataset_seed), int(index), 0xD15C]).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))


def make_sample(preset: Preset, dataset_seed: int, index: int, size: Optional[int] = None) -> Sample:
    """Sample ``index`` of the dataset (parameters drawn from the preset, then rendered)."""
    seed = derive_seed(dataset_seed, index)
    return generate(sample_params(preset, seed, size), seed)


def save_sample(root: PathLike, sid: str, sample: Sample, extra: Optional[dict] = None,
                overlay: bool = True) -> None:
    """Write image PNG, bit-packed masks, the overlay PNG (with ``overlay``) and params JSON (last) of one sample."""
    rec = sample.to_json()
    if extra:
        rec.update(extra)
    write_sample(root, sid, sample.image_u8(), sample.masks, sample.overlay() if overlay else None, rec)


def _work(job: tuple) -> int:
    _save(job, make_sample(job[1], job[2], job[3], job[4]))
    return job[3]


def _save(job: tuple, s: Sample) -> None:
    root, preset, dataset_seed, index, size, overlay = job
    save_sample(root, sample_id(index), s,
                {"dataset": {"preset": preset.name, "dataset_seed": dataset_seed, "index": index}}, overlay)


@dataclass(frozen=True)
class WriteReport:
    """What :func:`write_dataset` did: samples written now, found finished, seconds."""

    written: int
    skipped: int
    seconds: float


def _check_manifest(root: Path, preset: Preset, seed: int, size: int) -> None:
    if not (root / MANIFEST).exists():
        return
    m = read_manifest(root)
    mine = {"preset": preset.name, "seed": seed, "image_size": size}
    for k, v in mine.items():
        if m.get(k) != v:
            raise DislocError(f"{root / MANIFEST}: {k}: this folder holds a dataset made with {k}={m.get(k)!r}, "
                              f"not {v!r}; use another --out, or the same options to resume")
    if m.get("preset_ranges") not in (None, preset.to_dict()["ranges"]):
        raise DislocError(f"{root / MANIFEST}: preset_ranges: the preset '{preset.name}' changed since this dataset "
                          "was started; use another --out")


def _remove_stale_temp(root: Path) -> None:
    # a killed run can leave '.name.tmp' files from atomic writes; they are never read
    for sub in _SUBDIRS:
        d = root / sub
        if d.is_dir():
            for f in d.glob(".*.tmp"):
                f.unlink(missing_ok=True)


def write_dataset(out: PathLike, preset: Union[Preset, str, PathLike], n: int, seed: int = 0, *,
                  size: Optional[int] = None, workers: int = 1, overlay: bool = False,
                  on_progress: ProgressCallback = no_progress,
                  should_stop: Optional[StopCallback] = None) -> WriteReport:
    """Write (or finish) a dataset of ``n`` samples into ``out``.

    Parameters
    ----------
    out : path
        Dataset folder (created). Finished samples already there are
        skipped, so re-running the same call resumes a stopped run.
    preset : Preset, name or path
    n : int
        Number of samples (ids ``s000000`` .. ``s{n-1:06d}``).
    seed : int
        Dataset seed; sample i uses :func:`derive_seed` (seed, i).
    size : int, optional
        Image size in px (default: the preset's).
    workers : int
        Processes (1: in this process; more: a spawn pool).
    overlay : bool
        Also write ``overlay/<id>.png`` (the masks coloured over the image,
        for looking at; nothing reads them, and they cost a third of the
        writing time).
    on_progress, should_stop
        Progress reports (step = finished samples) and cancellation
        (raises :class:`~core.errors.Cancelled`; finished samples are kept).
    """
    if n < 0:
        raise DislocError(f"--n: must be >= 0, got {n}")
    if workers < 1:
        raise DislocError(f"--workers: must be >= 1, got {workers}")
    preset = load_preset(preset)
    try:
        size = check_value("size", size or preset.size)
    except DislocError as e:  # before any parameter is drawn: a bad size would fail later on an unrelated key
        raise DislocError(f"--{e}; give the image side in px") from None
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise DislocError(f"{root}: exists and is not a folder")
    _check_manifest(root, preset, int(seed), size)
    _check_inputs(preset, int(seed), size)
    try:
        return _write(root, preset, n, int(seed), size, workers, overlay, on_progress, should_stop)
    except OSError as e:  # read-only, full or vanished output folder: one line, finished samples kept
        raise output_error(e, root) from None


def _write(root: Path, preset: Preset, n: int, seed: int, size: int, workers: int, overlay: bool, on_progress,
           should_stop) -> WriteReport:
    root.mkdir(parents=True, exist_ok=True)
    write_manifest(root, {"kind": "synthetic", "preset": preset.name, "preset_ranges": preset.to_dict()["ranges"],
                          "seed": int(seed), "count": int(n), "image_size": size,
                          "created_by": f"disloc {__version__}"})
    _remove_stale_temp(root)
    pending = [i for i in range(n) if not is_complete(root, sample_id(i))]
    skipped = n - len(pending)
    t0 = time.monotonic()
    done = skipped
    on_progress(Progress(done, n, "generating"))

    def report() -> None:
        rate = (done - skipped) / max(time.monotonic() - t0, 1e-9)
        on_progress(Progress(done, n, "generating", {"samples/s": round(rate, 1)}))

    jobs = [(str(root), preset, int(seed), i, size, overlay) for i in pending]
    if workers == 1 or len(jobs) <= 1:
        # one thread writes sample i (PNG, masks, JSON; mostly waiting on the disk's fsync) while
        # this one draws sample i + 1; a stop or an error waits for the write under way, so it is whole
        with ThreadPoolExecutor(1) as writer:
            writing = None
            for job in jobs:
                check_stop(should_stop)
                s = make_sample(job[1], job[2], job[3], job[4])
                if writing is not None:
                    writing.result()
                    done += 1
                    report()
                writing = writer.submit(_save, job, s)
            if writing is not None:
                writing.result()
                done += 1
                report()
    else:
        ctx = mp.get_context("spawn")  # safe also from a GUI process with threads
        with ctx.Pool(min(workers, len(jobs))) as pool:
            try:
                for _ in pool.imap_unordered(_work, jobs, chunksize=1):
                    done += 1
                    report()
                    check_stop(should_stop)
            except BaseException:
                pool.terminate()  # finished samples stay; half-written ones have no params file
                raise
    return WriteReport(len(pending), skipped, time.monotonic() - t0)


def _check_inputs(preset: Preset, seed: int, size: int) -> None:
    """Fail early on a bad background or shape folder (before any worker starts)."""
    p = sample_params(preset, derive_seed(seed, 0), size)
    if p.background == "patches" or "patches" in str(preset.ranges.get("background", "")):
        from .background import patch_library

        patch_library(p.patch_dir).check()
    if any(q.shape_source == "labelme" for q in p.pileups):
        from .geometry import shape_library

        shape_library(p.shape_dir)


def regenerate(json_path: PathLike, out: PathLike) -> str:
    """Regenerate the sample recorded in ``json_path`` into dataset folder ``out``; returns its id."""
    json_path = Path(json_path)
    sample = sample_from_json(read_json(json_path), source=str(json_path))
    sid = json_path.stem
    root = Path(out)
    try:
        if not (root / MANIFEST).exists():
            write_manifest(root, {"kind": "regenerated", "count": 0, "image_size": sample.params.size,
                                  "created_by": f"disloc {__version__}"})
        save_sample(root, sid, sample, {"regenerated_from": str(json_path)})
    except OSError as e:
        raise output_error(e, root) from None
    return sid
