"""The PT2E quantizer for full-int8 TFLite: litert-torch's symmetric per-channel config, plus
the elementwise ops its annotators miss under ``torch.export``.

litert-torch's ``PT2EQuantizer`` finds ``add`` and ``mul`` through ``get_source_partitions``,
which reads ``source_fn_stack`` metadata; ``torch.export.export`` (non-strict, the default)
records ``torch_fn`` instead, so residual additions (ResNet, MobileNetV2) and the
squeeze-excite multiplications (MobileNetV3) stay float: each becomes
``DEQUANTIZE -> ADD/MUL (float) -> QUANTIZE`` in the file (14 DEQUANTIZE and 10 QUANTIZE ops
inside a MobileNetV2 measured here), which XNNPACK runs as float operators between int8
subgraphs. ``EdgeQuantizer`` annotates every still-unannotated ``aten.add``/``aten.mul``
(``Tensor`` overloads, in place too: ResNet's ``out += identity``) between two tensors, and
``aten.hardswish`` / ``aten.hardsigmoid``, the way litert-torch annotates the ops it does
find (input and output activation specs of the global config), so they lower to int8
``ADD``/``MUL``/``HARD_SWISH`` kernels (TFLite int8 quantization spec,
https://ai.google.dev/edge/litert/models/quantization_spec).

Hard-swish and hard-sigmoid (MobileNetV3, Howard et al. 2019, eq. 2:
``h-swish(x) = x * ReLU6(x + 3) / 6``) are rewritten into that very formula before annotation
(``decompose_hard_activations``). Annotated as themselves they lower to an int8
``HARD_SWISH`` kernel that XNNPACK does not take (measured here: the delegate leaves all 19
of a MobileNetV3-small to TFLite's own kernels, which splits its graph into pieces, and the
int8 file ran at 0.48x of fp32), and hard-sigmoid to a float ``ADD``/``MUL`` between
dequantize/quantize pairs; as int8 ``ADD``/``RELU6``/``MUL`` every op stays in XNNPACK's
int8 subgraph (1.3-1.6x the speed of fp32 on the same model and host, ``int8_pays.py``).
"""

from __future__ import annotations

from typing import Any

ELEMENTWISE = ("add", "add_", "mul", "mul_")  # .Tensor overloads; ``out += x`` is add_
ACTIVATIONS = ("hardswish.default", "hardsigmoid.default")


def edge_quantizer() -> Any:
    """A ``PT2EQuantizer`` with the symmetric per-channel global config and the extra ops."""
    from litert_torch.quantize import pt2e_quantizer

    class EdgeQuantizer(pt2e_quantizer.PT2EQuantizer):  # type: ignore[misc]
        def transform_for_annotation(self, model: Any) -> Any:
            model = super().transform_for_annotation(model)
            decompose_hard_activations(model)
            return model

        def annotate(self, model: Any) -> Any:
            model = super().annotate(model)
            annotate_missed(model, self.global_config)
            return model

    return EdgeQuantizer().set_global(
        pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True)
    )


def annotate_missed(model: Any, config: Any) -> int:
    """Annotate the elementwise ops the source-partition annotators missed; returns how many."""
    import torch
    from litert_torch.quantize import pt2e_quantizer_utils as utils
    from torchao.quantization.pt2e.quantizer import QuantizationAnnotation

    if config is None or config.input_activation is None:
        return 0
    aten = torch.ops.aten
    binary = {getattr(aten, n).Tensor for n in ELEMENTWISE}
    unary = {getattr(aten, n.split(".")[0]).default for n in ACTIVATIONS}
    act_in, act_out = utils.get_input_act_qspec(config), utils.get_output_act_qspec(config)
    count = 0
    for node in model.graph.nodes:
        if node.op != "call_function" or "quantization_annotation" in node.meta:
            continue
        if node.target in binary:
            args = [a for a in node.args[:2] if isinstance(a, torch.fx.Node)]
            if len(args) != 2 or not all(_is_float_tensor(a) for a in args):
                continue
        elif node.target in unary:
            args = [node.args[0]]
        else:
            continue
        node.meta["quantization_annotation"] = QuantizationAnnotation(
            input_qspec_map=dict.fromkeys(args, act_in), output_qspec=act_out, _annotated=True
        )
        count += 1
    return count


def _is_float_tensor(node: Any) -> bool:
    import torch

    val = node.meta.get("val")
    return isinstance(val, torch.Tensor) and val.dtype.is_floating_point


def decompose_hard_activations(model: Any) -> int:
    """Rewrite ``aten.hardswish`` / ``aten.hardsigmoid`` in the exported graph ``model`` (a
    ``GraphModule``) as ``ReLU6(x + 3) * (1/6)`` (times ``x`` for hard-swish), with the
    constants as buffers so the elementwise ops are tensor-tensor and get annotated; returns
    how many were rewritten. Numerically the same function (Howard et al. 2019, eq. 2)."""
    import torch

    aten = torch.ops.aten
    swish = {aten.hardswish.default, aten.hardswish_.default}
    sigmoid = {aten.hardsigmoid.default, aten.hardsigmoid_.default}
    nodes = [
        n for n in model.graph.nodes if n.op == "call_function" and n.target in swish | sigmoid
    ]
    if not nodes:
        return 0
    graph = model.graph
    for node in nodes:
        x = node.args[0]
        val = node.meta.get("val")
        rank = val.dim() if isinstance(val, torch.Tensor) else 0
        with graph.inserting_before(node):
            # constants of the input's rank ([1, 1, 1, 1] for NCHW): litert-torch's layout
            # pass then keeps the ops in NHWC instead of transposing around each one
            three, sixth = (_constant(model, graph, v, rank) for v in (3.0, 1.0 / 6.0))
            shifted = graph.call_function(aten.add.Tensor, (x, three))
            clipped = graph.call_function(aten.relu6.default, (shifted,))
            out = graph.call_function(aten.mul.Tensor, (clipped, sixth))
            for n in (shifted, clipped, out):
                n.meta["val"] = val
            if node.target in swish:
                out = graph.call_function(aten.mul.Tensor, (x, out))
                out.meta["val"] = val
        node.replace_all_uses_with(out)
        graph.erase_node(node)
    graph.lint()
    model.recompile()
    return len(nodes)


def _constant(model: Any, graph: Any, value: float, rank: int) -> Any:
    """A ``get_attr`` node for a float32 buffer holding ``value`` in shape ``[1] * rank``."""
    import torch

    tensor = torch.full([1] * rank, value, dtype=torch.float32)
    attr = f"_edgekd_const_{rank}d_{value:.6g}".replace(".", "_").replace("-", "m")
    if not hasattr(model, attr):
        model.register_buffer(attr, tensor)
    node = graph.get_attr(attr)
    node.meta["val"] = tensor
    return node
