"""``edgekd profile`` on an exported language model: prefill and decode figures, host
tokens/s beside the prediction, LM budgets and their verdicts."""

from __future__ import annotations

import json

from tests.conftest import run_cli


def _json(text: str) -> dict:
    return json.loads(text[text.index("{") :])


def test_profile_json_has_lm_figures_and_host_speed(lm_export):
    out, _ = lm_export
    code, text = run_cli(
        [
            "profile",
            str(out / "model.dynamic_int8.tflite"),
            "-t",
            "pixel-4",
            "-t",
            "rpi-5",
            "-t",
            "nano-33-ble",
            "--json",
        ]
    )
    assert code == 0, text
    r = _json(text)
    lm, shape = r["model"]["lm"], r["model"]["lm"]["shape"]
    assert lm["context"] == 64  # the file's cache length
    per_token = 2 * shape["layers"] * shape["kv_heads"] * shape["head_dim"] * 4
    assert lm["kv_cache_bytes"] == per_token * 64
    assert 0 < r["model"]["weight_bytes"] < r["model"]["file_bytes"]
    assert r["host"]["tokens_per_s"] > 0 and r["host"]["ttft_ms"] > 0
    rows = {t["name"]: t for t in r["targets"]}
    for name in ("pixel-4", "rpi-5"):
        p = rows[name]["predicted"]
        assert p["tokens_per_s_low"] < p["tokens_per_s"] < p["tokens_per_s_high"]
        assert p["kv_cache_bytes"] == lm["kv_cache_bytes"] and p["ttft_ms"] > 0
        assert rows[name]["verdict"] in ("pass", "fail")
    assert rows["pixel-4"]["predicted"]["tokens_per_s"] > rows["rpi-5"]["predicted"]["tokens_per_s"]
    assert rows["nano-33-ble"]["verdict"] == "unsupported"


def test_budgets_turn_into_verdicts_and_exit_3(lm_export):
    out, _ = lm_export
    model = str(out / "model.onnx")
    code, text = run_cli(
        [
            "profile",
            model,
            "-t",
            "pixel-4",
            "--no-measure",
            "--json",
            "--context",
            "32",
            "--prompt-tokens",
            "8",
        ]
    )
    assert code == 0, text
    p = _json(text)["targets"][0]["predicted"]
    fast = p["tokens_per_s"] * 2
    code, text = run_cli(
        [
            "profile",
            model,
            "-t",
            "pixel-4",
            "--no-measure",
            "--context",
            "32",
            "--budget",
            f"pixel-4.tokens_per_s={fast}",
            "--fail-on-budget",
        ]
    )
    assert code == 3, text
    assert "tokens_per_s" in text and "budget violated" in text and "pixel-4" in text
    slow = p["tokens_per_s"] / 2
    code, text = run_cli(
        [
            "profile",
            model,
            "-t",
            "pixel-4",
            "--no-measure",
            "--context",
            "32",
            "--budget",
            f"pixel-4.tokens_per_s={slow}",
            "--budget",
            f"pixel-4.ttft_ms={p['ttft_ms'] * 2}",
            "--fail-on-budget",
        ]
    )
    assert code == 0, text
    assert "pass" in text


def test_bad_lm_profile_inputs_exit_2(lm_export, tmp_path):
    out, _ = lm_export
    model = str(out / "model.fp32.tflite")
    code, text = run_cli(["profile", model, "-t", "pixel-4", "--no-measure", "--context", "1000"])
    assert code == 2 and "--context 1000: above the model's maximum context of 128" in text
    code, text = run_cli(["profile", model, "-t", "pixel-4", "--no-measure", "--context", "100"])
    assert code == 2 and "above this file's KV cache of 64 tokens" in text
    code, text = run_cli(
        [
            "profile",
            model,
            "-t",
            "pixel-4",
            "--no-measure",
            "--budget",
            "pixel-4.kv_cache_bytes=100",
        ]
    )
    assert code == 2 and "cannot hold one token" in text and "bytes per token" in text
    code, text = run_cli(
        ["profile", model, "-t", "pixel-4", "--no-measure", "--budget", "pixel-4.latency_ms=5"]
    )
    assert code == 2 and "unknown budget key 'latency_ms' for a language model" in text
    assert "Traceback" not in text
