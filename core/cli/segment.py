"""``disloc segment``: masks, splines and track ids for every frame of a video or stack."""
from __future__ import annotations

import argparse
from pathlib import Path



def register(sub) -> None:
    p = sub.add_parser(
        "segment", help="segment every frame of a video/stack: masks, splines.csv with track ids",
        description="Run the model on every frame of INPUT (MP4/AVI video, TIFF stack, folder of images, "
        "single image, DM3/DM4) and write OUT/masks/frame_NNNNNN.npz, OUT/splines.csv (50 points per "
        "dislocation and frame, with a dislocation_id that follows each dislocation from frame to frame) "
        "and OUT/segment_state.json. Stopped or killed runs resume where they stopped when run again.",
        epilog="example:\n  disloc segment insitu.mp4 --model runs/m1/best.pt --out seg/ --pixel-size 0.8\n"
        "  disloc track seg/ --pairs auto",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="INPUT", help="video, TIFF stack, image folder, image or DM3/DM4 file")
    p.add_argument("--model", metavar="CKPT", help="model checkpoint (default: the shipped resources/models/default.pt)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (run again to resume)")
    p.add_argument("--batch-size", type=int, default=4, metavar="B", help="frames per forward pass (default 4)")
    p.add_argument("--pixel-size", type=float, metavar="NM",
                   help="pixel size in nm (default: from the file's metadata; adds _nm columns)")
    p.add_argument("--fps", type=float, help="frames per second (default: from the file; gives time_s)")
    p.add_argument("--gate", type=float, default=20.0, metavar="PX",
                   help="largest move (px, curve distance) between frames of one dislocation (default 20)")
    p.add_argument("--threshold", type=float, default=0.5, metavar="P",
                   help="probability above which a pixel belongs to a mask (default 0.5)")
    p.add_argument("--min-length", type=float, default=20.0, metavar="PX",
                   help="drop masks whose skeleton is shorter than this, in px (default 20; 0 keeps all)")
    p.add_argument("--join-gap", type=float, default=30.0, metavar="PX",
                   help="join two masks that continue one line across a gap up to this wide, in px "
                        "(default 30; 0 never joins)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument("--restart", action="store_true", help="discard earlier results in --out and start over")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import DislocError
    from ..analysis.postprocess import PostprocessConfig
    from ..progress import TextBar
    from ..analysis.segment import segment_video

    from ..shipped import default_model_path

    model = args.model
    if model is None:
        model = default_model_path()
        if not model.is_file():
            raise DislocError(f"no default model at {model}; pass --model CKPT (a .pt from 'disloc train')")
    try:
        cfg = PostprocessConfig(threshold=args.threshold, min_length_px=args.min_length, join_gap_px=args.join_gap)
    except DislocError as e:  # name the option the user typed, not the setting behind it
        msg = str(e)
        for name, flag in (("postprocess threshold", "--threshold"), ("postprocess min_length_px", "--min-length"),
                           ("postprocess join_gap_px", "--join-gap")):
            msg = msg.replace(name, flag)
        raise DislocError(msg) from None
    bar = TextBar("segment")
    try:
        result = segment_video(args.input, model, args.out, batch_size=args.batch_size, on_progress=bar,
                               postprocess_config=cfg,
                               pixel_size_nm=args.pixel_size, fps=args.fps, gate_px=args.gate,
                               device=None if args.device == "auto" else args.device, restart=args.restart)
    finally:
        bar.close()
    print(f"{result.frames_done}/{result.n_frames} frames, {result.n_tracks} dislocation tracks -> "
          f"{Path(args.out) / 'splines.csv'}")
    if result.bad_frames:
        shown = ", ".join(map(str, result.bad_frames[:10]))
        print(f"warning: {len(result.bad_frames)} frame(s) could not be read: {shown}"
              f"{' ...' if len(result.bad_frames) > 10 else ''}")
    if result.blank_frames:
        print(f"warning: {len(result.blank_frames)} blank frame(s): {', '.join(map(str, result.blank_frames[:10]))}")
    return 0
