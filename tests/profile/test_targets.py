from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edgekd.errors import TargetError
from edgekd.profile.config import TargetsConfig
from edgekd.profile.targets import (
    list_targets,
    load_runtimes,
    load_target,
    shipped_target_ids,
    targets_dir,
)

REQUIRED_IDS = {
    "pixel-3", "pixel-4", "rpi-4", "rpi-5", "jetson-nano", "nucleo-l4r5zi", "nucleo-h7a3zi",
    "nucleo-u575zi", "stm32f746-disco", "nrf5340-dk", "nucleo-g0b1re", "nano-33-ble", "esp32-s3",
}  # fmt: skip


def test_every_shipped_target_validates_and_cites_sources() -> None:
    targets = list_targets()
    assert REQUIRED_IDS <= {t.id for t in targets}
    for t in targets:
        assert t.id == Path(targets_dir() / f"{t.id}.yaml").stem
        assert t.runtimes.default in t.runtimes.supported
        for key in ("cores", "macs_per_cycle", "memory", "bandwidth", "power"):
            assert t.sources[key], (t.id, key)
        if t.kind == "mcu":
            assert t.memory.weights_in_flash and t.budgets.ram_bytes == t.memory.ram_bytes


def test_runtimes_have_few_fitted_factors() -> None:
    runtimes = load_runtimes()
    assert set(runtimes) == {"litert", "onnxruntime", "tflm", "tflm-cmsis-nn"}
    for rt in runtimes.values():
        assert len(rt.fitted) <= 3


def test_unknown_target_lists_valid_ids() -> None:
    with pytest.raises(TargetError) as e:
        load_target("pixel-99")
    assert e.value.exit_code == 2
    assert "pixel-99" in str(e.value) and "pixel-4" in str(e.value) and "esp32-s3" in str(e.value)


def _write(tmp_path: Path, mutate) -> Path:  # noqa: ANN001
    data = yaml.safe_load((targets_dir() / "rpi-4.yaml").read_text())
    mutate(data)
    p = tmp_path / "mine.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_user_target_file_by_path(tmp_path: Path) -> None:
    p = _write(tmp_path, lambda d: d.update(id="my-board"))
    assert load_target(p).id == "my-board"
    assert load_target(str(p)).id == "my-board"


def test_target_file_missing_field_names_path(tmp_path: Path) -> None:
    p = _write(tmp_path, lambda d: d["memory"].pop("bandwidth_gbps"))
    with pytest.raises(TargetError, match=r"memory\.bandwidth_gbps: Field required"):
        load_target(p)


def test_target_file_negative_field_names_path(tmp_path: Path) -> None:
    p = _write(tmp_path, lambda d: d["cores"][0].update(freq_mhz=-5))
    with pytest.raises(TargetError, match=r"cores\.0\.freq_mhz: Input should be greater than 0"):
        load_target(p)


def test_target_file_unknown_field_and_missing_source(tmp_path: Path) -> None:
    p = _write(tmp_path, lambda d: d.update(colour="red"))
    with pytest.raises(TargetError, match="colour: Extra inputs are not permitted"):
        load_target(p)
    p = _write(tmp_path, lambda d: d["sources"].pop("power"))
    with pytest.raises(TargetError, match="sources must cite power"):
        load_target(p)


def test_shipped_ids_sorted_and_exclude_runtimes() -> None:
    ids = shipped_target_ids()
    assert ids == sorted(ids) and "runtimes" not in ids


def test_targets_config_forbids_extra() -> None:
    cfg = TargetsConfig(names=["pixel-4"], budgets={"pixel-4": {"latency_ms": 20}})
    assert cfg.strict is False and cfg.measure is True
    assert TargetsConfig(names=[]).names == []  # empty: profile() uses its default targets
    with pytest.raises(ValueError, match="Extra inputs"):
        TargetsConfig(names=["pixel-4"], colour="red")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match=r"budgets\n.*unknown budget key\(s\) latency for pixel-4"):
        TargetsConfig(budgets={"pixel-4": {"latency": 20}})
    with pytest.raises(ValueError, match=r"runtime\n.*unknown runtime 'tvm'"):
        TargetsConfig(runtime="tvm")
