"""Fuzz harness for every file edgekd reads: mutate a valid file, feed it to the real CLI.

``FUZZ_TARGETS`` is the one place a file format is added: ``{kind: FuzzTarget(make, argv,
check)}`` where ``make(dir)`` writes a small valid file (and any companion files) into ``dir``,
``argv(path)`` is the ``edgekd`` command that reads the file at ``path``, and ``check(path,
stdout)`` says what is wrong with the output of a run that exited 0 (``None`` when right).

A case passes when the command ends in exit 2 with exactly one ``error:`` line that names the
file, or in exit 0 with a right output (the mutation left the file valid). A traceback, exit 1
(or any other code), a second error line, a timeout or an exception escaping the CLI fail it.
The test suite drives ``mutate`` with Hypothesis (``tests/fuzz/test_fuzz_loaders.py``);
``benchmarks/fuzz_loaders.py`` drives it with a seeded generator and a larger budget.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# A mutation is (op, position, value); position and value are reduced modulo what fits.
Mutation = tuple[int, int, int]
OPS = ("flip", "set", "truncate", "delete", "insert", "token", "duplicate")
# Byte strings that often sit on a parser's edge: sizes, NaN/inf, separators, quotes, NUL.
TOKENS = (
    b"\x00", b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x80\x00\x00\x00", b"\x00\x00\x80\x7f",
    b"\x00\x00\xc0\x7f", b"nan", b"inf", b"-1", b"1e999", b"", b",", b"\n", b'"', b"\r\n",
    b"99999999999999999999", b"\xef\xbb\xbf", b"PK\x03\x04",
)  # fmt: skip


def mutate(data: bytes, ops: Sequence[Mutation]) -> bytes:
    """Apply byte-level mutations in order (each op's position is taken modulo the length)."""
    buf = bytearray(data)
    for op, pos, value in ops:
        name = OPS[op % len(OPS)]
        n = len(buf)
        i = pos % (n + 1)
        if name == "truncate":
            del buf[i:]
        elif name == "insert":
            buf[i:i] = bytes([value % 256]) * (1 + value % 7)
        elif name == "token":
            tok = TOKENS[value % len(TOKENS)]
            buf[i : i + len(tok) * (value // len(TOKENS) % 2)] = tok  # insert or overwrite
        elif n == 0:
            continue
        elif name == "flip":
            buf[i % n] ^= 1 << (value % 8)
        elif name == "set":
            buf[i % n] = value % 256
        elif name == "delete":
            del buf[i % n : i % n + 1 + value % 16]
        elif name == "duplicate":
            j = i % n
            buf[j:j] = buf[j : j + 1 + value % 64]
    return bytes(buf)


def truncation_points(n: int) -> list[int]:
    """Where a truncated copy of an ``n``-byte file is cut: headers, middle, one byte short."""
    return sorted({p for p in (0, 1, 4, 8, 16, 64, n // 4, n // 2, 3 * n // 4, n - 1) if p < n})


@dataclass(frozen=True)
class FuzzTarget:
    make: Callable[[Path], Path]
    argv: Callable[[Path], list[str]]
    check: Callable[[Path, str], str | None]
    slow: bool = False  # a valid case trains a model: give it a smaller budget


@dataclass
class Outcome:
    exit_code: int
    message: str  # the error line, or the last line printed
    failure: str | None  # None when the case passed


# ---- valid files ------------------------------------------------------------------------


def onnx_model(path: Path, classes: int = 3) -> Path:
    """A small Conv -> Relu -> GlobalAveragePool -> Flatten -> Gemm classifier, dynamic batch."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array((rng.normal(size=(4, 1, 3, 3)) * 0.3).astype(np.float32), "w")
    b = numpy_helper.from_array(np.zeros(4, np.float32), "b")
    fw = numpy_helper.from_array((rng.normal(size=(classes, 4)) * 0.5).astype(np.float32), "fw")
    fb = numpy_helper.from_array(np.zeros(classes, np.float32), "fb")
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["logits"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "fuzz",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])],
        [w, b, fw, fb],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def tflite_model(path: Path) -> Path:
    """A CONV_2D (ReLU) -> RESHAPE -> FULLY_CONNECTED float model with a dynamic batch axis,
    packed with the schema bindings that ship with ai-edge-litert (schema.fbs object API)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    rng = np.random.default_rng(0)

    def buffer(arr: np.ndarray | None = None) -> object:
        b = s.BufferT()
        if arr is not None:
            b.data = list(np.ascontiguousarray(arr).tobytes())
        return b

    def tensor(shape: list[int], buf: int, name: str, batch: bool = False) -> object:
        t = s.TensorT()
        t.shape, t.type, t.buffer, t.name = shape, s.TensorType.FLOAT32, buf, name.encode()
        if batch:
            t.shapeSignature = [-1, *shape[1:]]
        return t

    m = s.ModelT()
    m.version, m.description = 3, b"edgekd fuzz seed"
    m.operatorCodes = []
    for op in (
        s.BuiltinOperator.CONV_2D,
        s.BuiltinOperator.RESHAPE,
        s.BuiltinOperator.FULLY_CONNECTED,
    ):
        code = s.OperatorCodeT()
        code.builtinCode, code.deprecatedBuiltinCode, code.version = op, op, 1
        m.operatorCodes.append(code)
    m.buffers = [
        buffer(), buffer(), buffer((rng.normal(size=(4, 3, 3, 1)) * 0.3).astype(np.float32)),
        buffer(np.zeros(4, np.float32)), buffer(), buffer(np.array([-1, 144], np.int32)),
        buffer(), buffer((rng.normal(size=(3, 144)) * 0.1).astype(np.float32)),
        buffer(np.zeros(3, np.float32)), buffer(),
    ]  # fmt: skip
    g = s.SubGraphT()
    g.name = b"main"
    g.tensors = [
        tensor([1, 8, 8, 1], 1, "input", True), tensor([4, 3, 3, 1], 2, "conv_w"),
        tensor([4], 3, "conv_b"), tensor([1, 6, 6, 4], 4, "conv_out", True),
        tensor([2], 5, "shape"), tensor([1, 144], 6, "flat", True),
        tensor([3, 144], 7, "fc_w"), tensor([3], 8, "fc_b"), tensor([1, 3], 9, "logits", True),
    ]  # fmt: skip
    g.tensors[4].type = s.TensorType.INT32
    conv_opts = s.Conv2DOptionsT()
    conv_opts.padding, conv_opts.strideW, conv_opts.strideH = s.Padding.VALID, 1, 1
    conv_opts.dilationWFactor = conv_opts.dilationHFactor = 1
    conv_opts.fusedActivationFunction = s.ActivationFunctionType.RELU
    ops = []
    for k, (ins, outs) in enumerate([([0, 1, 2], [3]), ([3, 4], [5]), ([5, 6, 7], [8])]):
        op = s.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = k, ins, outs
        ops.append(op)
    ops[0].builtinOptionsType, ops[0].builtinOptions = s.BuiltinOptions.Conv2DOptions, conv_opts
    ops[2].builtinOptionsType = s.BuiltinOptions.FullyConnectedOptions
    ops[2].builtinOptions = s.FullyConnectedOptionsT()
    g.operators, g.inputs, g.outputs = ops, [0], [8]
    m.subgraphs = [g]
    builder = flatbuffers.Builder(1024)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    path.write_bytes(bytes(builder.Output()))
    return path


ZOO = ["--arch", "cnn", "--width", "2", "--depth", "1"]


def zoo_state_dict(path: Path) -> Path:
    """A cnn width 2 depth 1 state dict for 10 classes of (1, 8, 8): safetensors or torch.save."""
    import torch

    from edgekd.models.zoo import build_model

    torch.manual_seed(0)
    state = build_model("cnn", (1, 8, 8), 10, 2, 1).state_dict()
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    return path


def tabular(n: int = 90, features: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Three separable classes of ``n // 3`` samples each (seeded)."""
    rng = np.random.default_rng(0)
    y = np.arange(n) % 3
    x = rng.normal(size=(n, features)).astype(np.float32) + y[:, None].astype(np.float32)
    return np.round(x, 3), y


def npz_data(path: Path) -> Path:
    x, y = tabular()
    np.savez(path, x=x, y=y)
    return path


def csv_data(path: Path) -> Path:
    x, y = tabular()
    names = ["setosa", "versicolor", "virginica"]
    header = ",".join(f"f{i}" for i in range(x.shape[1])) + ",label\n"
    rows = (",".join(f"{v:g}" for v in row) + f",{names[c]}\n" for row, c in zip(x, y, strict=True))
    path.write_text(header + "".join(rows))
    return path


def calib_npz(path: Path) -> Path:
    """Calibration inputs for ``onnx_model`` (written next to it as model.onnx)."""
    onnx_model(path.parent / "model.onnx")
    x = np.random.default_rng(1).normal(size=(16, 1, 8, 8)).astype(np.float32)
    np.savez(path, x=x)
    return path


def with_calib(path: Path) -> Path:
    onnx_model(path)
    x = np.random.default_rng(1).normal(size=(16, 1, 8, 8)).astype(np.float32)
    np.savez(path.parent / "calib.npz", x=x)
    return path


def chat_jsonl(path: Path) -> Path:
    """Chat fine-tuning records (OpenAI's format) with metadata, one JSON object a line."""
    rows = [
        {
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": f"question {i}?"},
                {"role": "assistant", "content": f"answer {i}."},
            ],
            "metadata": {"topic": "math" if i % 2 else "art"},
        }
        for i in range(12)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def dataset_jsonl(path: Path) -> Path:
    """An edgekd completions dataset (``completions import`` of ``chat_jsonl``)."""
    from edgekd.completions.api import import_completions

    import_completions([chat_jsonl(path.parent / "chat.jsonl")], path)
    return path


# ---- commands and output checks ---------------------------------------------------------

# compress settings that make a run on 90 tabular samples take seconds
FAST_COMPRESS = [
    "teacher.arch=mlp", "teacher.width=4", "teacher.depth=1", "teacher.fit.epochs=1",
    "student.arch=mlp", "student.width=2", "student.depth=1", "distill.epochs=1",
    "distill.baseline=false", "prune.method=none", "quantize.method=none",
    "export.formats=[onnx]", "targets.measure=false", "targets.names=[rpi-4]",
    "report.formats=[json]", "data.calib_samples=16",
]  # fmt: skip


def compress_argv(path: Path, sets: list[str]) -> list[str]:
    argv = ["compress", "--quiet", "--out", str(path.parent / "out")]
    for s in [*FAST_COMPRESS, *sets]:
        argv += ["--set", s]
    return argv


def profile_check(fmt: str) -> Callable[[Path, str], str | None]:
    def check(path: Path, stdout: str) -> str | None:
        try:
            report = json.loads(stdout[stdout.index("{") :])
        except ValueError:
            return "exit 0 but no profile JSON on stdout"
        m = report.get("model", {})
        if m.get("format") != fmt:
            return f"exit 0 but model.format is {m.get('format')!r}"
        bad = [k for k in ("params", "macs", "weight_bytes", "peak_activation_bytes") if m[k] < 0]
        if bad or not report.get("targets"):
            return f"exit 0 with negative {bad} or no targets"
        return None

    return check


def file_written(name: str, head: bytes = b"") -> Callable[[Path, str], str | None]:
    def check(path: Path, stdout: str) -> str | None:
        out = path.parent / "out" / name
        if not out.is_file() or not out.read_bytes().startswith(head):
            return f"exit 0 but {out.name} was not written as expected"
        return None

    return check


def onnx_runs(name: str) -> Callable[[Path, str], str | None]:
    """Exit 0 from quantize: the written model loads in onnxruntime and gives finite logits."""

    def check(path: Path, stdout: str) -> str | None:
        from edgekd.runtime.onnx import OnnxRunner

        out = path.parent / "out" / name
        try:
            y = OnnxRunner(out).predict(np.zeros((2, 1, 8, 8), np.float32))
        except Exception as exc:
            return f"exit 0 but the written {out.name} does not run: {exc}"
        return None if np.all(np.isfinite(y)) else f"exit 0 but {out.name} gives NaN/inf"

    return check


def stats_json(path: Path, stdout: str) -> str | None:
    try:
        stats = json.loads(stdout[stdout.index("{") :])
    except ValueError:
        return "exit 0 but no stats JSON on stdout"
    return None if stats.get("records", -1) >= 0 else "exit 0 but no record count"


def run_dir_report(path: Path, stdout: str) -> str | None:
    reports = list((path.parent / "out").glob("*/report.json"))
    return None if reports else "exit 0 but no report.json in the run directory"


FUZZ_TARGETS: dict[str, FuzzTarget] = {
    "onnx: profile": FuzzTarget(
        lambda d: onnx_model(d / "m.onnx"),
        lambda p: ["profile", str(p), "--no-measure", "--json"],
        profile_check("onnx"),
    ),
    "onnx: quantize": FuzzTarget(
        lambda d: with_calib(d / "m.onnx"),
        lambda p: [
            "quantize",
            str(p),
            "--calib",
            str(p.parent / "calib.npz"),
            "--calib-samples",
            "16",
            "--out",
            str(p.parent / "out" / "q.onnx"),
        ],  # fmt: skip
        onnx_runs("q.onnx"),
    ),
    "tflite: profile": FuzzTarget(
        lambda d: tflite_model(d / "m.tflite"),
        lambda p: ["profile", str(p), "--no-measure", "--json"],
        profile_check("tflite"),
    ),
    "safetensors: export": FuzzTarget(
        lambda d: zoo_state_dict(d / "m.safetensors"),
        lambda p: [
            "export",
            str(p),
            "--format",
            "onnx",
            *ZOO,
            "--input-shape",
            "1,8,8",
            "--num-classes",
            "10",
            "--out",
            str(p.parent / "out" / "m.onnx"),
        ],  # fmt: skip
        file_written("m.onnx", b"\x08"),
    ),
    "pt state dict: export": FuzzTarget(
        lambda d: zoo_state_dict(d / "m.pt"),
        lambda p: [
            "export",
            str(p),
            "--format",
            "onnx",
            *ZOO,
            "--input-shape",
            "1,8,8",
            "--num-classes",
            "10",
            "--out",
            str(p.parent / "out" / "m.onnx"),
        ],  # fmt: skip
        file_written("m.onnx", b"\x08"),
    ),
    "safetensors: prune": FuzzTarget(
        lambda d: zoo_state_dict(d / "m.safetensors"),
        lambda p: [
            "prune",
            str(p),
            *ZOO,
            "--method",
            "unstructured",
            "--steps",
            "1",
            "--epochs",
            "1",
            "--out",
            str(p.parent / "out" / "p.safetensors"),
        ],  # fmt: skip
        file_written("p.safetensors"),
        slow=True,
    ),
    "npz calib: quantize": FuzzTarget(
        lambda d: calib_npz(d / "calib.npz"),
        lambda p: [
            "quantize",
            str(p.parent / "model.onnx"),
            "--calib",
            str(p),
            "--calib-samples",
            "16",
            "--out",
            str(p.parent / "out" / "q.onnx"),
        ],  # fmt: skip
        onnx_runs("q.onnx"),
    ),
    "npz data: compress": FuzzTarget(
        lambda d: npz_data(d / "d.npz"),
        lambda p: compress_argv(p, ["data.source=npz", f"data.path={p}"]),
        run_dir_report,
        slow=True,
    ),
    "csv data: compress": FuzzTarget(
        lambda d: csv_data(d / "d.csv"),
        lambda p: compress_argv(p, ["data.source=csv", f"data.path={p}"]),
        run_dir_report,
        slow=True,
    ),
    "jsonl chat: completions import": FuzzTarget(
        lambda d: chat_jsonl(d / "ft.jsonl"),
        lambda p: ["completions", "import", str(p), "--out", str(p.parent / "out" / "d.jsonl")],
        file_written("d.jsonl"),
    ),
    "jsonl dataset: completions stats": FuzzTarget(
        lambda d: dataset_jsonl(d / "d.jsonl"),
        lambda p: ["completions", "stats", str(p), "--json"],
        stats_json,
    ),
    "onnx teacher: compress": FuzzTarget(
        lambda d: onnx_model(d / "t.onnx", classes=10),
        lambda p: compress_argv(
            p,
            [
                "data.source=digits",
                "teacher.train=false",
                f"teacher.path={p}",
                "teacher.input=normalized",
                "student.arch=cnn",
            ],
        ),  # fmt: skip
        run_dir_report,
        slow=True,
    ),
}


# ---- running a case ---------------------------------------------------------------------


class CaseTimeout(BaseException):
    """Raised by the alarm; a BaseException so the CLI's ``except Exception`` cannot eat it."""


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    def fire(signum: int, frame: object) -> None:
        raise CaseTimeout

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@contextlib.contextmanager
def _quiet_fds() -> Iterator[None]:
    """Native libraries (LiteRT, onnxruntime) print to fd 1/2 directly: send that away."""
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


def seed_dir(kind: str, root: Path) -> Path:
    """A directory holding the valid file of ``kind`` (and its companions); returns the file."""
    d = root / kind.replace(":", "").replace(" ", "-")
    d.mkdir(parents=True, exist_ok=True)
    return FUZZ_TARGETS[kind].make(d)


def run_case(kind: str, seed: Path, data: bytes, timeout_s: float = 120.0) -> Outcome:
    """Write ``data`` in place of ``seed`` (same name), run the kind's command, judge it."""
    from edgekd.cli import main

    target = FUZZ_TARGETS[kind]
    case = seed.with_name("case" + seed.suffix)
    shutil.rmtree(seed.parent / "out", ignore_errors=True)
    (seed.parent / "out").mkdir()
    case.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    try:
        with _quiet_fds(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            with _alarm(timeout_s):
                code = main(target.argv(case))
    except CaseTimeout:
        return Outcome(-1, "", f"no answer within {timeout_s:g} s")
    except BaseException as exc:  # noqa: BLE001 - anything escaping main() is a defect
        return Outcome(-2, repr(exc), f"{type(exc).__name__} escaped the CLI: {exc}")
    return judge(code, out.getvalue(), err.getvalue(), case, target)


def judge(code: int, stdout: str, stderr: str, case: Path, target: FuzzTarget) -> Outcome:
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    last = errors[-1] if errors else (stdout.strip().splitlines() or [""])[-1]
    if "Traceback" in stdout + stderr:
        return Outcome(code, last, "printed a traceback")
    if code == 2:
        if len(errors) != 1:
            return Outcome(code, last, f"exit 2 with {len(errors)} error lines")
        if case.name not in errors[0]:
            return Outcome(code, last, "exit 2 but the message does not name the file")
        return Outcome(code, last, None)
    if code == 0:
        return Outcome(code, last, target.check(case, stdout))
    return Outcome(code, last, f"exit {code}: {last[:300]}")


def fresh_root() -> Path:
    return Path(tempfile.mkdtemp(prefix="edgekd-fuzz-"))
