"""How many CPU threads torch uses while edgekd trains and evaluates its small models.

edgekd's models are tiny (a digits CNN is 1.4k-94k parameters, batches of 64 8x8 images):
each op is a few microseconds of work, so a second intra-op thread adds synchronization
(OpenMP workers spin while they wait) rather than speed, and on a machine shared with other
jobs the spinning threads compete for the cores. ``benchmarks/demo_time.py --threads 1 2``
measures the default run both ways; the recipe's ``threads`` (default 1) sets it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Use ``n`` intra-op threads inside the block (0: leave torch's default, one per core),
    then restore the caller's setting: the Python API must not change a user's process."""
    import torch

    before = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
