"""The package's public API names resolve to callables, even after subpackage imports."""

import importlib
import subprocess
import sys

import edgekd


def test_api_functions_are_not_shadowed_by_subpackages():
    importlib.import_module("edgekd.distill.losses")
    importlib.import_module("edgekd.profile.api")
    for name in ("distill", "prune", "quantize", "profile", "fit"):
        assert callable(getattr(edgekd, name)), name
    from edgekd.api_module import api_function

    assert api_function(edgekd.distill).__module__ == "edgekd.distill.api"
    assert api_function(edgekd.profile).__module__ == "edgekd.profile.api"
    from edgekd import Recipe, compress, export_onnx, load_target

    assert Recipe().distill.temperature > 0
    assert callable(compress) and callable(export_onnx) and load_target("pixel-4").id == "pixel-4"
    from edgekd.distill.losses import KDLoss  # subpackages still import normally

    assert KDLoss(2.0, 0.5).alpha == 0.5


def test_import_submodule_as_alias_works_for_every_callable_stage_package():
    """``import edgekd.distill.losses as L`` raised ImportError when ``edgekd.distill`` was a
    function bound on the package; run in a fresh interpreter so import order is as a user's."""
    code = (
        "import edgekd.distill.losses as L\n"
        "import edgekd.prune.config as P\n"
        "import edgekd.quantize.config as Q\n"
        "import edgekd.profile.budgets as B\n"
        "import edgekd\n"
        "assert L.KDLoss(2.0, 0.5).alpha == 0.5 and P.PruneConfig and Q.QuantizeConfig\n"
        "assert callable(edgekd.distill) and edgekd.distill.losses is L and B.judge\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_calling_a_stage_package_runs_its_api_function():
    import numpy as np

    from edgekd.data.loaders import load_data
    from edgekd.models.config import StudentConfig
    from edgekd.train.config import TrainConfig  # noqa: F401  (the config the API trains with)

    data = load_data()
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((len(data.train), data.num_classes)).astype(np.float32)
    from edgekd.distill.config import DistillConfig

    result = edgekd.distill(
        data, logits, StudentConfig(width=2, depth=1), DistillConfig(epochs=1, baseline=False)
    )
    assert len(result.history.train_loss) == 1 and result.parent == "teacher"
    assert sum(p.numel() for p in result.model.parameters()) > 0
