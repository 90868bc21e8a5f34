"""One budget verdict for ``edgekd profile --fail-on-budget`` and ``edgekd compress
--fail-on-budget``."""

from __future__ import annotations

import pytest

from edgekd.errors import BudgetError
from edgekd.profile.budgets import budget_failures, check_budgets


def _targets(*verdicts: str) -> list[dict]:
    return [{"name": f"t{i}", "verdict": v} for i, v in enumerate(verdicts)]


def test_failures_name_the_target_and_in_a_run_the_artifact():
    one_model = {"targets": _targets("pass", "fail", "unsupported")}
    assert budget_failures([one_model]) == ["t1"]
    run = [{"artifact": "a", **one_model}, {"artifact": "b", "targets": _targets("fail")}]
    assert budget_failures(run) == ["a on t1", "b on t0"]


def test_only_a_fail_verdict_raises_and_it_exits_3():
    check_budgets([{"targets": _targets("pass", "unsupported")}])
    with pytest.raises(BudgetError, match="budget violated: a on t1") as info:
        check_budgets([{"artifact": "a", "targets": _targets("pass", "fail")}])
    assert info.value.exit_code == 3
