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
"""

from __future__ import annotations

from typing import Any

ELEMENTWISE = ("add", "add_", "mul", "mul_")  # .Tensor overloads; ``out += x`` is add_
ACTIVATIONS = ("hardswish.default", "hardsigmoid.default")


def edge_quantizer() -> Any:
    """A ``PT2EQuantizer`` with the symmetric per-channel global config and the extra ops."""
    from litert_torch.quantize import pt2e_quantizer

    class EdgeQuantizer(pt2e_quantizer.PT2EQuantizer):  # type: ignore[misc]
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
