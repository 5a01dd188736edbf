"""``disloc segment``: masks, splines and track ids for every frame of a video or stack."""
from __future__ import annotations

import argparse

from .configflags import add_config_flags, apply_flags

def _scale(text: str):
    """``auto`` or a number (argparse type of --scale)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"should be 'auto' or a number, got {text!r}") from None


def _yes_no(text: str) -> bool:
    """``yes`` or ``no`` (argparse type of a switch that defaults on)."""
    t = text.strip().lower()
    if t in ("yes", "no"):
        return t == "yes"
    raise argparse.ArgumentTypeError(f"should be 'yes' or 'no', got {text!r}")


# (flag, SegmentConfig field ("postprocess.x": a post-processing setting), type, metavar, help with {default})
_OPTIONS = [
    ("--batch-size", "batch_size", int, "B", "frames per forward pass (default {default})"),
    ("--pixel-size", "pixel_size_nm", float, "NM",
     "pixel size in nm (default: from the file's metadata; adds _nm columns)"),
    ("--fps", "fps", float, None, "frames per second (default: from the file; gives time_s)"),
    ("--gate", "gate_px", float, "PX",
     "largest move (px, curve distance) between frames of one dislocation (default {default})"),
    ("--threshold", "postprocess.threshold", float, "P",
     "probability above which a pixel belongs to a mask (default {default})"),
    ("--min-length", "postprocess.min_length_px", float, "PX",
     "drop masks whose skeleton is shorter than this, in px (default {default}; 0 keeps all)"),
    ("--join-gap", "postprocess.join_gap_px", float, "PX",
     "join two masks that continue one line across a gap up to this wide, in px (default {default}; 0 never joins)"),
    ("--extend-ends", "postprocess.extend_ends", _yes_no, "yes|no",
     "prolong each spline to where its mask ends: a network's masks end short of the line (default yes)"),
    ("--follow-ridge", "postprocess.follow_ridge", _yes_no, "yes|no",
     "prolong each spline's ends further along the frame's dark line while it lasts, where the mask faded "
     "(default yes)"),
    ("--device", "device", str, None, "auto, cpu or cuda (default {default})"),
    ("--tile", "tile_px", int, "PX",
     "cut every frame into tiles of PX px (a multiple of 32, 128-4096), each with its own N masks, joined across "
     "tile borders (default {default}: only frames above 1024 px are tiled, at 512)"),
    ("--mirrors", "mirrors", int, "1|2|4|8",
     "also look at each frame flipped left-right (2), and upside down and both ways (4), and each of these "
     "turned a quarter (8), and pool the splines, each line once: more lines found, more false ones too, 2-8 "
     "times the time; for the shipped models, not a fine-tuned one (default {default})"),
    ("--scale", "scale", _scale, "auto|F",
     "resample frames by F before the network, so lines are as wide as in training; auto measures the frames "
     "(default {default}; masks and splines stay in the frame's pixels)"),
]


def register(sub) -> None:
    from core.analysis.segmentconfig import SegmentConfig

    p = sub.add_parser(
        "segment", help="segment every frame of a video/stack: masks, splines.csv with track ids",
        description="Run the model on every frame of INPUT (MP4/AVI video, TIFF stack, folder of images, "
        "single image, DM3/DM4) and write OUT/masks/frame_NNNNNN.npz, OUT/splines.csv (50 points per "
        "dislocation and frame, with a dislocation_id that follows each dislocation from frame to frame), "
        "OUT/segment_state.json and OUT/segment_config.json (the settings). Stopped or killed runs resume where "
        "they stopped when run again.",
        epilog="examples:\n  disloc segment insitu.mp4 --model runs/m1/best.pt --out seg/ --pixel-size 0.8\n"
        "  disloc track seg/ --pairs auto\n"
        "  disloc segment insitu.mp4 --model runs/ft/best.pt --model runs/ft/last.pt --out seg/\n"
        "      (a fine-tune's chosen and last epochs pooled: more of the lines, twice the time)\n"
        "  disloc segment frames/ --model realistic --mirrors 8 --out seg/\n"
        "      (no fine-tuning yet: the shipped model on eight views of each frame, its mirror images and quarter\n"
        "      turns: more lines found, more false ones, eight times the time)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="INPUT", help="video, TIFF stack, image folder, image or DM3/DM4 file")
    p.add_argument("--model", metavar="CKPT", action="append",
                   help="model checkpoint, or 'default' / 'realistic' for a shipped model (default: default, "
                   "trained on synthetic m2 images; on real frames try realistic, or better: fine-tune with "
                   "'disloc finetune'). Given more than once, the models are pooled: each frame goes through "
                   "each, and their splines are put together, each line once")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (run again to resume)")
    add_config_flags(p, SegmentConfig, _OPTIONS)
    p.add_argument("--restart", action="store_true", help="discard earlier results in --out and start over")
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace):
    """SegmentConfig from the defaults and the flags given; a bad value names its flag."""
    from core.analysis.segmentconfig import SegmentConfig
    from core.errors import DislocError

    settings = apply_flags(args, _OPTIONS, SegmentConfig().to_dict())
    settings["restart"] = bool(args.restart)
    try:
        return SegmentConfig.from_dict(settings)
    except DislocError as e:  # name the option the user typed, not the setting behind it
        msg = str(e)
        for flag, field, *_ in _OPTIONS:
            parent, _, name = field.rpartition(".")
            msg = msg.replace(f"postprocess {name}" if parent else f"segment config: {name}", flag)
        raise DislocError(msg) from None


def run(args: argparse.Namespace) -> int:
    from core.analysis.results import splines_path
    from core.analysis.segment import segment_video
    from core.errors import DislocError
    from core.progress import TextBar
    from core.shipped import resolve_model

    model = [resolve_model(m) for m in args.model] if args.model else resolve_model(None)
    config = build_config(args)
    bar = TextBar("segment")
    try:
        result = segment_video(args.input, model, args.out, config, on_progress=bar)
    finally:
        bar.close()
    scaled = f", frames resampled x{result.scale:g} for the model" if result.scale != 1.0 else ""
    pooled = f", {len(args.model)} models pooled" if args.model and len(args.model) > 1 else ""
    pooled += f", {config.mirrors} views of each frame pooled" if config.mirrors > 1 else ""
    print(f"{result.frames_done}/{result.n_frames} frames, {result.n_tracks} dislocation tracks{scaled}{pooled} -> "
          f"{splines_path(args.out)}")
    if result.bad_frames:
        shown = ", ".join(map(str, result.bad_frames[:10]))
        print(f"warning: {len(result.bad_frames)} frame(s) could not be read: {shown}"
              f"{' ...' if len(result.bad_frames) > 10 else ''}")
    if result.blank_frames:
        print(f"warning: {len(result.blank_frames)} blank frame(s): {', '.join(map(str, result.blank_frames[:10]))}")
    return 0
