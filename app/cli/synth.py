"""``disloc synth``: synthetic datasets, regeneration, fitted presets, synthetic twins.

    disloc synth --preset m2 --n 4000 --out DIR [--seed 7] [--workers 2] [--size 512]
    disloc synth --from-json DIR/params/s000042.json --out DIR2
    disloc synth fit-preset --annotations LABELLED_DIR --out m1.json
    disloc synth twin --annotation frame.json --out DIR [--seed S] [--preset m2]
    disloc synth harvest-backgrounds FRAMES [--annotations DIR] --out DIR
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

# The built-in preset of the paper's M2 set: what to draw when no preset is named.
DEFAULT_PRESET = "m2"


def register(sub) -> None:
    p = sub.add_parser(
        "synth", help="generate synthetic images of dislocations with instance masks",
        description="Generate a synthetic dataset (image PNG, bit-packed instance masks, overlay, params JSON per "
                    "sample) from a preset; re-running the same command resumes. Subcommands fit a preset to "
                    "labelled frames or make a synthetic twin of one.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--preset", default=DEFAULT_PRESET,
                   help="built-in preset name or a preset .json path (default: %(default)s)")
    p.add_argument("--n", type=int, help="number of samples in the dataset")
    p.add_argument("--out", help="dataset folder to write (created; finished samples are kept)")
    p.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    p.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    p.add_argument("--size", type=int, help="image size in px (default: the preset's, 512)")
    p.add_argument("--overlay", action="store_true",
                   help="also write overlay/<id>.png, the masks coloured over each image, for looking at")
    p.add_argument("--from-json", dest="from_json", metavar="PARAMS_JSON",
                   help="regenerate the sample recorded in a params JSON into --out")
    ss = p.add_subparsers(dest="synth_command", metavar="{fit-preset,twin,harvest-backgrounds}")
    f = ss.add_parser("fit-preset", help="fit an M1-style preset to labelme-annotated real frames")
    f.add_argument("--annotations", required=True, help="folder of labelme .json files (one line strip per dislocation)")
    f.add_argument("--out", required=True, help="preset .json to write")
    f.add_argument("--name", help="preset name (default: the file name)")
    f.add_argument("--base", default=DEFAULT_PRESET,
                   help="preset giving background and drawing ranges (default %(default)s)")
    t = ss.add_parser("twin", help="synthetic twin: the geometry of an annotated frame on a new background")
    t.add_argument("--annotation", required=True, help="labelme .json of the real frame")
    t.add_argument("--out", required=True, help="dataset folder to write the twin into")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--preset", default=DEFAULT_PRESET, help="preset for background and drawing (default %(default)s)")
    h = ss.add_parser("harvest-backgrounds", help="cut dislocation-free background crops from your own frames",
                      description="Cut background crops with no dislocation from a video, stack or image folder: "
                      "away from annotated lines in annotated frames, where no line-like feature is in the others. "
                      "Use the folder as patch_dir with background 'patches' (a preset range or the Designer).")
    h.add_argument("frames", metavar="FRAMES", help="video, TIFF stack, image folder or image")
    h.add_argument("--annotations", metavar="DIR", help="labelme files of some frames (their lines are avoided)")
    h.add_argument("--out", required=True, help="folder for the crops (PNG) and harvest.json")
    h.add_argument("--max-frames", type=int, default=30, help="frames to use at most (default 30)")
    h.add_argument("--per-frame", type=int, default=4, help="crops per frame at most (default 4)")
    h.add_argument("--margin", type=float, default=8.0, metavar="PX",
                   help="distance kept from lines, px (default 8)")
    h.add_argument("--min-size", type=int, default=64, metavar="PX", help="smallest crop side, px (default 64)")
    p.set_defaults(func=run)


def run(args) -> int:
    from core.errors import DislocError

    cmd = getattr(args, "synth_command", None)
    if cmd == "fit-preset":
        return _fit(args)
    if cmd == "twin":
        return _twin(args)
    if cmd == "harvest-backgrounds":
        return _harvest(args)
    if not args.out:
        raise DislocError("--out: give the dataset folder to write")
    if args.from_json:
        from core.synth.writer import regenerate

        sid = regenerate(args.from_json, args.out)
        print(f"regenerated {sid} into {args.out}")
        return 0
    if args.n is None:
        raise DislocError("--n: give the number of samples (e.g. --n 4000)")
    from core.progress import TextBar
    from core.synth.writer import write_dataset

    bar = TextBar("synth")
    try:
        rep = write_dataset(args.out, args.preset, args.n, args.seed, size=args.size, workers=args.workers,
                            overlay=args.overlay, on_progress=bar)
    finally:
        bar.close()
    note = f" ({rep.skipped} already there)" if rep.skipped else ""
    rate = rep.written / rep.seconds if rep.seconds > 0 else 0.0
    print(f"wrote {rep.written} samples to {args.out}{note} in {rep.seconds:.1f} s ({rate:.1f} samples/s)")
    return 0


def _fit(args) -> int:
    from core.synth.fit import fit_preset
    from core.synth.presets import save_preset

    name = args.name or Path(args.out).stem
    preset = fit_preset(args.annotations, name=name, base=args.base)
    save_preset(preset, args.out)
    obs = preset.meta["observed"]
    print(f"fitted preset '{name}' from {len(preset.meta['fitted_from'])} frames -> {args.out}")
    for k in ("n_pileups", "n_dislocations", "slip_width", "angle", "spacing"):
        if k in preset.ranges:
            print(f"  {k}: {preset.to_dict()['ranges'][k]} ({len(obs.get(k, []))} observations)")
    return 0


def _twin(args) -> int:
    from core import __version__
    from core.io.dataset import MANIFEST, write_manifest
    from core.io.fileio import output_error
    from core.synth.fit import load_annotation, twin_params, twin_scene
    from core.synth.generate import render_scene
    from core.synth.writer import save_sample

    lf = load_annotation(args.annotation)
    params = twin_params(args.preset, args.seed, lf.image_height, lf.image_width, source=str(args.annotation))
    sample = render_scene(twin_scene(lf, params, args.seed), params, args.seed)
    out = Path(args.out)
    sid = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(args.annotation).stem) + "_twin"
    try:
        if not (out / MANIFEST).exists():
            write_manifest(out, {"kind": "twin", "count": 0, "image_size": [lf.image_height, lf.image_width],
                                 "created_by": f"disloc {__version__}"})
        save_sample(out, sid, sample, {"twin_of": str(args.annotation)})
    except OSError as e:
        raise output_error(e, out) from None
    print(f"wrote twin {sid} ({len(sample.masks)} dislocations) to {out}")
    return 0


def _harvest(args) -> int:
    from core.progress import TextBar
    from core.synth.harvest import harvest_backgrounds

    bar = TextBar("harvest")
    try:
        rep = harvest_backgrounds(args.frames, args.out, annotations=args.annotations, max_frames=args.max_frames,
                                  per_frame=args.per_frame, margin=args.margin, min_size=args.min_size,
                                  on_progress=bar)
    finally:
        bar.close()
    how = f" ({rep.annotated_frames} annotated)" if args.annotations else ""
    print(f"wrote {len(rep.files)} background crops from {rep.frames} frames{how} to {rep.out}; "
          f"use them with background 'patches' and patch_dir {rep.out}")
    return 0
