"""The one place that imports segmentation-models-pytorch.

Why the workaround: on this project's CPU torch (2.13.0+cpu) the matching
torchvision wheel on PyPI (0.28.0) is a CUDA build whose
``torchvision._meta_registrations`` registers fake kernels for
``torchvision::nms``, an operator the CPU torch lacks, so ``import
torchvision`` -- and with it ``timm`` and ``segmentation_models_pytorch`` --
raises ``operator torchvision::nms does not exist``. An empty module in its
place lets the import finish; the models we build never use torchvision.ops
or torchvision.io. A user with a matching torch/torchvision pair never takes
this path: it runs only when the plain import fails that way.
"""
from __future__ import annotations

import logging
import sys
import types

log = logging.getLogger(__name__)


def import_smp():
    """Import and return ``segmentation_models_pytorch``."""
    try:
        import segmentation_models_pytorch as smp

        return smp
    except RuntimeError as e:
        if "torchvision::nms" not in str(e):
            raise
    log.debug("torchvision/torch mismatch: importing smp without torchvision meta registrations")
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith(("torchvision.", "timm", "segmentation_models_pytorch"))]:
        del sys.modules[name]
    sys.modules["torchvision._meta_registrations"] = types.ModuleType("torchvision._meta_registrations")
    import segmentation_models_pytorch as smp

    return smp
