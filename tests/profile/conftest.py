"""Shared fixtures: tiny hand-built ONNX graphs (exact MACs known), a QDQ int8 copy and a
TFLite file converted with litert-torch. All built once per session in a temp dir."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

torch.set_num_threads(1)


def _init(name: str, shape: tuple[int, ...], dtype: type = np.float32) -> onnx.TensorProto:
    rng = np.random.default_rng(0)
    return numpy_helper.from_array(rng.standard_normal(shape).astype(dtype), name)


def tiny_graph(channels: int = 8, size: int = 8, extra: list | None = None) -> onnx.ModelProto:
    """x[1,3,S,S] -> Conv3x3(3->C, pad 1) -> Relu -> depthwise Conv3x3(C) -> GAP -> Flatten
    -> Gemm(C->10). MACs: conv C*S*S*27, relu C*S*S (fused), dw C*S*S*9, GAP C*S*S, gemm C*10."""
    c, s = channels, size
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], group=c, name="dw"),
        helper.make_node("GlobalAveragePool", ["c2"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["y0"], transB=1, name="fc"),
    ]
    out = "y0"
    for node in extra or []:
        nodes.append(node)
        out = node.output[0]
    inits = [
        _init("w1", (c, 3, 3, 3)), _init("b1", (c,)), _init("w2", (c, 1, 3, 3)), _init("b2", (c,)),
        _init("w3", (10, c)), _init("b3", (10,)),
    ]  # fmt: skip
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, s, s])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def tiny_onnx(model_dir: Path) -> Path:
    p = model_dir / "tiny.onnx"
    onnx.save(tiny_graph(), p)
    return p


@pytest.fixture(scope="session")
def big_onnx(model_dir: Path) -> Path:
    """Same topology, 8x the channels and 4x the pixels: many more MACs."""
    p = model_dir / "big.onnx"
    onnx.save(tiny_graph(channels=64, size=16), p)
    return p


@pytest.fixture(scope="session")
def big_int8(big_onnx: Path, model_dir: Path) -> Path:
    from edgekd.models.reference_export import quantize_int8

    p = model_dir / "big.int8.onnx"
    quantize_int8(big_onnx, p, samples=2)
    return p


@pytest.fixture(scope="session")
def topk_onnx(model_dir: Path) -> Path:
    """The tiny graph followed by TopK, which TFLite Micro has no kernel for."""
    k = helper.make_node(
        "Constant", [], ["k"], value=numpy_helper.from_array(np.array([3], np.int64))
    )
    topk = helper.make_node("TopK", ["y0", "k"], ["vals", "idx"], name="topk")
    p = model_dir / "topk.onnx"
    onnx.save(tiny_graph(extra=[k, topk]), p)
    return p


@pytest.fixture(scope="session")
def tiny_tflite(model_dir: Path) -> Path:
    """Conv2d(3->4, 3x3, no pad) + ReLU + Flatten + Linear(144->5) on 1x3x8x8, via litert-torch.
    MACs: conv 4*6*6*27 = 3888, fc 5*144 = 720; params 108+4+720+5 = 837."""
    litert_torch = pytest.importorskip("litert_torch")
    torch.manual_seed(0)
    m = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(144, 5)
    ).eval()
    p = model_dir / "tiny.tflite"
    litert_torch.convert(m, (torch.randn(1, 3, 8, 8),)).export(str(p))
    return p


@pytest.fixture(scope="session")
def tiny_tflite_int8(model_dir: Path) -> Path:
    """The ``tiny_tflite`` network quantized to int8 (PT2E, per-channel) by litert-torch:
    int8 weights (108 + 720 bytes) and int32 biases (9 x 4 bytes)."""
    litert_torch = pytest.importorskip("litert_torch")
    from litert_torch.quantize.pt2e_quantizer import (
        PT2EQuantizer,
        get_symmetric_quantization_config,
    )
    from litert_torch.quantize.quant_config import QuantConfig

    try:
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    except ImportError:  # older torch keeps PT2E under torch.ao
        from torch.ao.quantization.quantize_pt2e import convert_pt2e, prepare_pt2e

    torch.manual_seed(0)
    m = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(144, 5)
    ).eval()
    args = (torch.randn(1, 3, 8, 8),)
    config = get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False)
    quantizer = PT2EQuantizer().set_global(config)
    pm = prepare_pt2e(torch.export.export(m, args).module(), quantizer)
    pm(*args)
    pm = convert_pt2e(pm, fold_quantize=False)
    p = model_dir / "tiny_int8.tflite"
    litert_torch.convert(pm, args, quant_config=QuantConfig(pt2e_quantizer=quantizer)).export(
        str(p)
    )
    return p


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEKD_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
