"""Reference architectures match their published MAC and parameter counts."""

from __future__ import annotations

import pytest
import torch

from edgekd.errors import UsageError
from edgekd.models.reference import build_reference
from edgekd.profile.static import analyze

# name -> (published MACs, published params, source)
PUBLISHED = {
    "mobilenet_v1_1.0": (569e6, 4.2e6),  # Howard et al. 2017, Table 8
    "mobilenet_v2_1.0": (300e6, 3.4e6),  # Sandler et al. 2018, Table 4 (3.4 M w/o biases)
    "inception_v3": (5.72e9, 23.8e6),  # Szegedy et al. 2016 / Keras applications table
    "mlperf_tiny_vww_mobilenet_v1_0.25": (7.49e6, 0.21e6),  # Banbury et al. 2021, Table 1
    "mlperf_tiny_ic_resnet8": (12.5e6, 0.078e6),  # Banbury et al. 2021, Table 1
    "mlperf_tiny_ad_autoencoder": (0.264e6, 0.27e6),  # Banbury et al. 2021, Table 1
}


def _macs(model: torch.nn.Module, shape: tuple[int, ...]) -> int:
    total = 0

    def hook(m: torch.nn.Module, _: object, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(m, torch.nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1]
            total += out.numel() * m.in_channels // m.groups * k
        elif isinstance(m, torch.nn.Linear):
            total += out.numel() * m.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model(torch.zeros(shape))
    for h in handles:
        h.remove()
    return total


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_published_macs_and_params(name: str) -> None:
    macs, params = PUBLISHED[name]
    model, shape = build_reference(name)
    n = sum(p.numel() for p in model.parameters())
    assert abs(_macs(model, shape) - macs) / macs < 0.03
    assert abs(n - params) / params < 0.05


def test_zoo_export_static_macs_match_torch() -> None:
    from edgekd.models.reference_export import reference_onnx

    model, shape = build_reference("mlperf_tiny_kws_dscnn")
    s = analyze(reference_onnx("mlperf_tiny_kws_dscnn"))
    heavy = sum(op.macs for op in s.ops if op.op_class in ("conv", "depthwise", "gemm"))
    assert heavy == _macs(model, shape)
    assert s.params == sum(p.numel() for p in model.parameters())


def test_unknown_reference_model() -> None:
    with pytest.raises(UsageError, match="unknown reference model 'resnet9000'; valid: "):
        build_reference("resnet9000")
