"""The network factory, the checkpoint format and the Predictor."""
import numpy as np
import pytest
import torch

from core.errors import DislocError
from core.learn.model import create_model, load_checkpoint, make_header, normalize, save_checkpoint
from core.learn.predict import Predictor, stitch_tiles

from ._lines import make_frame

ENC = "tu-mobilenetv2_100"


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    return create_model("unetplusplus", ENC, n_masks=3).eval()


def header_for(n=3, encoder=ENC):
    return make_header(arch="unetplusplus", encoder=encoder, n_masks=n, input_size=64,
                       training_data=[{"path": "x", "kind": "dataset", "n_samples": 1, "manifest": {}}],
                       history=[{"epoch": 1, "metric": 0.5}], best_metric=0.5, epoch=1)


def test_factory_builds_a_one_channel_n_mask_network_and_lists_valid_names(net):
    y = net(torch.rand(2, 1, 64, 64))
    assert y.shape == (2, 3, 64, 64)
    with pytest.raises(DislocError, match="resnet18.*resnet50|resnet50.*resnet18"):
        create_model(encoder="vgg99")
    with pytest.raises(DislocError, match="unetplusplus"):
        create_model(arch="segformer")
    with pytest.raises(DislocError, match="n_masks"):
        create_model(n_masks=0)


def test_normalize_numpy_and_torch_agree():
    x = np.random.default_rng(0).random((2, 16, 16)).astype(np.float32)
    a = normalize(x)
    b = normalize(torch.from_numpy(x)).numpy()
    assert np.allclose(a, b, atol=1e-5)
    assert abs(a[0].mean()) < 1e-5 and a[0].std() == pytest.approx(1.0, abs=1e-2)


def test_checkpoint_roundtrip_keeps_outputs_and_header(net, tmp_path):
    p = tmp_path / "m.pt"
    save_checkpoint(p, net, header_for(), optimizer_state={"state": {}, "param_groups": []})
    model, h = load_checkpoint(p)
    x = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(x), net(x), atol=1e-5)
    assert h["format"] == "disloc-checkpoint" and h["schema_version"] == 1
    assert (h["architecture"], h["encoder"], h["n_masks"], h["input_size"]) == ("unetplusplus", ENC, 3, 64)
    assert h["normalization"]["kind"] == "per_image" and h["best_metric"] == 0.5 and h["epoch"] == 1
    assert h["history"] == [{"epoch": 1, "metric": 0.5}] and h["training_data"][0]["path"] == "x"
    assert h["package_version"] and h["weights_dtype"] == "float32"
    # the optimizer state sits under its own key, readable with weights_only
    obj = torch.load(p, weights_only=True)
    assert set(obj) == {"header", "state_dict", "optimizer"}


def test_half_checkpoint_is_smaller_and_loads_as_float32(net, tmp_path):
    full, half = tmp_path / "f.pt", tmp_path / "h.pt"
    save_checkpoint(full, net, header_for())
    save_checkpoint(half, net, header_for(), half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    model, h = load_checkpoint(half)
    assert h["weights_dtype"] == "float16"
    assert all(p.dtype == torch.float32 for p in model.parameters())
    x = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        a, b = torch.sigmoid(model(x)), torch.sigmoid(net(x))
    assert float((a - b).abs().max()) < 0.02


def test_corrupt_truncated_and_foreign_checkpoints_are_clear_errors(net, tmp_path):
    good = tmp_path / "good.pt"
    save_checkpoint(good, net, header_for())
    data = good.read_bytes()
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"this is not a checkpoint" * 10)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    other = tmp_path / "other.pt"  # header says resnet18, weights are mobilenet's
    save_checkpoint(other, net, header_for(encoder="resnet18"))
    plain = tmp_path / "plain.pt"
    torch.save(net.state_dict(), plain)
    for path, msg in [(corrupt, "not a readable checkpoint"), (truncated, "not a readable checkpoint"),
                      (other, "do not fit a unetplusplus/resnet18"), (plain, "no header"),
                      (tmp_path / "missing.pt", "not found")]:
        with pytest.raises(DislocError, match=msg) as e:
            load_checkpoint(path)
        assert path.name in str(e.value)


