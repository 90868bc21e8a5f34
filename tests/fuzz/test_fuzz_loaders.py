"""A bounded, deterministic fuzz of every file kind in ``FUZZ_TARGETS`` through the real CLI.

Hypothesis draws byte mutations (``derandomize=True``: the same cases on every run and every
machine); each truncated or mutated file must end in exit 2 with one message naming it, or in
exit 0 with a right output. ``benchmarks/fuzz_loaders.py`` runs a larger seeded budget.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.harness import FUZZ_TARGETS, OPS, mutate, run_case, seed_dir

MUTATIONS = st.lists(
    st.tuples(
        st.integers(0, len(OPS) - 1), st.integers(0, (1 << 20) - 1), st.integers(0, (1 << 12) - 1)
    ),
    min_size=1,
    max_size=3,
)
FAST = [k for k, t in FUZZ_TARGETS.items() if not t.slow]
SLOW = [k for k, t in FUZZ_TARGETS.items() if t.slow]


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fuzz")
    return {kind: seed_dir(kind, root) for kind in FUZZ_TARGETS}


def check(kind: str, seed: Path, data: bytes) -> None:
    outcome = run_case(kind, seed, data, timeout_s=60)
    assert outcome.failure is None, f"{kind}: {outcome.failure} ({outcome.message})"


@pytest.mark.parametrize("kind", ["onnx: profile", "tflite: profile", "npz calib: quantize"])
def test_valid_seed_files_pass(seeds, kind):
    """The oracle accepts the unmutated files (exit 0, right output), so a pass means something."""
    outcome = run_case(kind, seeds[kind], seeds[kind].read_bytes())
    assert outcome.exit_code == 0 and outcome.failure is None, outcome


@pytest.mark.parametrize("kind", list(FUZZ_TARGETS))
def test_truncated_files_exit_2_naming_the_file(seeds, kind):
    data = seeds[kind].read_bytes()
    for cut in (0, 9, len(data) // 2):
        check(kind, seeds[kind], data[:cut])


def fuzz(kind: str, examples: int):  # noqa: ANN201 - a Hypothesis-decorated test
    @settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(ops=MUTATIONS)
    def run(seeds: dict[str, Path], ops: list[tuple[int, int, int]]) -> None:
        check(kind, seeds[kind], mutate(seeds[kind].read_bytes(), ops))

    return run


@pytest.mark.parametrize("kind", FAST)
def test_mutated_files_fast_kinds(seeds, kind):
    fuzz(kind, 5)(seeds)


@pytest.mark.parametrize("kind", SLOW)
def test_mutated_files_slow_kinds(seeds, kind):
    fuzz(kind, 2)(seeds)
