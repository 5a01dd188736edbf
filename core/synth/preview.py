"""A picture of generated samples next to their mask overlays (docs, GUI help).

``python -m core.synth.preview OUT.png [--preset m2] [--rows 4] [--cols 4] [--seed 0]``
"""
from __future__ import annotations

import argparse
from typing import Optional

from ..io.fileio import PathLike


def save_grid(path: PathLike, preset="m2", rows: int = 4, cols: int = 4, seed: int = 0,
              size: Optional[int] = None, dpi: int = 110) -> None:
    """Render ``rows x cols`` samples, each image beside its overlay, to a PNG (matplotlib, Agg).

    Sample ``i`` uses seed ``seed + i`` for both its parameters and its image.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .generate import generate
    from .presets import load_preset, sample_params

    pr = load_preset(preset)
    fig, axes = plt.subplots(rows, 2 * cols, figsize=(4.0 * cols, 2.0 * rows + 0.3), squeeze=False)
    for i in range(rows * cols):
        s = generate(sample_params(pr, seed + i, size), seed + i)
        r, c = divmod(i, cols)
        axes[r, 2 * c].imshow(s.image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        axes[r, 2 * c + 1].imshow(s.overlay(), interpolation="nearest")
        axes[r, 2 * c].set_title(f"seed {seed + i}: {len(s.masks)} disl., {len(s.params.pileups)} pileups",
                                 fontsize=7)
        axes[r, 2 * c + 1].set_title("masks", fontsize=7)
    for ax in axes.flat:
        ax.set_axis_off()
    fig.suptitle(f"Synthetic samples, preset '{pr.name}' (image | instance masks)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core.synth.preview")
    ap.add_argument("out")
    ap.add_argument("--preset", default="m2")
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--cols", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--dpi", type=int, default=110)
    a = ap.parse_args(argv)
    save_grid(a.out, a.preset, a.rows, a.cols, a.seed, a.size, a.dpi)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
