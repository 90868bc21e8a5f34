"""The process group edgekd runs in when a launcher started several copies of it.

``torchrun`` (and ``accelerate launch``, which calls it) starts N copies of ``python -m
edgekd ...`` with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``
in the environment (https://pytorch.org/docs/stable/elastic/run.html). :func:`init` joins
the group (``env://``): backend ``nccl`` when the rank has a CUDA device, ``gloo`` on CPU.

Two groups, two timeouts. The default group carries the training collectives (DDP's
all-reduce, the cache fill's barrier): a rank that stops answering makes the others fail
after ``EDGEKD_DIST_TIMEOUT`` seconds (default 300) with an error naming the rank, instead
of hanging. A second gloo group with a long timeout (``EDGEKD_DIST_WAIT``, default 6 h) is
where ranks wait while rank 0 alone runs a pass (trains the teacher, exports, profiles).

Training is collective only inside :func:`collective`: outside it (a pass rank 0 runs
alone) :func:`active` is None and every loop trains as a single process.
"""

from __future__ import annotations

import contextlib
import os
import platform
import signal
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from edgekd.errors import StageError, UsageError

DEFAULT_TIMEOUT_S = 300.0
DEFAULT_WAIT_S = 6 * 3600.0
T = TypeVar("T")


class RankLostError(StageError):
    """A collective failed or timed out: another rank died or stopped answering."""


@dataclass(frozen=True)
class World:
    """This process's place in the group."""

    rank: int
    size: int
    local_rank: int
    backend: str  # gloo | nccl
    device: str  # cpu | cuda:N
    timeout_s: float
    wait_group: Any = None  # the long-timeout gloo group

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def describe(self) -> dict[str, Any]:
        return {
            "world_size": self.size,
            "backend": self.backend,
            "device": self.device.split(":")[0],
            "timeout_s": self.timeout_s,
        }


_world: World | None = None
_collective: ContextVar[bool] = ContextVar("edgekd_collective", default=False)


def launched() -> bool:
    """Whether a launcher (torchrun, accelerate) started this process as one rank of many."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise UsageError(f"{name}={raw!r}: expected a positive number of seconds")
    return value


def pick_backend() -> tuple[str, str]:
    """(backend, device): ``nccl`` on this rank's CUDA device when there is one (and
    ``EDGEKD_DEVICE`` is not ``cpu``), else ``gloo`` on the CPU."""
    import torch

    if os.environ.get("EDGEKD_DEVICE", "").lower() != "cpu" and torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        return "nccl", f"cuda:{local % torch.cuda.device_count()}"
    return "gloo", "cpu"


def init() -> World | None:
    """Join the launcher's group (once); None when this process was not launched as a rank."""
    global _world
    if _world is not None or not launched():
        return _world
    import torch
    import torch.distributed as dist

    timeout_s = _seconds("EDGEKD_DIST_TIMEOUT", DEFAULT_TIMEOUT_S)
    wait_s = _seconds("EDGEKD_DIST_WAIT", DEFAULT_WAIT_S)
    backend, device = pick_backend()
    if device.startswith("cuda"):
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    wait_group = dist.new_group(backend="gloo", timeout=timedelta(seconds=wait_s))
    signal.signal(signal.SIGTERM, _stopped_by_launcher)
    _world = World(
        rank=dist.get_rank(),
        size=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
        backend=backend,
        device=device,
        timeout_s=timeout_s,
        wait_group=wait_group,
    )
    return _world


def _stopped_by_launcher(signum: int, frame: Any) -> None:
    """torchrun stops the other ranks with SIGTERM when one fails: record it as a failure
    (the manifest says so) rather than vanish mid-pass."""
    rank = _world.rank if _world is not None else "?"
    raise RankLostError(f"rank {rank}: stopped by the launcher (SIGTERM), another rank failed")


def shutdown() -> None:
    """Leave the group (idempotent)."""
    global _world
    if _world is None:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
    _world = None


