"""The published calibration data ships in the repository, each row with its source, and the
core table covers every shipped target and runtime."""

from __future__ import annotations

from pathlib import Path

from edgekd.models.reference import REFERENCE
from edgekd.profile import calibration as cal
from edgekd.profile.schema import Runtime
from edgekd.profile.simulate import kernel_share
from edgekd.profile.targets import list_targets, load_cores, load_runtimes

CSV = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "calibration.csv"


def test_every_published_row_has_a_source_a_split_and_a_buildable_model() -> None:
    rows = cal.read_rows(CSV)
    assert len(rows) >= 60
    ids = {t.id for t in list_targets()}
    for r in rows:
        assert r.source and r.split in ("fit", "validation")
        assert r.device in ids and r.model in REFERENCE and r.latency_ms > 0
    assert {r.split for r in rows} == {"fit", "validation"}
    assert len({r.device for r in rows}) >= 10


def test_every_core_and_kernel_library_is_described() -> None:
    cores = load_cores()
    runtimes = load_runtimes()
    for t in list_targets():
        for c in t.cores:
            assert c.core in cores, f"{t.id}: core {c.core!r} not in cores.yaml"
            for rt_name in t.runtimes.supported:
                for prec, lib in runtimes[rt_name].kernels.items():
                    assert lib in cores[c.core].kernels, f"{c.core} lacks {lib} ({rt_name})"
                    assert 0 < kernel_share(c, runtimes[rt_name], prec) <= 1


def test_a_runtime_without_a_kernel_table_uses_the_target_peak() -> None:
    rt = load_runtimes()["litert"]
    bare = Runtime.model_validate({**rt.model_dump(), "kernels": {}})
    cluster = list_targets()[0].cores[0]
    assert kernel_share(cluster, bare, "fp32") == 1.0


def test_band_from_covers_the_requested_share() -> None:
    errs = [1.0, 1.1, 0.9, 1.2, 0.8, 1.3, 0.7, 1.5, 0.6, 2.0]
    band = cal.band_from(errs, 0.9)
    inside = sum(1 / band <= e <= band for e in errs)
    assert inside >= 9 and cal.band_from([1.0]) == 1.25