def test_predictor_handles_any_size_and_matches_the_network(net):
    pred = Predictor((net, header_for()), precision="fp32", batch_size=2)
    rng = np.random.default_rng(0)
    frame = rng.random((50, 70)).astype(np.float32)
    out = pred.predict(frame)
    assert out.shape == (1, 3, 50, 70) and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 1
    # the same as running the net on the reflect-padded normalised frame and cropping
    x = np.pad(normalize(frame.astype(np.float64)), ((0, 14), (0, 26)), mode="reflect").astype(np.float32)
    with torch.no_grad():
        ref = torch.sigmoid(net(torch.from_numpy(x)[None, None])).numpy()[:, :, :50, :70]
    assert np.allclose(out, ref, atol=1e-4)
    batch = pred.predict(rng.random((3, 32, 40)).astype(np.float32))
    assert batch.shape == (3, 3, 32, 40)
    tiny = pred.predict(rng.random((5, 7)).astype(np.float32))
    assert tiny.shape == (1, 3, 5, 7)
    with pytest.raises(DislocError, match="NaN"):
        pred.predict(np.full((8, 8), np.nan, np.float32))


def test_predictor_tiles_large_frames(net):
    pred = Predictor((net, header_for()), precision="fp32", max_side=96, tile_size=64, overlap=16)
    out = pred.predict(np.random.default_rng(1).random((100, 150)).astype(np.float32))
    assert out.shape == (1, 3, 100, 150) and np.isfinite(out).all()


def test_stitching_reassembles_instances_across_tiles():
    # An oracle "network" that returns the true masks of each tile in a
    # random channel order: stitching must put each line back in one channel.
    rng = np.random.default_rng(3)
    _, masks, _ = make_frame(rng, 200, 4, width=3.0)
    n, tile = 6, 64

    def tiles(origins):
        out = np.zeros((len(origins), n, tile, tile), np.float32)
        for i, (y, x) in enumerate(origins):
            perm = rng.permutation(n)
            for k, m in enumerate(masks):
                out[i, perm[k]] = m[y:y + tile, x:x + tile]
        return out

    got = stitch_tiles((200, 200), n, tile, 16, tiles, batch=3) > 0.5
    assert got.sum(0).max() <= 2  # nothing piled up where lines do not cross
    for m in masks:
        # exactly one channel holds this line, whole
        dice = [2 * (g & m).sum() / (g.sum() + m.sum()) for g in got]
        assert max(dice) > 0.97
        assert sorted(dice)[-2] < 0.5


def test_predictor_bf16_check_is_recorded(net):
    from core.learn.predict import bf16_supported

    pred = Predictor((net, header_for()), precision="auto")
    pred.predict(np.random.default_rng(2).random((64, 64)).astype(np.float32))
    if bf16_supported(torch.device("cpu")):
        assert pred.bf16_check is not None and set(pred.bf16_check) >= {"dice_binary", "mean_abs", "passed"}
        assert pred.precision_used == ("bf16" if pred.bf16_check["passed"] else "fp32")
    else:
        assert pred.precision_used == "fp32" and pred.bf16_check is None


def test_damaged_nan_and_pickled_checkpoints_are_refused_with_the_reason(net, tmp_path):
    """Issue 18.3: bytes changed after saving, non-finite weights and pickled code are each refused, and say so."""
    good = tmp_path / "good.pt"
    save_checkpoint(good, net, header_for())
    data = bytearray(good.read_bytes())
    mid = len(data) // 2  # the middle of the file lies in the weights
    data[mid:mid + 4096] = bytes(b ^ 0x5A for b in data[mid:mid + 4096])
    flipped = tmp_path / "flipped.pt"
    flipped.write_bytes(bytes(data))
    with pytest.raises(DislocError, match="do not match the digest") as e:
        load_checkpoint(flipped)
    assert "flipped.pt" in str(e.value)
    load_checkpoint(good)  # the intact file still loads

    broken = create_model("unetplusplus", ENC, n_masks=3)
    with torch.no_grad():
        for p in broken.parameters():
            p.fill_(float("nan"))
    nan = tmp_path / "nan.pt"
    save_checkpoint(nan, broken, header_for())
    with pytest.raises(DislocError, match="NaN or infinite") as e:
        load_checkpoint(nan)
    assert "nan.pt" in str(e.value) and "encoder" in str(e.value)

    class Bomb:
        def __reduce__(self):
            return (print, ("this must never run",))

    bomb = tmp_path / "bomb.pt"
    torch.save({"header": header_for(), "state_dict": Bomb()}, bomb)
    with pytest.raises(DislocError, match="refused: the file holds pickled Python objects") as e:
        load_checkpoint(bomb)
    assert "weights_only" not in str(e.value) and "trusted source" not in str(e.value)
    assert len(str(e.value).splitlines()) == 1
