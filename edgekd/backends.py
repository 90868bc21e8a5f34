"""Third-party imports that need care, at the bottom floor (every folder may use them):
``transformers`` offline, and ``torchvision`` beside a CPU-only torch.

torchvision beside a CPU-only torch: PyPI's torchvision wheel carries C++ ops (``_C.so``)
built against the CUDA build of torch; beside the CPU wheel they cannot load, and
``import torchvision`` then fails with ``operator torchvision::nms does not exist`` because
``torchvision/_meta_registrations.py`` registers fake kernels for exactly two ops
(``nms``, ``qnms``) unconditionally. :func:`import_torchvision` first tries to load the ops
as torchvision would; only when that fails does it declare those two schemas (no kernel), so
every pure-Python model imports and runs and only the detection ops stay unavailable. A
torchvision built for the installed torch (``pip install torchvision --index-url
https://download.pytorch.org/whl/cpu``) loads its ops and is imported untouched.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekd.errors import require

if TYPE_CHECKING:
    from types import ModuleType

# The torch.library fragment declaring torchvision::nms/qnms when torchvision's own ops
# cannot load; kept referenced for the life of the process (dropping it undefines the ops).
_OPS_SHIM: list[Any] = []


def torchvision_ops_loaded() -> bool:
    """Whether torchvision's C++ ops are (or can be) registered with this torch."""
    import torch

    if hasattr(torch.ops.torchvision, "nms"):
        return True
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return False
    for folder in spec.submodule_search_locations:
        for lib in sorted(Path(folder).glob("_C*")):
            if lib.suffix in (".so", ".pyd", ".dylib"):
                try:
                    torch.ops.load_library(str(lib))
                except (OSError, RuntimeError):
                    return False
                return hasattr(torch.ops.torchvision, "nms")
    return False


def import_torchvision() -> ModuleType:
    """``import torchvision``, working around C++ ops built for another torch (see above)."""
    if "torchvision" in sys.modules and hasattr(sys.modules["torchvision"], "models"):
        return sys.modules["torchvision"]
    if importlib.util.find_spec("torchvision") is None:
        return require("torchvision", "vision")  # raises the one-line install hint
    if not torchvision_ops_loaded() and not _OPS_SHIM:
        import torch

        lib = torch.library.Library("torchvision", "FRAGMENT")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _OPS_SHIM.append(lib)
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]  # a failed earlier import leaves half-initialized modules
    return require("torchvision", "vision")


def hub_offline() -> None:
    """No download from the Hugging Face hub in this process: only local files and caches."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:  # imported before: it read the environment already
        constants.HF_HUB_OFFLINE = True  # type: ignore[attr-defined]


def import_transformers() -> ModuleType:
    """``import transformers`` offline. transformers imports torchvision when it is
    installed, so that goes through :func:`import_torchvision` first."""
    hub_offline()
    if importlib.util.find_spec("torchvision") is not None:
        import_torchvision()
    transformers = require("transformers", "llm")
    transformers.logging.set_verbosity_error()  # load reports and head warnings: edgekd reports
    transformers.logging.disable_progress_bar()
    return transformers
