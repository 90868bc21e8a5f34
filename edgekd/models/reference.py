"""Reference architectures built from code with random weights, for profiling without a hub.

- MobileNetV1 (Howard et al. 2017, arXiv:1704.04861): 1.0-224 has ~569 M MACs, 4.2 M params.
- MobileNetV2 (Sandler et al. 2018, arXiv:1801.04381): 1.0-224 has ~300 M MACs, 3.4 M params.
- Inception-v3 (Szegedy et al. 2016, arXiv:1512.00567): 299x299, ~5.7 G MACs, ~23.8 M params
  (the torchvision/Keras layer layout; auxiliary head omitted as at inference).
- MLPerf Tiny v0.5 reference models (Banbury et al. 2021, arXiv:2106.07597;
  mlcommons/tiny ``benchmark/training``): KWS DS-CNN small, VWW MobileNetV1-0.25 96x96,
  IC ResNet-8 on 32x32, AD fully connected autoencoder on 640 inputs.

BatchNorm follows every conv as in the papers; ``fold_batchnorm`` folds it before export,
as converters do.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def conv_bn(
    cin: int,
    cout: int,
    k: int | tuple[int, int],
    stride: int = 1,
    groups: int = 1,
    act: type[nn.Module] | None = nn.ReLU,
    padding: int | tuple[int, int] | None = None,
) -> nn.Sequential:
    """Conv (no bias) + BatchNorm (+ activation), 'same' padding for odd kernels."""
    kk = (k, k) if isinstance(k, int) else k
    pad = padding if padding is not None else (kk[0] // 2, kk[1] // 2)
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kk, stride, pad, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


def _head(cin: int, classes: int) -> nn.Sequential:
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes))


def mobilenet_v1(width: float = 1.0, classes: int = 1000) -> nn.Module:
    """MobileNetV1: a 3x3 conv then 13 depthwise-separable blocks (Howard et al. 2017, Table 1)."""
    cfg = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5
    cfg += [(1024, 2), (1024, 1)]
    c = max(8, int(32 * width))
    layers: list[nn.Module] = [conv_bn(3, c, 3, 2)]
    for out, s in cfg:
        o = max(8, int(out * width))
        layers += [conv_bn(c, c, 3, s, groups=c), conv_bn(c, o, 1)]
        c = o
    return nn.Sequential(*layers, _head(c, classes))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise, 1x1 linear projection (+ residual)."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = [] if expand == 1 else [conv_bn(cin, hidden, 1, act=nn.ReLU6)]
        layers += [
            conv_bn(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6),
            conv_bn(hidden, cout, 1, act=None),
        ]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


def mobilenet_v2(width: float = 1.0, classes: int = 1000) -> nn.Module:
    """MobileNetV2 (Sandler et al. 2018, Table 2)."""
    cfg = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
           (6, 160, 3, 2), (6, 320, 1, 1)]  # fmt: skip
    c = int(32 * width)
    layers: list[nn.Module] = [conv_bn(3, c, 3, 2, act=nn.ReLU6)]
    for t, out, n, s in cfg:
        o = int(out * width)
        for i in range(n):
            layers.append(InvertedResidual(c, o, s if i == 0 else 1, t))
            c = o
    last = max(1280, int(1280 * width))
    layers.append(conv_bn(c, last, 1, act=nn.ReLU6))
    return nn.Sequential(*layers, _head(last, classes))


class _Branches(nn.Module):
    """Parallel branches concatenated on channels (the Inception module)."""

    def __init__(self, *branches: nn.Module) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([b(x) for b in self.branches], 1)


def _pool_proj(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.AvgPool2d(3, 1, 1), conv_bn(cin, cout, 1))


def _inception_a(cin: int, pool: int) -> nn.Module:
    return _Branches(
        conv_bn(cin, 64, 1),
        nn.Sequential(conv_bn(cin, 48, 1), conv_bn(48, 64, 5)),
        nn.Sequential(conv_bn(cin, 64, 1), conv_bn(64, 96, 3), conv_bn(96, 96, 3)),
        _pool_proj(cin, pool),
    )


def _inception_c(c7: int) -> nn.Module:
    return _Branches(
        conv_bn(768, 192, 1),
        nn.Sequential(conv_bn(768, c7, 1), conv_bn(c7, c7, (1, 7)), conv_bn(c7, 192, (7, 1))),
        nn.Sequential(
            conv_bn(768, c7, 1),
            conv_bn(c7, c7, (7, 1)),
            conv_bn(c7, c7, (1, 7)),
            conv_bn(c7, c7, (7, 1)),
            conv_bn(c7, 192, (1, 7)),
        ),  # fmt: skip
        _pool_proj(768, 192),
    )


class _SplitBranch(nn.Module):
    """A stem conv followed by 1x3 and 3x1 convs concatenated (Inception-v3 module E)."""

    def __init__(self, stem: nn.Module, c: int) -> None:
        super().__init__()
        self.stem, self.a, self.b = stem, conv_bn(c, 384, (1, 3)), conv_bn(c, 384, (3, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.stem(x)
        return torch.cat([self.a(y), self.b(y)], 1)


def _inception_e(cin: int) -> nn.Module:
    return _Branches(
        conv_bn(cin, 320, 1),
        _SplitBranch(conv_bn(cin, 384, 1), 384),
        _SplitBranch(nn.Sequential(conv_bn(cin, 448, 1), conv_bn(448, 384, 3)), 384),
        _pool_proj(cin, 192),
    )


def inception_v3(classes: int = 1000) -> nn.Module:
    """Inception-v3 for 299x299 inputs (Szegedy et al. 2016, Table 1; torchvision layout)."""
    stem = [
        conv_bn(3, 32, 3, 2, padding=0), conv_bn(32, 32, 3, padding=0), conv_bn(32, 64, 3),
        nn.MaxPool2d(3, 2), conv_bn(64, 80, 1), conv_bn(80, 192, 3, padding=0), nn.MaxPool2d(3, 2),
    ]  # fmt: skip
    reduce_b = _Branches(
        conv_bn(288, 384, 3, 2, padding=0),
        nn.Sequential(conv_bn(288, 64, 1), conv_bn(64, 96, 3), conv_bn(96, 96, 3, 2, padding=0)),
        nn.MaxPool2d(3, 2),
    )
    reduce_d = _Branches(
        nn.Sequential(conv_bn(768, 192, 1), conv_bn(192, 320, 3, 2, padding=0)),
        nn.Sequential(
            conv_bn(768, 192, 1),
            conv_bn(192, 192, (1, 7)),
            conv_bn(192, 192, (7, 1)),
            conv_bn(192, 192, 3, 2, padding=0),
        ),  # fmt: skip
        nn.MaxPool2d(3, 2),
    )
    blocks = [
        _inception_a(192, 32), _inception_a(256, 64), _inception_a(288, 64), reduce_b,
        _inception_c(128), _inception_c(160), _inception_c(160), _inception_c(192), reduce_d,
        _inception_e(1280), _inception_e(2048),
    ]  # fmt: skip
    return nn.Sequential(*stem, *blocks, _head(2048, classes))


def kws_dscnn() -> nn.Module:
    """MLPerf Tiny KWS DS-CNN small: 10x4 conv (64, stride 2) + 4 depthwise-separable blocks,
    49x10 MFCC input, 12 classes (mlcommons/tiny keras_model.py)."""
    layers: list[nn.Module] = [conv_bn(1, 64, (10, 4), 2, padding=(5, 1))]
    for _ in range(4):
        layers += [conv_bn(64, 64, 3, groups=64), conv_bn(64, 64, 1)]
    return nn.Sequential(*layers, _head(64, 12))


class _ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(cin, cout, 3, stride), conv_bn(cout, cout, 3, act=None))
        self.short = (
            nn.Identity()
            if stride == 1 and cin == cout
            else conv_bn(cin, cout, 1, stride, act=None)
        )
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.short(x))


def ic_resnet8() -> nn.Module:
    """MLPerf Tiny IC ResNet-8: 16-channel stem, three residual stacks (16, 32, 64), 10 classes."""
    return nn.Sequential(
        conv_bn(3, 16, 3), _ResBlock(16, 16, 1), _ResBlock(16, 32, 2), _ResBlock(32, 64, 2),
        _head(64, 10),
    )  # fmt: skip


def ad_autoencoder() -> nn.Module:
    """MLPerf Tiny AD: dense 640-128-128-128-128-8-128-128-128-128-640, BN + ReLU between."""
    dims = [640, 128, 128, 128, 128, 8, 128, 128, 128, 128]
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:], strict=True):
        layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU()]
    layers.append(nn.Linear(128, 640))
    return nn.Sequential(*layers)


# name -> (builder, input shape without batch); one explicit table, no registration magic
REFERENCE: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "mobilenet_v1_1.0": (lambda: mobilenet_v1(1.0), (3, 224, 224)),
    "mobilenet_v1_0.25": (lambda: mobilenet_v1(0.25), (3, 128, 128)),
    "mobilenet_v2_1.0": (lambda: mobilenet_v2(1.0), (3, 224, 224)),
    "inception_v3": (inception_v3, (3, 299, 299)),
    "mlperf_tiny_kws_dscnn": (kws_dscnn, (1, 49, 10)),
    "mlperf_tiny_vww_mobilenet_v1_0.25": (lambda: mobilenet_v1(0.25, classes=2), (3, 96, 96)),
    "mlperf_tiny_ic_resnet8": (ic_resnet8, (3, 32, 32)),
    "mlperf_tiny_ad_autoencoder": (ad_autoencoder, (640,)),
}


# MobileNetV1 at the widths and input sizes of TFLite's hosted models (Howard et al. 2017)
def _mobilenet_v1_builder(width: float) -> Callable[[], nn.Module]:
    return lambda: mobilenet_v1(width)


REFERENCE.update(
    {
        f"mobilenet_v1_{w}_{r}": (_mobilenet_v1_builder(float(w)), (3, r, r))
        for w in ("0.25", "0.5", "0.75", "1.0")
        for r in (128, 160, 192, 224)
    }
)


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold each BatchNorm into the Conv/Linear right before it in a Sequential (eval mode)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

    for module in model.modules():
        if not isinstance(module, nn.Sequential):
            continue
        names = list(module._modules)
        for a, b in zip(names[:-1], names[1:], strict=True):
            first, second = module._modules[a], module._modules[b]
            if isinstance(second, (nn.BatchNorm1d, nn.BatchNorm2d)):
                if isinstance(first, nn.Conv2d):
                    module._modules[a] = fuse_conv_bn_eval(first, second)
                    module._modules[b] = nn.Identity()
                elif isinstance(first, nn.Linear):
                    module._modules[a] = fuse_linear_bn_eval(first, second)
                    module._modules[b] = nn.Identity()
    return model


def build_reference(name: str) -> tuple[nn.Module, tuple[int, ...]]:
    """(eval-mode model with random weights and folded BatchNorm, input shape with batch 1)."""
    if name not in REFERENCE:
        from edgekd.errors import UsageError

        raise UsageError(f"unknown reference model {name!r}; valid: {', '.join(REFERENCE)}")
    builder, shape = REFERENCE[name]
    torch.manual_seed(0)
    model = builder().eval()
    randomize_batchnorm(model)
    return fold_batchnorm(model), (1, *shape)


def randomize_batchnorm(model: nn.Module) -> None:
    """Give BatchNorm layers random statistics, as trained ones have. With the default
    init every folded bias is zero and exporters deduplicate them into one shared tensor."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                assert m.running_mean is not None and m.running_var is not None
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
