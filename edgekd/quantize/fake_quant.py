"""Eager-mode fake quantization for QAT, written so it exports to a faithful ONNX QDQ graph.

Simulated quantization (Jacob et al. 2018, "Quantization and Training of Neural Networks for
Efficient Integer-Arithmetic-Only Inference", sec. 3): in the forward pass a tensor becomes
``(clamp(round(x / s) + z, qmin, qmax) - z) * s``; the backward pass is the straight-through
estimator (Bengio et al. 2013). ``torch.fake_quantize_per_tensor_affine`` /
``per_channel_affine`` implement exactly this, and the ONNX exporter writes each as a
``QuantizeLinear -> DequantizeLinear`` pair, so the exported graph computes what training saw.

Conventions: activations uint8 asymmetric (range always includes 0), weights int8 symmetric
(zero point 0) on a 7-bit grid, codes in [-64, 64], per tensor or per output channel.
Activation ranges are exponential moving averages of batch min/max (Jacob et al. 2018,
sec. 3.1); weight ranges are taken from the current weights.

Why 7-bit weights: onnxruntime fuses ``DQ -> Conv -> Q`` into ``QLinearConv`` and runs it with
MLAS's u8s8 kernels. On x86 CPUs without VNNI (AVX2, AVX-512 before Cascade Lake) those use
``vpmaddubsw``, which adds two uint8 x int8 products into a *saturating* int16: with full-range
weights 2 x 255 x 127 = 64770 overflows 32767 and the file computes something else than the
model it came from (measured: 16% of the first conv's output codes off by up to 45 steps, top-1
agreement 0.944 on digits). With |code| <= 64, 2 x 255 x 64 = 32640 always fits, so the file
computes the same numbers on every CPU. This is onnxruntime's ``reduce_range`` ("7-bit
weights ... for non-VNNI machines", onnxruntime quantization docs; Intel oneDNN, "Nuances of
int8 computations"); QAT trains under the coarser grid, so it costs little accuracy.

Why the bias is quantized too: ``QLinearConv`` adds ``round(bias / (x_scale * w_scale))`` to its
int32 accumulator, so a float bias off that grid made 0.05-0.8% of output codes land one step
away from the fake-quant model's even on a VNNI CPU. Training and ``freeze`` put the bias (and
the weights) on their grids; then the file's integer kernels and the torch model produce the
same codes layer by layer (``tests/quantize/test_quantize_qat.py`` checks it).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

ACT_RANGE = (0, 255)  # uint8
WEIGHT_RANGE = (-128, 127)  # the int8 storage type (what the exported QuantizeLinear declares)
WEIGHT_CODE_MAX = 64  # 7-bit symmetric grid inside it: no int16 saturation in u8s8 kernels


class FakeQuant(nn.Module):
    """Fake-quantize a tensor with an EMA (activations) or current (weights) range."""

    lo: torch.Tensor
    hi: torch.Tensor
    seen: torch.Tensor

    def __init__(self, weight: bool, axis: int | None = None, momentum: float = 0.1) -> None:
        super().__init__()
        self.weight, self.axis, self.momentum = weight, axis, momentum
        self.register_buffer("lo", torch.zeros(()))
        self.register_buffer("hi", torch.zeros(()))
        self.register_buffer("seen", torch.zeros((), dtype=torch.bool))

    def _range(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.detach()
        if self.axis is not None:
            dims = [d for d in range(x.dim()) if d != self.axis]
            return x.amin(dim=dims), x.amax(dim=dims)
        return x.min(), x.max()

    def _observe(self, x: torch.Tensor) -> None:
        """Update the activation range: first batch as is, then an EMA."""
        lo, hi = self._range(x)
        if bool(self.seen):
            m = self.momentum
            lo, hi = (1 - m) * self.lo + m * lo, (1 - m) * self.hi + m * hi
        self.lo, self.hi = lo.clone(), hi.clone()
        self.seen = torch.ones((), dtype=torch.bool)

    def qparams(self, lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scale (float32) and zero point (int32) for the range [lo, hi]."""
        if self.weight:
            scale = torch.maximum(lo.abs(), hi.abs()) / float(WEIGHT_CODE_MAX)
            scale = torch.clamp(scale, min=1e-8)
            return scale.float(), torch.zeros_like(scale, dtype=torch.int32)
        lo, hi = torch.clamp(lo, max=0.0), torch.clamp(hi, min=0.0)
        scale = torch.clamp((hi - lo) / float(ACT_RANGE[1] - ACT_RANGE[0]), min=1e-8)
        zero = torch.clamp(torch.round(-lo / scale), *ACT_RANGE).to(torch.int32)
        return scale.float(), zero

    def freeze(self, x: torch.Tensor | None = None) -> None:
        """Fix scale and zero point (from ``x`` for weights) so export sees constants."""
        lo, hi = self._range(x) if self.weight and x is not None else (self.lo, self.hi)
        scale, zero = self.qparams(lo, hi)
        self.register_buffer("scale", scale)
        self.register_buffer("zero", zero)

    @property
    def frozen(self) -> bool:
        return "scale" in self._buffers

    def current_qparams(self, x: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The scale and zero point ``forward`` uses now (a weight quantizer needs ``x``)."""
        if self.frozen:
            scale, zero = self._buffers["scale"], self._buffers["zero"]
            assert scale is not None and zero is not None
            return scale, zero
        if self.weight:
            assert x is not None, "a weight quantizer's range comes from the weight"
            return self.qparams(*self._range(x))
        return self.qparams(self.lo, self.hi)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.frozen and not self.weight and self.training:
            self._observe(x)
        scale, zero = self.current_qparams(x)
        qmin, qmax = WEIGHT_RANGE if self.weight else ACT_RANGE
        if self.axis is not None:
            return torch.fake_quantize_per_channel_affine(x, scale, zero, self.axis, qmin, qmax)
        return torch.fake_quantize_per_tensor_affine(x, scale, zero, qmin, qmax)


class QuantLayer(nn.Module):
    """A Conv or Linear layer with fake-quantized input, weight and (optionally) output."""

    def __init__(self, layer: nn.Module, per_channel: bool, quant_output: bool) -> None:
        super().__init__()
        self.layer = layer
        self.act_in = FakeQuant(weight=False)
        self.w = FakeQuant(weight=True, axis=0 if per_channel else None)
        self.act_out: nn.Module = FakeQuant(weight=False) if quant_output else nn.Identity()

    def bias_scale(self) -> torch.Tensor:
        """Scale of the int32 bias: input scale x weight scale (per output channel or one)."""
        weight = self.layer.weight
        assert isinstance(weight, torch.Tensor)
        return self.act_in.current_qparams()[0] * self.w.current_qparams(weight.detach())[0]

    def freeze(self) -> None:
        """Fix every scale and put weight and bias on their grids, so the constants the export
        writes (int8 weights, the int32 bias the runtime derives) are the ones the model uses.
        """
        weight = self.layer.weight
        assert isinstance(weight, torch.Tensor)
        self.w.freeze(weight.detach())
        self.act_in.freeze()
        if isinstance(self.act_out, FakeQuant):
            self.act_out.freeze()
        with torch.no_grad():
            # torch rounds x * (1/s), ONNX x / s: the same code except on rare exact ties
            weight.copy_(self.w(weight))
            bias = self.layer.bias
            if isinstance(bias, torch.Tensor):
                bias.copy_(quantize_bias(bias, self.bias_scale()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        layer = self.layer
        xq = self.act_in(x)
        w = self.w(layer.weight)
        bias = layer.bias if isinstance(layer.bias, torch.Tensor) else None
        if bias is not None and not self.w.frozen:
            # straight-through: train with the bias the int32 accumulator will hold
            bias = bias + (quantize_bias(bias, self.bias_scale()) - bias).detach()
        if isinstance(layer, nn.Linear):
            y = F.linear(xq, w, bias)
        else:
            assert isinstance(layer, nn.Conv2d)
            y = layer._conv_forward(xq, w, bias)
        return self.act_out(y)


def quantize_bias(bias: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``bias`` rounded to the int32 grid of ``scale`` (= input scale x weight scale).

    onnxruntime's ``QLinearConv`` adds the bias to the int32 accumulator as
    ``round(bias / (x_scale * w_scale))`` (as its static quantizer writes it); a float bias off
    that grid makes the file and the fake-quant model round some outputs differently.
    """
    return torch.round(bias / scale) * scale


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every BatchNorm that directly follows a Conv/Linear in a Sequential into it.

    Folding first (as TFLite and onnxruntime do at inference) means QAT trains the weights
    that will be quantized, not the pre-BN ones (Krishnamoorthi 2018, sec. 3.2).
    """
    model = copy.deepcopy(model).eval()
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        for a, b in zip(names, names[1:], strict=False):
            first, second = seq._modules[a], seq._modules[b]
            if isinstance(first, nn.Conv2d) and isinstance(second, nn.BatchNorm2d):
                seq._modules[a] = fuse_conv_bn_eval(first, second)
                seq._modules[b] = nn.Identity()
            elif isinstance(first, nn.Linear) and isinstance(second, nn.BatchNorm1d):
                seq._modules[a] = fuse_linear_bn_eval(first, second)
                seq._modules[b] = nn.Identity()
    return model


def prepare_qat(model: nn.Module, per_channel: bool = False) -> nn.Module:
    """A copy of ``model`` with BatchNorm folded and every Conv2d/Linear fake-quantized.

    The last layer's output (the logits) stays float32.
    """
    model = fold_batchnorm(model)
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        layer = parent._modules[child]
        assert layer is not None
        parent._modules[child] = QuantLayer(layer, per_channel, quant_output=name != names[-1])
    return model


@torch.no_grad()
def calibrate(model: nn.Module, x: torch.Tensor, batch_size: int = 64) -> None:
    """Initialize activation ranges from calibration data (train mode: observers update)."""
    model.train()
    for i in range(0, len(x), batch_size):
        model(x[i : i + batch_size])
    model.eval()


def freeze(model: nn.Module) -> nn.Module:
    """Fix every quantization parameter (after training, before export); returns ``model``."""
    model.eval()
    for m in model.modules():
        if isinstance(m, QuantLayer):
            m.freeze()
    return model
