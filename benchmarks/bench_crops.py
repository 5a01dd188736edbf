"""Fine-tuning crops per second: annotated frames kept decoded against read from disk for every crop.

Fine-tuning draws crops from a few annotated frames again and again (the
recipe: 4 steps of 4 crops an epoch, some 40 epochs on ten frames). Each crop
used to read the PNG and rasterise the labelme line strips afresh;
:class:`core.learn.traindata.SegmentationSet` now keeps annotated frames
decoded (up to ``ANNOTATION_CACHE_BYTES``). This prints crops/s both ways in
the same run, on ten synthetic annotated frames of the size of the real video
in ``../shared/realdata/tem_8um`` (700 x 362 px; made here, nothing read from
``../shared``), with the fine-tuning recipe's crop size and augmentations, and
what the saving is worth per optimiser step of the recipe.

    .venv/bin/python benchmarks/bench_crops.py [--crops 200]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.io.fileio import atomic_write_png  # noqa: E402
from core.io.labelme import LabelFile, write_labelme  # noqa: E402
from core.learn.finetune import RECIPE  # noqa: E402
from core.learn.traindata import SegmentationSet, open_source  # noqa: E402
from core.synth import default_params, generate  # noqa: E402

W, H = 700, 362


def make_frames(folder: Path, n: int = 10) -> tuple[int, int]:
    """Write n annotated frames; returns their (height, width)."""
    for i in range(n):
        image = (s := generate(default_params(W, aspect=H / W), 500 + i)).image_u8()
        atomic_write_png(folder / f"frame_{i:03d}.png", image)
        write_labelme(folder / f"frame_{i:03d}.json",
                      LabelFile.from_polylines(s.polylines, f"frame_{i:03d}.png", *image.shape))
    return image.shape


def crops_per_second(src, n: int, cache_bytes: int | None) -> float:
    kw = {} if cache_bytes is None else {"cache_bytes": cache_bytes}
    ds = SegmentationSet([src], size=RECIPE["image_size"], n_masks=20, line_width=RECIPE["line_width"],
                         augment_names=tuple(RECIPE["augment"]), seed=0,
                         crop_on_lines=RECIPE["crop_on_lines"], **kw)
    t = time.perf_counter()
    for i in range(n):
        ds.set_epoch(i // len(ds))
        ds[i % len(ds)]
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--crops", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        h, w = make_frames(Path(tmp))
        src = open_source(tmp, "annotations")
        print(f"{len(src.keys)} annotated frames of {w} x {h} px; crops of {RECIPE['image_size']} px with "
              f"{', '.join(RECIPE['augment'])}; {args.crops} crops each way")
        disk = crops_per_second(src, args.crops, 0)
        kept = crops_per_second(src, args.crops, None)
    b = RECIPE["batch_size"]
    print(f"read from disk for every crop (before): {disk:6.1f} crops/s  ({1000 * b / disk:5.0f} ms of data per step of {b})")
    print(f"kept decoded (now):                     {kept:6.1f} crops/s  ({1000 * b / kept:5.0f} ms of data per step of {b})")
    print(f"speed-up {kept / disk:.1f}x; saves {1000 * b * (1 / disk - 1 / kept):.0f} ms of every optimiser step")


if __name__ == "__main__":
    main()
