"""SegmentConfig: validated on construction, saved as JSON, kept in the result folder."""
import dataclasses
import json

import pytest

from core.analysis.postprocess import PostprocessConfig
from core.analysis.segmentconfig import SegmentConfig
from core.errors import DislocError


def test_json_round_trip_keeps_every_setting(tmp_path):
    c = SegmentConfig(batch_size=2, device="cpu", pixel_size_nm=0.8, fps=25.0, gate_px=12.5, max_gap=0,
                      restart=True, postprocess=PostprocessConfig(threshold=0.6, join_gap_px=0.0))
    c.save(tmp_path / "c.json")
    assert SegmentConfig.load(tmp_path / "c.json") == c
    assert SegmentConfig.from_json(c.to_json()) == c
    d = json.loads((tmp_path / "c.json").read_text())
    assert d["schema_version"] == 1 and d["postprocess"]["threshold"] == 0.6 and d["gate_px"] == 12.5


def test_defaults_are_those_of_the_parts():
    c = SegmentConfig()
    assert c.postprocess == PostprocessConfig() and c.batch_size == 4 and c.device == "auto"
    assert c.pixel_size_nm is None and c.fps is None and c.restart is False


@pytest.mark.parametrize("changes, name", [
    ({"batch_size": 0}, "batch_size"), ({"batch_size": 2.5}, "batch_size"), ({"device": "tpu"}, "device"),
    ({"pixel_size_nm": -1.0}, "pixel_size_nm"), ({"fps": 0}, "fps"), ({"gate_px": 0}, "gate_px"),
    ({"max_gap": -1}, "max_gap"), ({"restart": "yes"}, "restart")])
def test_a_bad_value_names_its_setting(changes, name):
    with pytest.raises(DislocError, match=f"segment config: {name} must"):
        SegmentConfig(**changes)


def test_unknown_keys_and_bad_nested_values_are_named(tmp_path):
    with pytest.raises(DislocError, match="unknown key 'bach_size'"):
        SegmentConfig.from_dict({"bach_size": 2})
    with pytest.raises(DislocError, match="unknown key 'postprocess.treshold'"):
        SegmentConfig.from_dict({"postprocess": {"treshold": 0.4}})
    with pytest.raises(DislocError, match="postprocess threshold must be in"):
        SegmentConfig.from_dict({"postprocess": {"threshold": 1.5}})
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(DislocError, match="bad.json: not valid JSON"):
        SegmentConfig.load(tmp_path / "bad.json")
    with pytest.raises(DislocError, match="schema_version must be 1"):
        SegmentConfig.from_dict({"schema_version": 2})
    with pytest.raises(DislocError, match="c.json"):  # a string where a number belongs
        SegmentConfig.from_dict({"postprocess": {"threshold": "high"}}, "c.json")


def test_frozen_and_replace_validates():
    c = SegmentConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.batch_size = 3
    assert c.replace(batch_size=8).batch_size == 8
    with pytest.raises(DislocError, match="batch_size"):
        c.replace(batch_size=-1)
