"""Number formatting shared by the Markdown and HTML reports: units people read."""

from __future__ import annotations

import math
from typing import Any

DASH = "–"
MARK = {"pass": "✅ pass", "fail": "❌ fail", "unsupported": "⚠️ unsupported"}
FLOORS = ("min_accuracy", "tokens_per_s")  # edgekd.profile.budgets.FLOOR_KEYS (no import:
# profile imports report)
BUDGET_LABEL = {
    "latency_ms": "latency",
    "ram_bytes": "RAM",
    "flash_bytes": "flash",
    "energy_mj": "energy",
    "min_accuracy": "accuracy",
    "tokens_per_s": "decode speed",
    "ttft_ms": "time to first token",
    "kv_cache_bytes": "KV cache",
}


def sig(v: float | None, digits: int = 3) -> str:
    """``digits`` significant digits without scientific notation for everyday magnitudes."""
    if v is None:
        return DASH
    if v == 0:
        return "0"
    mag = math.floor(math.log10(abs(v)))
    if mag < -4:
        return f"{v:.{digits - 1}e}"
    return f"{v:.{max(0, digits - 1 - mag)}f}"


def ms(v: float | None) -> str:
    return DASH if v is None else f"{sig(v)} ms"


def mj(v: float | None) -> str:
    return DASH if v is None else f"{sig(v)} mJ"


def nbytes(v: float | None) -> str:
    """Binary units, as datasheets count memory: 7176 -> '7.01 KiB', 262144 -> '256 KiB'."""
    if v is None:
        return DASH
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(v) >= scale:
            x = v / scale
            return f"{x:.0f} {unit}" if x == int(x) else f"{sig(x)} {unit}"
    return f"{int(v)} B"


def nbytes_exact(v: float | None) -> str:
    """Binary units and the exact count where single bytes matter: '21.5 KiB (22,037 B)'."""
    if v is None:
        return DASH
    short = nbytes(v)
    return short if short.endswith(" B") else f"{short} ({int(v):,} B)"


def duration(seconds: float | None) -> str:
    """A wall-clock time people read: 0.85 -> '850 ms', 3.21 -> '3.2 s', 125 -> '2 min 05 s'."""
    if seconds is None:
        return DASH
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def count(v: float | None) -> str:
    """Large counts: 23200 -> '23.2k'."""
    if v is None:
        return DASH
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.1f}{unit}"
    return str(int(v))


def pct(frac: float | None, digits: int = 2) -> str:
    """A fraction as a percentage: 0.7778 -> '77.78%'."""
    return DASH if frac is None else f"{100 * frac:.{digits}f}%"


def signed(v: float | None, unit: str, digits: int = 2) -> str:
    """A delta with its sign: +1.25 pp, −12.0%."""
    if v is None:
        return DASH
    s = f"{v:+.{digits}f}".replace("-", "−")
    return f"{s} {unit}" if unit != "%" else f"{s}%"


def value(key: str, v: Any) -> str:
    """A budget or predicted value in the unit of its budget key."""
    if key in ("latency_ms", "ttft_ms"):
        return ms(v)
    if key == "tokens_per_s":
        return f"{sig(float(v))} tokens/s"
    if key == "energy_mj":
        return mj(v)
    if key in ("ram_bytes", "flash_bytes", "peak_ram_bytes", "kv_cache_bytes"):
        return nbytes(v)
    if key == "min_accuracy":
        return pct(v)
    return sig(v) if isinstance(v, float) else str(v)


def headroom(h: dict[str, Any] | None) -> str:
    """The tightest budget: '99.0% flash left' or 'latency 20.0% over'."""
    if not h:
        return DASH
    label = BUDGET_LABEL.get(h["key"], h["key"])
    if h["pct"] < 0:  # a floor (accuracy, decode tokens/s) is missed by falling short
        word = "short" if h["key"] in FLOORS else "over"
        return f"{label} {-h['pct']:.1f}% {word}"
    return f"{h['pct']:.1f}% {label} left"
