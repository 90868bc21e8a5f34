"""Which ops each runtime has kernels for.

A graph is checked as the runtime would receive it after conversion: ONNX op types are
mapped to the TFLite builtin(s) the LiteRT converter emits for them, and TFLite builtins to
ONNX op types. Tables: LiteRT runs every TFLite builtin (schema.fbs ``BuiltinOperator``);
TFLite Micro's list is ``tflite-micro/tensorflow/lite/micro/micro_mutable_op_resolver.h``
(CMSIS-NN ships optimized kernels for a subset and falls back to the same reference kernels
for the rest, so its support set is TFLM's); ONNX Runtime's CPU EP implements the ONNX
default domain (``onnx.defs``) plus the com.microsoft contrib ops listed below.

Tables cannot know custom ops: a graph with ops outside them is loaded on this host by the
runtime that reads its format, with that runtime's default delegates (LiteRT resolves its
builtin custom ops and applies XNNPACK, which runs e.g. MediaPipe's
``Convolution2DTransposeBias``; onnxruntime registers its contrib ops). If the runtime loads
it, every op has a kernel there (``GraphSummary.loaded_by``), and that runtime is never told
it is unsupported; if it refuses, the table's verdict stands.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgekd.profile.graph import GraphSummary

TFLM_OPS = frozenset(
    """
