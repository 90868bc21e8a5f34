"""The package's public API names resolve to functions, even after subpackage imports."""

import importlib

import edgekd


def test_api_functions_are_not_shadowed_by_subpackages():
    importlib.import_module("edgekd.distill.losses")
    importlib.import_module("edgekd.profile.api")
    assert callable(edgekd.distill) and edgekd.distill.__name__ == "distill"
    assert edgekd.profile.__module__ == "edgekd.profile.api"
    from edgekd import Recipe, compress, export_onnx, load_target

    assert Recipe().distill.temperature > 0
    assert callable(compress) and callable(export_onnx) and load_target("pixel-4").id == "pixel-4"
    from edgekd.distill.losses import KDLoss  # subpackages still import normally

    assert KDLoss(2.0, 0.5).alpha == 0.5
