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


def import_tensorflow() -> tuple[ModuleType, ModuleType]:
    """``tensorflow`` and Keras 2 (``tf_keras``): the only place edgekd imports TensorFlow.

    TensorFlow Model Optimization wraps Keras 2 layers only; TF >= 2.16 makes ``tf.keras``
    Keras 3 unless ``TF_USE_LEGACY_KERAS=1`` is set before it is first read, so edgekd sets it
    here (the user never has to). On a host without a GPU, TensorFlow's first import and
    device set-up print CUDA notices from C++ before its log level applies: those lines alone
    are dropped (``noise.drop_stderr_lines``).
    """
    from edgekd.noise import drop_stderr_lines, quiet_backend_env

    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    quiet_backend_env()
    if "tensorflow" in sys.modules and "tf_keras" in sys.modules:
        return sys.modules["tensorflow"], sys.modules["tf_keras"]
    with drop_stderr_lines(*_CUDA_NOTICES):
        tf = require("tensorflow", "keras")
        keras = require("tf_keras", "keras")
        tf.get_logger().setLevel("ERROR")
        tf.config.list_logical_devices()  # device set-up (and its cuInit notice) happens here
    return tf, keras


# what TensorFlow's CPU-or-CUDA wheel prints on a host without CUDA
_CUDA_NOTICES = (
    "cuda drivers",
    "cuInit",
    "absl::InitializeLog",
    "cuda_platform",
    "TF-TRT",
    "Unable to register cu",
    "computation placer already registered",
    "oneDNN custom operations",
)


def import_tfmot() -> ModuleType:
    """``tensorflow_model_optimization`` on Keras 2 (see :func:`import_tensorflow`)."""
    import_tensorflow()
    return require("tensorflow_model_optimization", "keras")


def import_keras3() -> ModuleType:
    """Keras 3 (``keras``), only to read a ``.keras`` file Keras 3 saved (a teacher)."""
    import_tensorflow()
    return require("keras", "keras")
