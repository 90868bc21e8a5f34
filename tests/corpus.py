"""A corpus of "real" model files of the kinds other toolchains export, built from code.

Each builder writes one file into a directory (once: a second call reuses it) and returns a
``CorpusModel``: the file, the ``--input-shape`` a user must give (if any), inputs to run it
on, calibration/held-out data keyed by input name, and the numbers a correct analysis must
report (from the architecture's own formula, not from edgekd). Used by the tests and by
``benchmarks/real_files.py``. Nothing is downloaded.

Defect classes covered (issue 11): a detector with every input dim symbolic; weights held in
``Constant`` nodes; an ``If`` with a bool condition and weights in its branches; an LSTM; an
opset-11 CNN; a CTC-style recognizer that default static int8 breaks; a multi-input stateful
model (audio, recurrent state, int64 sample rate); a fixed-batch-1 model; an embedding model
with int64 inputs; a TFLite file with variable tensors (``tflite_variable``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


@dataclass
class CorpusModel:
    """One model file and what is known about it."""

    name: str
    path: Path
    defect: str  # the defect class of issue 11 it covers
    input_shapes: dict[str, list[int]] = field(default_factory=dict)  # what --input-shape gives
    feeds: dict[str, np.ndarray] = field(default_factory=dict)  # one run at input_shapes
    calib: dict[str, np.ndarray] = field(default_factory=dict)  # rows for calibration
    expected: dict[str, Any] = field(default_factory=dict)  # params, macs... by formula

    def save_calib(self, path: Path) -> Path:
        np.savez(path, **self.calib)
        return path


def _export(model: Any, args: tuple, path: Path, **kw: Any) -> None:
    import torch

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        torch.onnx.export(model.eval(), args, str(path), dynamo=False, **kw)


def _conv_macs(cout: int, cin: int, k: int, h: int, w: int) -> int:
    return cout * h * w * cin * k * k


# --- detector: every input dim symbolic -------------------------------------------------


def detector(directory: Path) -> CorpusModel:
    """A small one-stage detector (stride-8 backbone, upsampled stride-4 head with a skip
    connection) exported from torch with dynamic N, H and W."""
    import torch
    from torch import nn

    class Det(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1 = nn.Conv2d(3, 16, 3, 2, 1)
            self.c2 = nn.Conv2d(16, 32, 3, 2, 1)
            self.c3 = nn.Conv2d(32, 64, 3, 2, 1)
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.head = nn.Conv2d(64 + 32, 6, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            a = torch.relu(self.c1(x))
            b = torch.relu(self.c2(a))
            c = torch.relu(self.c3(b))
            return self.head(torch.cat([self.up(c), b], 1))

    path = directory / "detector.onnx"
    if not path.is_file():
        torch.manual_seed(0)
        _export(
            Det(), (torch.randn(1, 3, 64, 64),), path, input_names=["images"],
            output_names=["preds"], opset_version=17,
            dynamic_axes={"images": {0: "N", 2: "H", 3: "W"}, "preds": {0: "N", 2: "h", 3: "w"}},
        )  # fmt: skip
    size = 640
    s2, s4, s8 = size // 2, size // 4, size // 8
    macs = (
        _conv_macs(16, 3, 3, s2, s2)
        + _conv_macs(32, 16, 3, s4, s4)
        + _conv_macs(64, 32, 3, s8, s8)
        + _conv_macs(6, 96, 1, s4, s4)
    )
    params = 16 * 27 + 16 + 32 * 144 + 32 + 64 * 288 + 64 + 6 * 96 + 6
    rng = np.random.default_rng(0)
    return CorpusModel(
        "detector", path, "symbolic input dims (N, H, W)",
        input_shapes={"images": [1, 3, size, size]},
        feeds={"images": rng.standard_normal((1, 3, size, size)).astype(np.float32)},
        calib={"images": rng.standard_normal((160, 3, 64, 64)).astype(np.float32)},
        expected={"macs": macs, "params": params, "symbolic": ("images", "H")},
    )  # fmt: skip


# --- weights in Constant nodes -------------------------------------------------------------


def constant_weights(directory: Path) -> CorpusModel:
    """A CNN classifier whose initializers were all turned into ``Constant`` nodes (as some
    converters and graph surgery tools write them)."""
    import torch
    from torch import nn

    path = directory / "constant_weights.onnx"
    src = directory / "constant_weights.src.onnx"
    if not path.is_file():
        torch.manual_seed(0)
        net = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1),
            nn.ReLU(), nn.Flatten(), nn.Linear(16 * 4 * 4, 10),
        )  # fmt: skip
        axes = {"x": {0: "batch"}, "logits": {0: "batch"}}
        _export(net, (torch.randn(1, 1, 8, 8),), src, input_names=["x"],
                output_names=["logits"], opset_version=13, dynamic_axes=axes)  # fmt: skip
        model = onnx.load(str(src))
        consts = [
            helper.make_node("Constant", [], [t.name], value=t, name=f"const_{t.name}")
            for t in model.graph.initializer
        ]
        del model.graph.initializer[:]
        nodes = list(model.graph.node)
        del model.graph.node[:]
        model.graph.node.extend(consts + nodes)
        onnx.checker.check_model(model)
        onnx.save(model, str(path))
    params = 8 * 9 + 8 + 16 * 72 + 16 + 256 * 10 + 10
    macs = _conv_macs(8, 1, 3, 8, 8) + _conv_macs(16, 8, 3, 4, 4) + 256 * 10
    rng = np.random.default_rng(1)
    x = rng.standard_normal((160, 1, 8, 8)).astype(np.float32)
    return CorpusModel(
        "constant_weights", path, "weights in Constant nodes",
        feeds={"x": x[:1]}, calib={"x": x},
        expected={"params": params, "macs": macs, "initializer_twin": src},
    )  # fmt: skip


# --- If with a bool condition, weights in the branches ------------------------------------


def if_branches(directory: Path) -> CorpusModel:
    """x -> MatMul(16x32) -> Relu -> If(cond): then MatMul(32x64) -> Relu -> MatMul(64x10),
    else MatMul(32x10). Every weight of the branches lives inside the subgraphs."""
    path = directory / "if_branches.onnx"
    rng = np.random.default_rng(2)

    def w(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array(
            (rng.standard_normal(shape) / np.sqrt(shape[0])).astype(np.float32), name
        )

    out_vi = helper.make_tensor_value_info
    then = helper.make_graph(
        [
            helper.make_node("MatMul", ["h", "w_t1"], ["t1"], name="then_mm1"),
            helper.make_node("Relu", ["t1"], ["t1r"], name="then_relu"),
            helper.make_node("MatMul", ["t1r", "w_t2"], ["t_out"], name="then_mm2"),
        ],
        "then", [], [out_vi("t_out", TensorProto.FLOAT, ["batch", 10])],
        initializer=[w("w_t1", 32, 64), w("w_t2", 64, 10)],
    )  # fmt: skip
    other = helper.make_graph(
        [helper.make_node("MatMul", ["h", "w_e"], ["e_out"], name="else_mm")],
        "else", [], [out_vi("e_out", TensorProto.FLOAT, ["batch", 10])],
        initializer=[w("w_e", 32, 10)],
    )  # fmt: skip
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w_in"], ["h0"], name="mm_in"),
            helper.make_node("Relu", ["h0"], ["h"], name="relu_in"),
            helper.make_node("If", ["cond"], ["y"], name="if", then_branch=then, else_branch=other),
        ],
        "if_branches",
        [out_vi("x", TensorProto.FLOAT, ["batch", 16]), out_vi("cond", TensorProto.BOOL, [])],
        [out_vi("y", TensorProto.FLOAT, ["batch", 10])],
        initializer=[w("w_in", 16, 32)],
    )
    if not path.is_file():
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        onnx.save(model, str(path))
    x = rng.standard_normal((160, 16)).astype(np.float32)
    return CorpusModel(
        "if_branches", path, "If subgraphs with a bool condition",
        feeds={"x": x[:1], "cond": np.array(True)},
        calib={"x": x, "cond": np.ones(160, bool)},
        expected={
            "params": 16 * 32 + 32 * 64 + 64 * 10 + 32 * 10,
            "macs": 16 * 32 + 32 * 64 + 64 * 10,  # the larger (then) branch
            "precision": "fp32",
        },
    )  # fmt: skip


# --- LSTM ---------------------------------------------------------------------------------


def lstm(directory: Path) -> CorpusModel:
    """A keyword-spotting-like LSTM: (1, 49 frames, 40 features) -> LSTM(64) -> Linear(12)."""
    import torch
    from torch import nn

    class Kws(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.LSTM(40, 64, batch_first=True)
            self.fc = nn.Linear(64, 12)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y, _ = self.rnn(x)
            return self.fc(y[:, -1])

    path = directory / "lstm.onnx"
    if not path.is_file():
        torch.manual_seed(0)
        _export(Kws(), (torch.randn(1, 49, 40),), path, input_names=["mfcc"],
                output_names=["logits"], opset_version=17,
                dynamic_axes={"mfcc": {0: "batch"}, "logits": {0: "batch"}})  # fmt: skip
    t, i, h = 49, 40, 64
    rng = np.random.default_rng(3)
    x = rng.standard_normal((160, t, i)).astype(np.float32)
    return CorpusModel(
        "lstm", path, "LSTM MACs",
        feeds={"mfcc": x[:1]}, calib={"mfcc": x},
        expected={
            "macs": t * 4 * h * (i + h) + h * 12,
            "params": 4 * h * (i + h) + 8 * h + h * 12 + 12,
        },
    )  # fmt: skip


# --- opset 11 CNN -------------------------------------------------------------------------


def opset11_cnn(directory: Path) -> CorpusModel:
    """A CNN exported at opset 11 (per-channel DequantizeLinear needs opset 13)."""
    import torch
    from torch import nn

    path = directory / "opset11_cnn.onnx"
    if not path.is_file():
        torch.manual_seed(0)
        net = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
        ).eval()  # fmt: skip
        _export(net, (torch.randn(1, 3, 16, 16),), path, input_names=["input"],
                output_names=["logits"], opset_version=11,
                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})  # fmt: skip
    rng = np.random.default_rng(4)
    x = rng.standard_normal((160, 3, 16, 16)).astype(np.float32)
    macs = _conv_macs(16, 3, 3, 16, 16) + _conv_macs(32, 16, 3, 8, 8) + 320
    return CorpusModel(
        "opset11_cnn", path, "opset 11 quantized per-channel",
        feeds={"input": x[:1]}, calib={"input": x}, expected={"opset": 11, "macs": macs},
    )  # fmt: skip


# --- CTC-style recognizer that static int8 breaks -------------------------------------------


def ctc_recognizer(directory: Path) -> CorpusModel:
    """A CTC-style line recognizer: (1, 64 frames, 32 features) -> 3 Conv1d -> per-frame
    Linear -> log_softmax over 20 symbols, with confident per-frame predictions (a scaled-up
    classifier). One feature channel of the last conv carries a large constant offset that
    the classifier ignores (an "outlier feature", as in real recognizers and transformers):
    per-tensor MinMax activation ranges spread it over the whole int8 range, every other
    channel rounds to a few levels and the per-frame decisions collapse."""
    import torch
    from torch import nn

    class Ctc(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1 = nn.Conv1d(32, 64, 3, padding=1)
            self.c2 = nn.Conv1d(64, 64, 3, padding=1)
            self.c3 = nn.Conv1d(64, 64, 3, padding=1)
            self.fc = nn.Linear(64, 20)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = torch.relu(self.c1(x.transpose(1, 2)))
            h = torch.relu(self.c2(h))
            h = self.c3(h).transpose(1, 2)
            return torch.log_softmax(self.fc(h), dim=-1)

    path = directory / "ctc_recognizer.onnx"
    if not path.is_file():
        torch.manual_seed(0)
        net = Ctc()
        with torch.no_grad():
            net.fc.weight.mul_(20.0)  # confident per-frame predictions, like a trained model
            net.c3.bias[0] = 2000.0  # the outlier channel ...
            net.fc.weight[:, 0] = 0.0002  # ... which the classifier ignores (same for every class)
        _export(net, (torch.randn(1, 64, 32),), path, input_names=["features"],
                output_names=["log_probs"], opset_version=17,
                dynamic_axes={"features": {0: "batch"}, "log_probs": {0: "batch"}})  # fmt: skip
    rng = np.random.default_rng(5)
    x = rng.standard_normal((160, 64, 32)).astype(np.float32)
    return CorpusModel(
        "ctc_recognizer", path, "silent int8 collapse",
        feeds={"features": x[:1]}, calib={"features": x},
        expected={"macs": 64 * (_k1(64, 32) + 2 * _k1(64, 64)) + 64 * 64 * 20},
    )  # fmt: skip


def _k1(cout: int, cin: int) -> int:
    return cout * cin * 3


# --- multi-input stateful model ------------------------------------------------------------


def stateful(directory: Path) -> CorpusModel:
    """A voice-activity-like model with three inputs, all with fixed batch 1:
    ``audio`` (1, 512) float, ``state`` (2, 1, 64) float (a 2-layer GRU's hidden state) and
    ``sr`` () int64 sample rate; outputs the speech probability and the next state."""
    import torch
    from torch import nn

    class Vad(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.frame = nn.Linear(64, 64)
            self.gru = nn.GRU(64, 64, num_layers=2, batch_first=True)
            self.out = nn.Linear(64, 1)

        def forward(self, audio: torch.Tensor, state: torch.Tensor, sr: torch.Tensor):
            x = audio.reshape(1, 8, 64) * (sr.to(torch.float32) / 16000.0)
            y, h = self.gru(torch.relu(self.frame(x)), state)
            return torch.sigmoid(self.out(y[:, -1])), h

    path = directory / "stateful.onnx"
    if not path.is_file():
        torch.manual_seed(0)
        args = (torch.randn(1, 512), torch.zeros(2, 1, 64), torch.tensor(16000))
        _export(Vad(), args, path, input_names=["audio", "state", "sr"],
                output_names=["prob", "state_out"], opset_version=17)  # fmt: skip
    rng = np.random.default_rng(6)
    n = 48
    calib = {
        "audio": rng.standard_normal((n, 1, 512)).astype(np.float32),
        "state": (0.5 * rng.standard_normal((n, 2, 1, 64))).astype(np.float32),
        "sr": np.full((n,), 16000, np.int64),
    }
    feeds = {"audio": calib["audio"][0], "state": calib["state"][0], "sr": np.array(16000)}
    gru = 3 * 64 * (64 + 64)
    return CorpusModel(
        "stateful", path, "several inputs: audio, recurrent state, int64 sample rate",
        feeds=feeds, calib=calib,
        expected={"macs": 8 * 64 * 64 + 8 * 2 * gru + 64},
    )  # fmt: skip


# --- fixed batch 1 ------------------------------------------------------------------------


def fixed_batch(directory: Path) -> CorpusModel:
    """A digits-sized CNN exported with a static (1, 1, 8, 8) input: no batch axis to use."""
    import torch
    from torch import nn

    path = directory / "fixed_batch.onnx"
    if not path.is_file():
        torch.manual_seed(0)
        net = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(8 * 4 * 4, 10),
        )  # fmt: skip
        _export(net, (torch.randn(1, 1, 8, 8),), path, input_names=["x"],
                output_names=["logits"], opset_version=17)  # fmt: skip
    rng = np.random.default_rng(7)
    x = rng.standard_normal((160, 1, 8, 8)).astype(np.float32)
    return CorpusModel(
        "fixed_batch", path, "fixed batch of 1",
        feeds={"x": x[:1]}, calib={"x": x},
        expected={"macs": _conv_macs(8, 1, 3, 8, 8) + 128 * 10},
    )  # fmt: skip


# --- int64 inputs -------------------------------------------------------------------------


def token_classifier(directory: Path) -> CorpusModel:
    """Token ids (N, 12) int64 -> Embedding(100, 32) -> mean -> Linear(32, 4)."""
    import torch
    from torch import nn

    class Tok(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(100, 32)
            self.fc = nn.Linear(32, 4)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.fc(self.emb(ids).mean(1))

    path = directory / "token_classifier.onnx"
    if not path.is_file():
        torch.manual_seed(0)
        _export(Tok(), (torch.zeros(1, 12, dtype=torch.long),), path, input_names=["ids"],
                output_names=["logits"], opset_version=17,
                dynamic_axes={"ids": {0: "batch"}, "logits": {0: "batch"}})  # fmt: skip
    rng = np.random.default_rng(8)
    ids = rng.integers(0, 100, (160, 12)).astype(np.int64)
    return CorpusModel(
        "token_classifier", path, "int64 inputs",
        feeds={"ids": ids[:1]}, calib={"ids": ids},
        expected={"params": 100 * 32 + 32 * 4 + 4, "macs": 32 * 4},
    )  # fmt: skip


ONNX_BUILDERS: dict[str, Callable[[Path], CorpusModel]] = {
    "detector": detector,
    "constant_weights": constant_weights,
    "if_branches": if_branches,
    "lstm": lstm,
    "opset11_cnn": opset11_cnn,
    "ctc_recognizer": ctc_recognizer,
    "stateful": stateful,
    "fixed_batch": fixed_batch,
    "token_classifier": token_classifier,
}


def build(name: str, directory: Path) -> CorpusModel:
    """Build (or reuse) corpus model ``name`` in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    if name in ONNX_BUILDERS:
        return ONNX_BUILDERS[name](directory)
    from tests.tflite_builder import TFLITE_BUILDERS

    return TFLITE_BUILDERS[name](directory)
