"""``edgekd compress ... --nproc N``: start N ranks with torchrun and report how they ended.

This is ``torchrun --standalone --nproc-per-node N -m edgekd compress ...`` run in-process
(``torch.distributed.run.run``, what the ``torchrun`` script calls), so that when a rank
fails the launcher can say which one, how (exit code or signal), and exit with the code
rank 0 chose (2 bad input, 3 budget, 130 interrupted) rather than torchrun's generic 1.
"""

from __future__ import annotations

import os
import shlex
import signal
from typing import Any

from edgekd.errors import EdgekdError, StageError


def torchrun_args(nproc: int, argv: list[str]) -> list[str]:
    """The torchrun command line that runs ``edgekd ARGV`` on ``nproc`` local ranks."""
    return ["--standalone", f"--nproc-per-node={nproc}", "-m", "edgekd", *argv]


def launch(nproc: int, argv: list[str]) -> int:
    """Run ``edgekd ARGV`` on ``nproc`` ranks; returns the exit code (raises a typed error
    naming the failed rank when one died)."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    os.environ.setdefault("OMP_NUM_THREADS", "1")  # torchrun's own default, without its warning
    args = parse_args(torchrun_args(nproc, argv))
    try:
        run(args)
    except ChildFailedError as exc:
        raise failure_error(exc.failures, nproc, argv) from None
    return 0


class RankFailed(EdgekdError):
    """A rank of a distributed run failed; ``exit_code`` is rank 0's when it chose one."""


def failure_error(failures: dict[int, Any], nproc: int, argv: list[str]) -> EdgekdError:
    """One message naming every rank that failed, the one that stopped first leading."""
    # the cause first: a rank killed by a signal (not the launcher's SIGTERM), then a rank
    # that exited with an error; ranks the launcher stopped with SIGTERM last
    ordered = sorted(failures.items(), key=lambda kv: (_order(kv[1].exitcode), kv[1].timestamp))
    parts = [_describe(rank, f) for rank, f in ordered]
    again = shlex.join(["edgekd", *argv, f"--nproc={nproc}", "--resume"])
    if "--resume" in argv:
        again = shlex.join(["edgekd", *argv, f"--nproc={nproc}"])
    err: EdgekdError = RankFailed(
        f"distributed run failed: {'; '.join(parts)}. Completed passes and the last epoch "
        f"checkpoint are kept; continue with: {again}"
    )
    code0 = failures[0].exitcode if 0 in failures else None
    if len(failures) == 1 and code0 in (2, 3, 130):
        err.exit_code = code0  # rank 0 refused the input or a budget: its own code
    else:
        err.exit_code = StageError.exit_code
    return err


def _order(code: int) -> int:
    return 0 if code < 0 and code != -signal.SIGTERM else 1 if code > 0 else 2


def _describe(rank: int, f: Any) -> str:
    if f.exitcode < 0:
        return f"rank {rank} (pid {f.pid}) was killed by signal {f.signal_name()}"
    return f"rank {rank} (pid {f.pid}) exited with code {f.exitcode}"


def strip_nproc(argv: list[str]) -> list[str]:
    """``argv`` without ``--nproc N`` / ``--nproc=N`` (the ranks must not launch again)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--nproc":
            skip = True
            continue
        if a.startswith("--nproc="):
            continue
        out.append(a)
    return out
