"""The C array for TFLite Micro compiles and holds exactly the .tflite bytes."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import torch

from edgekd.export.c_array import write_c_array
from edgekd.runtime.tflite_memory import memory_timeline

GXX = shutil.which("g++")

MAIN = r"""
#include <cstdio>
#include "model_data.h"
int main(int argc, char** argv) {
  std::FILE* f = std::fopen(argv[1], "wb");
  std::fwrite(g_model_data, 1, g_model_data_len, f);
  std::fclose(f);
  bool aligned = reinterpret_cast<unsigned long>(g_model_data) % 16 == 0;
  return aligned && g_model_data_arena_size > 0 ? 0 : 3;
}
"""


@pytest.mark.skipif(GXX is None, reason="needs g++")
def test_c_array_compiles_and_matches_bytes(exported, tmp_path):
    tflite = exported("int8", int8_io=True)["path"]
    cc, h = write_c_array(tflite, tmp_path)
    assert (cc.name, h.name) == ("model_data.cc", "model_data.h")
    text = cc.read_text()
    assert "alignas(16) const unsigned char g_model_data[]" in text
    assert "const unsigned int g_model_data_len" in text
    assert "#ifndef EDGEKD_MODEL_DATA_H_" in h.read_text()
    subprocess.run(
        [GXX, "-std=c++11", "-Wall", "-Werror", "-c", str(cc), "-o", str(tmp_path / "m.o")],
        check=True,
    )
    (tmp_path / "main.cc").write_text(MAIN)
    exe = tmp_path / "dump"
    subprocess.run(
        [
            GXX,
            "-std=c++11",
            "-I",
            str(tmp_path),
            str(tmp_path / "main.cc"),
            str(cc),
            "-o",
            str(exe),
        ],
        check=True,
    )
    subprocess.run([str(exe), str(tmp_path / "out.bin")], check=True)
    assert (tmp_path / "out.bin").read_bytes() == open(tflite, "rb").read()


def test_live_tensors_at_peak(tmp_path):
    from edgekd.export.tflite_export import export_tflite

    # one FULLY_CONNECTED: float input (1, 8) = 32 B and output (1, 4) = 16 B live together
    with torch.random.fork_rng():  # leave the session's RNG as the other tests expect it
        model = torch.nn.Linear(8, 4)
        path = tmp_path / "fc.tflite"
        export_tflite(model, np.zeros((1, 8), np.float32), path)
    tl = memory_timeline(path)
    assert tl["peak_bytes"] == 48
    assert tl["peak_op"]["op_type"] == "FULLY_CONNECTED"
    assert sorted(r["bytes"] for r in tl["live"]) == [16, 32]
    assert {r["producer"] for r in tl["live"]} == {"graph input", "FULLY_CONNECTED#0"}
