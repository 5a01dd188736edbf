"""Length units found in microscopy metadata, as nm."""
from __future__ import annotations

from typing import Optional

_NM_PER_UNIT = {
    "nm": 1.0, "nanometer": 1.0, "nanometers": 1.0, "nanometre": 1.0, "nanometres": 1.0,
    "um": 1e3, "µm": 1e3, "μm": 1e3, "\\u00b5m": 1e3, "micron": 1e3, "microns": 1e3,
    "micrometer": 1e3, "micrometre": 1e3, "micrometers": 1e3,
    "mm": 1e6, "millimeter": 1e6, "cm": 1e7, "centimeter": 1e7, "m": 1e9, "meter": 1e9,
    "a": 0.1, "å": 0.1, "Å": 0.1, "angstrom": 0.1, "ångström": 0.1, "pm": 1e-3,
    "inch": 2.54e7, "in": 2.54e7,
}

# Above this a "pixel size" is a display resolution (72 dpi = 0.35 mm), not a
# physical calibration of a micrograph.
MAX_PIXEL_NM = 1e5


def unit_to_nm(unit: Optional[str]) -> Optional[float]:
    """nm per ``unit`` (``"µm"`` -> 1000), or None when the unit is unknown."""
    if not unit:
        return None
    u = str(unit).strip()
    return _NM_PER_UNIT.get(u, _NM_PER_UNIT.get(u.lower()))


def plausible_pixel_nm(value: Optional[float]) -> Optional[float]:
    """``value`` when it is a believable micrograph pixel size in nm, else None."""
    if value is None or not (value > 0) or value > MAX_PIXEL_NM or value != value:
        return None
    return float(value)
