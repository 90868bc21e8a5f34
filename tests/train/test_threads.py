"""torch's thread count: set from the recipe for a run, restored afterwards."""

from __future__ import annotations

import pytest
import torch

from edgekd.train.threads import torch_threads


def test_torch_threads_sets_and_restores():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch_threads(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with torch_threads(0):  # 0 leaves torch's setting alone
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_compress_trains_with_the_recipes_threads(tmp_path, monkeypatch):
    """Every pass runs with ``recipe.threads``; the caller's setting is back afterwards,
    even when a pass fails."""
    from edgekd import Recipe
    from edgekd.data import stage
    from edgekd.pipeline import compress as pipeline

    seen = []

    class Stop(Exception):
        pass

    def run(inputs, cfg, run_dir, env):
        seen.append(torch.get_num_threads())
        raise Stop

    monkeypatch.setattr(stage, "run", run)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for threads in (1, 2):
            with pytest.raises(Stop):
                pipeline.compress(Recipe(threads=threads), out_dir=tmp_path)
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen == [1, 2]
    assert Recipe().threads == 1