ABS ADD ADD_N ARG_MAX ARG_MIN ASSIGN_VARIABLE AVERAGE_POOL_2D BATCH_MATMUL BATCH_TO_SPACE_ND
BROADCAST_ARGS BROADCAST_TO CALL_ONCE CAST CEIL CONCATENATION CONV_2D COS CUMSUM DEPTH_TO_SPACE
DEPTHWISE_CONV_2D DEQUANTIZE DIV ELU EMBEDDING_LOOKUP EQUAL EXP EXPAND_DIMS FILL FLOOR FLOOR_DIV
FLOOR_MOD FULLY_CONNECTED GATHER GATHER_ND GREATER GREATER_EQUAL HARD_SWISH IF L2_NORMALIZATION
L2_POOL_2D LEAKY_RELU LESS LESS_EQUAL LOG LOGICAL_AND LOGICAL_NOT LOGICAL_OR LOGISTIC LOG_SOFTMAX
MAX_POOL_2D MAXIMUM MEAN MINIMUM MIRROR_PAD MUL NEG NOT_EQUAL PACK PAD PADV2 PRELU QUANTIZE
READ_VARIABLE REDUCE_MAX RELU RELU6 RESHAPE RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR ROUND RSQRT
SELECT_V2 SHAPE SIN SLICE SOFTMAX SPACE_TO_BATCH_ND SPACE_TO_DEPTH SPLIT SPLIT_V SQRT SQUARE
SQUARED_DIFFERENCE SQUEEZE STRIDED_SLICE SUB SUM SVDF TANH TRANSPOSE TRANSPOSE_CONV
UNIDIRECTIONAL_SEQUENCE_LSTM UNPACK VAR_HANDLE WHILE ZEROS_LIKE
""".split()
)

# custom ops LiteRT ships kernels for; any other CUSTOM/FLEX op needs a delegate
LITERT_CUSTOM = frozenset({"CUSTOM:TFLite_Detection_PostProcess", "CUSTOM:MaxPoolingWithArgmax2D"})

# ONNX op type -> TFLite builtins the converter lowers it to (None: folded away)
ONNX_TO_TFLITE: dict[str, tuple[str, ...]] = {
    "Conv": ("CONV_2D",), "ConvInteger": ("CONV_2D",), "QLinearConv": ("CONV_2D",),
    "ConvTranspose": ("TRANSPOSE_CONV",), "Gemm": ("FULLY_CONNECTED",),
    "MatMul": ("BATCH_MATMUL",), "MatMulInteger": ("FULLY_CONNECTED",),
    "QLinearMatMul": ("FULLY_CONNECTED",), "QGemm": ("FULLY_CONNECTED",),
    "Relu": ("RELU",), "Clip": ("RELU6",),
    "Sigmoid": ("LOGISTIC",), "Tanh": ("TANH",), "LeakyRelu": ("LEAKY_RELU",),
    "PRelu": ("PRELU",), "HardSwish": ("HARD_SWISH",), "HardSigmoid": ("HARD_SWISH",),
    "Elu": ("ELU",), "Add": ("ADD",), "Sub": ("SUB",), "Mul": ("MUL",), "Div": ("DIV",),
    "Max": ("MAXIMUM",), "Min": ("MINIMUM",), "Exp": ("EXP",), "Log": ("LOG",),
    "Sqrt": ("SQRT",), "Neg": ("NEG",), "Abs": ("ABS",), "Pow": ("POW",),
    "MaxPool": ("MAX_POOL_2D",), "AveragePool": ("AVERAGE_POOL_2D",),
    "GlobalAveragePool": ("MEAN",), "GlobalMaxPool": ("REDUCE_MAX",),
    "QLinearGlobalAveragePool": ("MEAN",), "QLinearAveragePool": ("AVERAGE_POOL_2D",),
    "ReduceMean": ("MEAN",), "ReduceMax": ("REDUCE_MAX",), "ReduceSum": ("SUM",),
    "Reshape": ("RESHAPE",), "Flatten": ("RESHAPE",), "Squeeze": ("RESHAPE",),
    "Unsqueeze": ("RESHAPE",), "Identity": (), "Transpose": ("TRANSPOSE",),
    "Concat": ("CONCATENATION",), "Split": ("SPLIT",), "Slice": ("STRIDED_SLICE",),
    "Gather": ("GATHER",), "Pad": ("PAD",), "Softmax": ("SOFTMAX",),
    "LogSoftmax": ("LOG_SOFTMAX",), "BatchNormalization": ("MUL", "ADD"),
    "QuantizeLinear": ("QUANTIZE",), "DequantizeLinear": ("DEQUANTIZE",),
    "QLinearAdd": ("ADD",), "QLinearMul": ("MUL",), "QLinearSigmoid": ("LOGISTIC",),
    "QLinearLeakyRelu": ("LEAKY_RELU",), "QLinearConcat": ("CONCATENATION",),
    "Resize": ("RESIZE_BILINEAR",), "Upsample": ("RESIZE_NEAREST_NEIGHBOR",),
    "Cast": ("CAST",), "Shape": ("SHAPE",), "Expand": ("BROADCAST_TO",), "Tile": ("TILE",),
    "DepthToSpace": ("DEPTH_TO_SPACE",), "SpaceToDepth": ("SPACE_TO_DEPTH",),
    "TopK": ("TOPK_V2",), "NonMaxSuppression": ("NON_MAX_SUPPRESSION_V5",),
    "LSTM": ("UNIDIRECTIONAL_SEQUENCE_LSTM",), "Gelu": ("GELU",), "Erf": ("GELU",),
    "LayerNormalization": ("MEAN", "SQUARED_DIFFERENCE", "RSQRT", "MUL", "ADD"),
    "Where": ("SELECT_V2",), "Equal": ("EQUAL",), "Greater": ("GREATER",), "Less": ("LESS",),
    "ArgMax": ("ARG_MAX",), "ArgMin": ("ARG_MIN",), "Floor": ("FLOOR",), "Ceil": ("CEIL",),
    "Constant": (),
}  # fmt: skip

ORT_CONTRIB = frozenset({
    "FusedMatMul", "FusedConv", "QLinearAdd", "QLinearMul", "QLinearSigmoid",
    "QLinearLeakyRelu", "QLinearGlobalAveragePool", "QLinearAveragePool", "QLinearConcat",
    "Gelu", "FastGelu", "BiasGelu", "SkipLayerNormalization", "Attention", "NhwcMaxPool",
    "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "QGemm",
})  # fmt: skip

# TFLite builtin -> ONNX op type (for running a TFLite graph's ops on ONNX Runtime)
TFLITE_TO_ONNX: dict[str, str] = {}
for _onnx, _tfl in ONNX_TO_TFLITE.items():
    for _t in _tfl:
        TFLITE_TO_ONNX.setdefault(_t, _onnx)
TFLITE_TO_ONNX.update(
    {"DEPTHWISE_CONV_2D": "Conv", "RELU6": "Clip", "EXPAND_DIMS": "Unsqueeze", "SQUEEZE": "Squeeze",
     "PADV2": "Pad", "SLICE": "Slice", "SPLIT_V": "Split", "PACK": "Concat", "UNPACK": "Split",
     "FULLY_CONNECTED": "Gemm", "MEAN": "ReduceMean", "SQUARED_DIFFERENCE": "Sub",
     "RSQRT": "Sqrt", "SQUARE": "Mul"}
)  # fmt: skip


def _litert_builtin(op: str) -> bool:
    if op.startswith("CUSTOM:") or op.startswith("FLEX") or op.startswith("OP_"):
        return op in LITERT_CUSTOM
    return True


def _onnx_op_known(op: str) -> bool:
    try:
        import onnx

        return bool(onnx.defs.has(op)) or op in ORT_CONTRIB
    except ImportError:  # no onnx: trust the converter table
        return op in ONNX_TO_TFLITE or op in ORT_CONTRIB


def litert_ops(op_type: str, fmt: str) -> bool:
    """LiteRT: every TFLite builtin and its shipped custom ops; ONNX ops the converter lowers."""
    if fmt == "onnx":
        return op_type in ONNX_TO_TFLITE
    return _litert_builtin(op_type)


def onnxruntime_ops(op_type: str, fmt: str) -> bool:
    """ONNX Runtime's CPU EP: the ONNX default domain plus its contrib ops."""
    if fmt == "onnx":
        return _onnx_op_known(op_type)
    return op_type in TFLITE_TO_ONNX


