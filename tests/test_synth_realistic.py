"""The realistic preset: what real frames show besides dislocations, never in a mask, regenerated bit for bit."""
import json

import numpy as np
import pytest

from core.synth import generate, load_preset, render_scene, sample_from_json, sample_params
from core.synth.draw import mask_radius
from core.synth.generate import DRAW_STEP_PX
from core.synth.params import SCENERY_KEYS, SynthParams

# every layer at full strength
ALL_ON = dict(illumination=0.8, vignetting=0.5, bend_contours=3, bend_contrast=0.6, bend_width=60.0,
              band_contrast=0.3, extra_traces=12, extra_trace_contrast=0.6, extra_trace_width=4.0,
              double_traces=0.8, fault_fringes=2, fringe_contrast=0.4, fringe_period=6.0, fault_width=40.0,
              specks=60, speck_contrast=0.6, speck_size=6.0, final_blur=1.0, grain_noise=0.04, jpeg_quality=50)
ALL_OFF = {k: SynthParams.__dataclass_fields__[k].default for k in SCENERY_KEYS if k != "aspect"}


def _distance_to_polyline(pts: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Distance (px) of each point (n, 2) to the nearest segment of a polyline (P, 2)."""
    a, b = poly[:-1], poly[1:]
    d = b - a
    t = np.clip(((pts[:, None, :] - a[None]) * d[None]).sum(-1) / np.maximum((d * d).sum(-1), 1e-12)[None], 0, 1)
    return np.hypot(*(pts[:, None, :] - a[None] - t[..., None] * d[None]).transpose(2, 0, 1)).min(1)


@pytest.mark.parametrize("seed", [3, 8])
def test_realistic_sample_regenerates_bit_for_bit_from_its_json(seed):
    p = sample_params("realistic", seed, size=192).replace(**ALL_ON)
    s = generate(p, seed)
    d = json.loads(json.dumps(s.to_json()))  # through real JSON text
    r = sample_from_json(d)
    assert np.array_equal(r.image, s.image) and np.array_equal(r.masks, s.masks)
    assert d["params"]["jpeg_quality"] == 50 and d["record"]["background"]["scenery"]["specks"] == 60
    assert set(SCENERY_KEYS) <= set(d["params"])


def test_no_distractor_pixel_is_ever_in_a_mask():
    """Masks come from the dislocations alone: traces, boundaries, contours, fringes and specks add none."""
    checked = 0
    for seed in range(6):
        p = sample_params("realistic", seed, size=160).replace(**ALL_ON)
        s = generate(p, seed)
        plain = generate(p.replace(**ALL_OFF), seed)
        # the same dislocations, whatever is drawn around them
        assert np.array_equal(s.masks, plain.masks)
        # every mask pixel lies on its own dislocation's centre line (within the mask radius)
        for m, dis in zip(s.masks, s.dislocations):
            poly = dis.centerline(DRAW_STEP_PX)  # the polyline drawn, also where it leaves the image
            yy, xx = np.nonzero(m)
            assert _distance_to_polyline(np.stack([xx, yy], 1), poly).max() <= mask_radius(dis.width) + 1e-3
            checked += len(yy)
        # and the distractors are really there, as strong as the lines
        dark = s.image < np.median(s.image) * 0.8
        assert dark[~s.masks.any(0)].sum() > 200 if len(s.masks) else dark.sum() > 200
    assert checked > 500


def test_distractors_alone_give_no_mask():
    p = sample_params("realistic", 4, size=128).replace(**ALL_ON)
    s = generate(p, 4)
    bare = render_scene(s.scene.without_dislocations(), p, 4)
    assert len(bare.masks) == 0
    assert len(s.scene.traces) > 2 * len(p.pileups)  # the extra lines are part of the scene
    assert bare.image.std() > 0.03  # and they, the contours and fringes show


def test_old_presets_draw_what_they_drew_before():
    """Scenery keys have their own random stream: m2's parameters are the ones drawn without them."""
    p = sample_params("m2", 21)
    assert p.aspect == 1.0 and all(getattr(p, k) == v for k, v in ALL_OFF.items())
    d = p.to_dict()
    for k in SCENERY_KEYS:  # a params file written before these keys existed
        del d[k]
    assert SynthParams.from_dict(d) == p


def test_realistic_frames_can_be_wide():
    pr = load_preset("realistic")
    shapes = {generate(sample_params(pr, i, size=128), i).image.shape for i in range(8)}
    assert any(h < w for h, w in shapes) and all(w == 128 and 64 <= h <= 128 for h, w in shapes)
