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
