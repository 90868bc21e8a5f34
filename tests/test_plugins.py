"""Each kind of plug-in has one dict, and the recipe accepts exactly its keys.

Adding a plug-in means writing it and adding one entry to its dict; if a recipe field kept
its own list of names, these tests would catch the two drifting apart.
"""

from __future__ import annotations

from typing import get_args

import pytest
from pydantic import ValidationError


def _literal(model: type, field: str) -> tuple[str, ...]:
    """The names a recipe field accepts (a Literal, or a list of one)."""
    annotation = model.model_fields[field].annotation
    args = get_args(annotation)
    if args and not isinstance(args[0], str):  # list[Literal[...]]
        args = get_args(args[0])
    return tuple(args)


def test_distill_methods_and_divergences_come_from_their_dicts():
    from edgekd.distill.config import DistillConfig
    from edgekd.distill.divergences import DIVERGENCES
    from edgekd.distill.methods import METHODS

    assert _literal(DistillConfig, "method") == tuple(METHODS)
    assert _literal(DistillConfig, "divergence") == tuple(DIVERGENCES)


def test_export_formats_precisions_and_metrics_come_from_their_dicts():
    from edgekd.evaluate.config import EvaluateConfig
    from edgekd.evaluate.metrics import METRICS
    from edgekd.export.config import ExportConfig
    from edgekd.export.stage import FORMATS
    from edgekd.export.tflite_config import TfliteConfig
    from edgekd.export.tflite_export import PRECISIONS

    assert _literal(ExportConfig, "formats") == tuple(FORMATS)
    assert _literal(TfliteConfig, "precision") == tuple(PRECISIONS)
    assert _literal(EvaluateConfig, "metrics") == tuple(METRICS)
    assert EvaluateConfig().metrics == list(METRICS)


def test_a_name_outside_the_dict_is_refused_with_the_allowed_ones():
    from edgekd.errors import RecipeError
    from edgekd.recipe.load import validate

    with pytest.raises(RecipeError, match="distill.divergence: got 'tvd'; expected one of"):
        validate({"distill": {"divergence": "tvd"}})
    with pytest.raises(RecipeError, match="evaluate.metrics.0"):
        validate({"evaluate": {"metrics": ["auc"]}})


def test_every_divergence_is_zero_on_equal_distributions_and_positive_otherwise():
    """What a new entry of DIVERGENCES must satisfy to be a divergence at all."""
    import torch

    from edgekd.distill.divergences import DIVERGENCES

    g = torch.Generator().manual_seed(0)
    p = torch.log_softmax(torch.randn(8, 5, generator=g), 1)
    q = torch.log_softmax(torch.randn(8, 5, generator=g), 1)
    for name, fn in DIVERGENCES.items():
        assert float(fn(p, p)) == pytest.approx(0.0, abs=1e-6), name
        assert float(fn(p, q)) > 0, name


def test_data_sources_come_from_their_dict():
    from edgekd.data.config import DataConfig
    from edgekd.data.sources import BUILTIN, SOURCES

    assert _literal(DataConfig, "source") == tuple(SOURCES)
    assert BUILTIN == ("digits", "breast_cancer", "wine", "iris")


def test_model_sources_build_what_a_spec_names():
    from edgekd.errors import ModelFileError
    from edgekd.models.sources import MODEL_SOURCES
    from edgekd.models.spec import ModelSpec, build

    assert "zoo" in MODEL_SOURCES
    model = build(ModelSpec("zoo", "mlp", (6,), 3, 4, 1))
    assert model.classifier.out_features == 3
    with pytest.raises(ModelFileError, match="unknown model source 'hub'; known: zoo"):
        build(ModelSpec("hub", "x", (6,), 3, 4, 1))


def test_recipe_rejects_unknown_evaluate_split():
    from edgekd.evaluate.config import EvaluateConfig

    with pytest.raises(ValidationError):
        EvaluateConfig(splits=["train"])


def test_runtime_names_come_from_runtimes_yaml_and_each_names_a_known_op_set():
    from edgekd.profile.op_support import OP_SETS
    from edgekd.profile.schema import TargetRuntimes
    from edgekd.profile.targets import list_targets, load_runtimes, runtime_names

    runtimes = load_runtimes()
    assert tuple(runtimes) == runtime_names()
    assert {rt.ops for rt in runtimes.values()} <= set(OP_SETS)
    for target in list_targets():
        assert set(target.runtimes.supported) <= set(runtimes), target.id
    with pytest.raises(ValidationError, match="unknown runtime 'tvm'; runtimes.yaml has litert"):
        TargetRuntimes(default="tvm", supported=["tvm"])


def test_a_runtime_is_one_yaml_entry_when_it_runs_a_known_op_set(tmp_path):
    """A new runtime running TFLite Micro's kernels needs no code: its entry names the op set."""
    import yaml

    from edgekd.profile.op_support import OP_SETS
    from edgekd.profile.targets import load_runtimes, targets_dir

    data = yaml.safe_load((targets_dir() / "runtimes.yaml").read_text())
    data["tflm-esp-nn"] = {**data["tflm-cmsis-nn"], "description": "TFLM with ESP-NN kernels"}
    (tmp_path / "runtimes.yaml").write_text(yaml.safe_dump(data))
    new = load_runtimes(tmp_path / "runtimes.yaml")["tflm-esp-nn"]
    assert OP_SETS[new.ops]("CONV_2D", "tflite") and not OP_SETS[new.ops]("TopK", "onnx")
