"""Budgets: merge target defaults with overrides, and turn predictions into verdicts."""

from __future__ import annotations

from typing import Any

from edgekd.errors import UsageError
from edgekd.profile.schema import BUDGET_KEYS, Target
from edgekd.profile.simulate import Prediction


def resolve_budget(target: Target, overrides: dict[str, float] | None) -> dict[str, float]:
    """Target defaults overlaid with ``overrides``; an unknown key is a ``UsageError``."""
    budget = {k: v for k, v in target.budgets.model_dump().items() if v is not None}
    for key, value in (overrides or {}).items():
        if key not in BUDGET_KEYS:
            raise UsageError(
                f"unknown budget key {key!r} for target {target.id}; "
                f"valid keys: {', '.join(BUDGET_KEYS)}"
            )
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise UsageError(f"budget {target.id}.{key} must be a number, got {value!r}") from None
        if v < 0:
            raise UsageError(f"budget {target.id}.{key} must be >= 0, got {v}")
        budget[key] = v
    return budget


def _measured(pred: Prediction, band: float, strict: bool) -> dict[str, float]:
    """Value compared with each budget: the point estimate, or the band's high end."""
    return {
        "latency_ms": pred.latency_ms_high if strict else pred.latency_ms,
        "ram_bytes": float(pred.peak_ram_bytes),
        "flash_bytes": float(pred.flash_bytes),
        "energy_mj": pred.energy_mj * (band if strict else 1.0),
    }


def judge(
    pred: Prediction,
    target: Target,
    budget: dict[str, float],
    band: float,
    accuracy: float | None = None,
    strict: bool = False,
) -> tuple[str, list[dict[str, Any]], dict[str, float]]:
    """(verdict 'pass'|'fail', violations, headroom % per budget key).

    Headroom is ``(limit - value) / limit x 100``: negative means over budget. Memory that
    does not fit the device at all is a violation whatever the budget says.
    """
    values = _measured(pred, band, strict)
    if accuracy is not None:
        values["min_accuracy"] = accuracy
    return verdict(values, target, budget)


# budgets that are floors (the value must reach them); every other budget is a ceiling
FLOOR_KEYS = ("min_accuracy", "tokens_per_s")


def verdict(
    values: dict[str, float],
    target: Target,
    budget: dict[str, float],
    units: dict[str, str] | None = None,
) -> tuple[str, list[dict[str, Any]], dict[str, float]]:
    """(verdict 'pass'|'fail', violations, headroom % per budget key) for any artifact's
    ``values`` (a classifier's latency or an LM's tokens/s alike).

    Headroom is ``(limit - value) / limit x 100`` for a ceiling, ``(value - limit) / limit
    x 100`` for a floor: negative means the budget is missed. Memory that does not fit the
    device at all is a violation whatever the budget says. ``units`` overrides the unit a
    key is shown in (e.g. ``energy_mj`` per token).
    """
    violations: list[dict[str, Any]] = []
    headroom: dict[str, float] = {}
    for key, limit in budget.items():
        if key not in values:
            continue
        value = values[key]
        if key in FLOOR_KEYS:
            room = (value - limit) / limit * 100 if limit else 100.0
        else:
            room = (limit - value) / limit * 100 if limit else (0.0 if value == 0 else -100.0)
        headroom[key] = round(room, 2)
        if room < 0:
            op = "<" if key in FLOOR_KEYS else ">"
            violations.append(
                {"key": key, "value": value, "limit": limit,
                 "message": f"{key} {_fmt(key, value, units)} {op} budget "
                            f"{_fmt(key, limit, units)}"}
            )  # fmt: skip
    for key, cap in (
        ("ram_bytes", target.memory.ram_bytes),
        ("flash_bytes", target.memory.flash_bytes),
    ):
        if values[key] > cap and not any(v["key"] == key for v in violations):
            violations.append(
                {"key": key, "value": values[key], "limit": float(cap),
                 "message": f"{key} {_fmt(key, values[key], units)} exceeds the device's "
                            f"{_fmt(key, cap, units)}"}
            )  # fmt: skip
    return ("fail" if violations else "pass"), violations, headroom


UNITS = {"latency_ms": "ms", "ttft_ms": "ms", "energy_mj": "mJ", "tokens_per_s": "tokens/s"}


def _fmt(key: str, v: float, units: dict[str, str] | None = None) -> str:
    """A value in the unit its budget key names (bytes in KiB/MiB and exact)."""
    from edgekd.report.fmt import nbytes_exact

    if key.endswith("_bytes"):
        return nbytes_exact(v)
    unit = {**UNITS, **(units or {})}.get(key)
    return f"{v:.4g} {unit}" if unit else f"{v:.4g}"


def budget_failures(profiles: list[dict[str, Any]]) -> list[str]:
    """Where a verdict is ``fail``: ``TARGET`` in a model's profile, ``ARTIFACT on TARGET`` in
    a run's profiles (those carry the artifact's id)."""
    return [
        f"{p['artifact']} on {t['name']}" if p.get("artifact") else t["name"]
        for p in profiles
        for t in p.get("targets", [])
        if t.get("verdict") == "fail"
    ]


def check_budgets(profiles: list[dict[str, Any]]) -> None:
    """The verdict ``--fail-on-budget`` acts on: a ``BudgetError`` (exit 3) naming every
    failing target, or nothing."""
    from edgekd.errors import BudgetError

    failing = budget_failures(profiles)
    if failing:
        raise BudgetError("budget violated: " + ", ".join(failing))