def tflm_ops(op_type: str, fmt: str) -> bool:
    """TFLite Micro's op resolver (CMSIS-NN falls back to it for what it does not optimize)."""
    if fmt == "onnx":
        lowered = ONNX_TO_TFLITE.get(op_type)
        return lowered is not None and all(t in TFLM_OPS for t in lowered)
    return op_type in TFLM_OPS


# op set -> whether it has a kernel for (op type, graph format); each runtime in
# targets/runtimes.yaml names its op set (``ops:``), so a runtime that runs a known op set
# is one YAML entry, and one that runs a new one adds its table here
OP_SETS: dict[str, Callable[[str, str], bool]] = {
    "litert": litert_ops,
    "onnxruntime": onnxruntime_ops,
    "tflm": tflm_ops,
}


def supports(runtime: str, op_type: str, fmt: str) -> bool:
    """Whether ``runtime`` has a kernel for ``op_type`` of a graph in format ``fmt``."""
    from edgekd.profile.targets import load_runtimes

    return OP_SETS[load_runtimes()[runtime].ops](op_type, fmt)


def unsupported_ops(summary: GraphSummary, runtime: str) -> list[str]:
    """Op types of the graph that ``runtime`` cannot run, in first-use order."""
    if runtime in summary.loaded_by:
        return []
    return [op for op in summary.op_types if not supports(runtime, op, summary.format)]


def host_loads(path: str | Path, summary: GraphSummary) -> list[str]:
    """Runtimes that load the file on this host with their default delegates, checked only
    when the tables leave ops unsupported by the file's own runtime (custom ops)."""
    native = "litert" if summary.format == "tflite" else "onnxruntime"
    if all(supports(native, op, summary.format) for op in summary.op_types):
        return []
    try:
        if native == "litert":
            from edgekd.runtime.litert import load_interpreter

            load_interpreter(path)
        else:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.log_severity_level = 4
            ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception:  # the runtime has no kernel for some op: the table stands
        return []
    return [native]
