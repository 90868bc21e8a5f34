"""Full-int8 TFLite keeps residual additions and elementwise products in int8."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from edgekd.export.tflite_export import export_tflite
from edgekd.runtime.litert import builtin_op_names, op_code_name, read_model


class Residual(nn.Module):
    """``x + conv(x)`` (MobileNetV2), ``out += identity`` (ResNet) and a gating product."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.b = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8))
        self.g = nn.Conv2d(8, 8, 1)
        self.head = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.a(x)
        out = self.b(y)
        out += y  # in place: aten.add_
        z = out + self.b(out)  # aten.add
        z = z * torch.sigmoid(self.g(z))  # aten.mul between two tensors
        return self.head(z.mean((2, 3)))


def ops_by_output_type(path) -> list[tuple[str, str]]:
    """(op type, output tensor type) of every operator, in order."""
    model, names = read_model(path), builtin_op_names()
    graph = model.subgraphs[0]
    kinds = {0: "float32", 9: "int8"}
    return [
        (
            op_code_name(model.operatorCodes[op.opcodeIndex], names),
            kinds.get(graph.tensors[op.outputs[0]].type, "other"),
        )
        for op in graph.operators
    ]


def test_int8_adds_and_muls_run_in_int8(tmp_path):
    torch.manual_seed(0)
    model = Residual().eval()
    x = np.random.default_rng(0).standard_normal((32, 4, 8, 8)).astype(np.float32)
    path = tmp_path / "res.int8.tflite"
    export_tflite(model, x[:1], path, "int8", calib=x, gate=False)
    ops = ops_by_output_type(path)
    assert sum(op == "ADD" for op, _ in ops) >= 2 and ("MUL", "int8") in ops
    for op, kind in ops:
        if op in ("ADD", "MUL"):
            assert kind == "int8", ops
    # float only at the boundary: one QUANTIZE in, one DEQUANTIZE out
    assert [op for op, _ in ops].count("DEQUANTIZE") == 1
    assert [op for op, _ in ops].count("QUANTIZE") == 1


class HardBlock(nn.Module):
    """MobileNetV3's inverted-residual pieces: conv + hard-swish and a squeeze-excite gate
    with hard-sigmoid (Howard et al. 2019)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.Hardswish())
        self.fc1, self.fc2 = nn.Conv2d(8, 4, 1), nn.Conv2d(4, 8, 1)
        self.gate = nn.Hardsigmoid()
        self.head = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        s = self.gate(self.fc2(torch.relu(self.fc1(y.mean((2, 3), keepdim=True)))))
        return self.head((y * s).mean((2, 3), keepdim=True).flatten(1))  # as torchvision


def test_hard_activations_are_decomposed_to_the_same_function():
    from edgekd.export.tflite_pt2e import decompose_hard_activations

    torch.manual_seed(0)
    model = HardBlock().eval()
    x = torch.randn(4, 3, 8, 8) * 3
    gm = torch.export.export(model, (x[:1],)).module()
    assert decompose_hard_activations(gm) == 2
    targets = {str(n.target) for n in gm.graph.nodes}
    assert not any("hardswish" in t or "hardsigmoid" in t for t in targets), targets
    for row in x:  # the exported graph is specialized to batch 1
        torch.testing.assert_close(gm(row[None]), model(row[None]), rtol=1e-5, atol=1e-6)


def test_int8_hard_swish_and_squeeze_excite_stay_int8_without_transposes(tmp_path):
    torch.manual_seed(0)
    model = HardBlock().eval()
    x = (np.random.default_rng(0).standard_normal((32, 3, 8, 8)) * 2).astype(np.float32)
    path = tmp_path / "hard.int8.tflite"
    export_tflite(model, x[:1], path, "int8", calib=x, gate=False)
    ops = ops_by_output_type(path)
    names = [op for op, _ in ops]
    # HARD_SWISH has no int8 kernel in XNNPACK: it would split the delegated graph
    assert "HARD_SWISH" not in names, ops
    for op, kind in ops:
        if op in ("ADD", "MUL"):
            assert kind == "int8", ops
    assert names.count("DEQUANTIZE") == 1 and names.count("QUANTIZE") == 1, ops
    # one NCHW->NHWC transpose at the input, none around the elementwise ops
    assert names.count("TRANSPOSE") <= 1, " ".join(names)
    float_path = tmp_path / "hard.fp32.tflite"
    export_tflite(model, x[:1], float_path, "fp32", gate=False)
    from edgekd.runtime.litert import load_interpreter

    outs = []
    for p in (float_path, path):
        it = load_interpreter(p, 1)
        inp, out = it.get_input_details()[0], it.get_output_details()[0]
        rows = []
        for row in x[:8]:
            it.set_tensor(inp["index"], row[None])
            it.invoke()
            rows.append(np.array(it.get_tensor(out["index"]))[0])
        outs.append(np.stack(rows))
    rel = np.linalg.norm(outs[1] - outs[0]) / np.linalg.norm(outs[0])
    assert rel < 0.1, rel