def world() -> World | None:
    """The group this process is in (None: a single process)."""
    return _world


def active() -> World | None:
    """The group, while every rank runs the same pass (:func:`collective`); else None."""
    return _world if _world is not None and _collective.get() else None


def is_main() -> bool:
    """Rank 0, or a single process: the one that writes the run directory."""
    return _world is None or _world.is_main


@contextlib.contextmanager
def collective() -> Iterator[None]:
    """Inside: every rank runs the same code, and training loops train together."""
    token = _collective.set(True)
    try:
        yield
    finally:
        _collective.reset(token)


@contextlib.contextmanager
def alone() -> Iterator[None]:
    """Inside: this rank works by itself (e.g. rank 0 fills a cache entry the others wait
    for), so training loops do not wait for the other ranks."""
    token = _collective.set(False)
    try:
        yield
    finally:
        _collective.reset(token)


def _lost(what: str, exc: BaseException, timeout_s: float) -> RankLostError:
    w = _world
    me = f"rank {w.rank} of {w.size}" if w else "this rank"
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    return RankLostError(
        f"{me}: {what} failed: another rank died or did not answer within {timeout_s:g} s "
        f"(EDGEKD_DIST_TIMEOUT / EDGEKD_DIST_WAIT); the launcher names the rank that stopped "
        f"first. Continue with --resume. ({first})"
    )


# how a collective fails when a peer is gone: gloo "Connection closed by peer" /
# "Connection reset", a timeout ("Timed out waiting ... ms"), NCCL's watchdog
_LOST_MARKERS = ("gloo", "nccl", "connection", "timed out", "timeout", "peer", "socket")


def _is_lost(exc: BaseException) -> bool:
    import torch.distributed as dist

    if isinstance(exc, (dist.DistError, ConnectionError, TimeoutError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(m in text for m in _LOST_MARKERS)


@contextlib.contextmanager
def guard(what: str, long: bool = False) -> Iterator[None]:
    """Turn a collective that failed because a rank is gone into :class:`RankLostError`
    naming this rank; any other error passes through."""
    try:
        yield
    except RankLostError:
        raise
    except Exception as exc:
        if _world is None or not _is_lost(exc):
            raise
        timeout = _seconds("EDGEKD_DIST_WAIT", DEFAULT_WAIT_S) if long else _world.timeout_s
        raise _lost(what, exc, timeout) from None


def wait(what: str) -> None:
    """Every rank waits here (long timeout) until all arrive: e.g. until rank 0 finished a
    pass it runs alone."""
    w = _world
    if w is None or w.size == 1:
        return
    import torch.distributed as dist

    with guard(f"waiting for the other ranks ({what})", long=True):
        dist.barrier(group=w.wait_group)


def barrier(what: str) -> None:
    """A barrier on the training group (short timeout)."""
    w = _world
    if w is None or w.size == 1:
        return
    import torch.distributed as dist

    with guard(what):
        dist.barrier()


def broadcast(value: T, what: str) -> T:
    """Rank 0's ``value`` on every rank (long timeout: rank 0 may be busy)."""
    w = _world
    if w is None or w.size == 1:
        return value
    import torch.distributed as dist

    box = [value]
    with guard(f"receiving {what} from rank 0", long=True):
        dist.broadcast_object_list(box, src=0, group=w.wait_group)
    return box[0]


def gather(value: T, what: str) -> list[T]:
    """Every rank's ``value``, in rank order, on every rank (long timeout)."""
    w = _world
    if w is None:
        return [value]
    import torch.distributed as dist

    out: list[Any] = [None] * w.size
    with guard(f"gathering {what}", long=True):
        dist.all_gather_object(out, value, group=w.wait_group)
    return out


def rank_info() -> dict[str, Any]:
    """Who this rank is: rank, local rank, host, pid."""
    w = _world
    return {
        "rank": 0 if w is None else w.rank,
        "local_rank": 0 if w is None else w.local_rank,
        "host": platform.node(),
        "pid": os.getpid(),
    }
