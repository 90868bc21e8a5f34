"""Report plots as inline SVG strings (matplotlib's object API: no pyplot, no GUI backend,
no global state touched). Text stays text (``svg.fonttype: none``), so the SVGs are small,
searchable and need no embedded or downloaded fonts.
"""

from __future__ import annotations

import importlib.util
import io
import math
import re
from typing import Any

from edgekd.report.analysis import BUDGET_TO_PREDICTED, target_rows
from edgekd.report.fmt import BUDGET_LABEL

COLORS = {"pass": "#1a7f37", "fail": "#cf222e", "unsupported": "#9a6700"}
SERIES = {"distilled": "#0969da", "baseline": "#8c959f", "teacher": "#8250df"}
RC: dict[str, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "edgekd",
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
}


def available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def make_plots(report: dict[str, Any], top_ops: int = 8) -> dict[str, str]:
    """{name: svg} for each plot the report has data for; {} without matplotlib."""
    if not available():
        return {}
    import matplotlib

    out = {}
    with matplotlib.rc_context(RC):  # type: ignore[arg-type]
        for name, fn in (
            ("accuracy_latency", accuracy_latency),
            ("budget_use", budget_use),
            ("top_ops", lambda r: top_ops_plot(r, top_ops)),
            ("training", training),
        ):
            fig = fn(report)
            if fig is not None:
                out[name] = to_svg(fig, name)
    return out


def to_svg(fig: Any, prefix: str) -> str:
    """The figure as an ``<svg>`` element for inlining: no XML prolog, DOCTYPE or metadata,
    and element ids prefixed so several plots in one page never share an id."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    svg = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', svg)
    svg = svg.replace("url(#", f"url(#{prefix}-").replace('href="#', f'href="#{prefix}-')
    return svg.replace("<svg ", f'<svg role="img" aria-label="{prefix.replace("_", " ")}" ', 1)


def _figure(n: int, ncols: int = 3, width: float = 9.5, height: float = 3.0) -> tuple[Any, list]:
    from matplotlib.figure import Figure

    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(width, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _accuracy(report: dict[str, Any]) -> dict[str, float]:
    return {
        a["id"]: a["metrics"]["accuracy"]
        for a in report["artifacts"]
        if (a.get("metrics") or {}).get("accuracy") is not None
    }


def accuracy_latency(report: dict[str, Any]) -> Any:
    """Accuracy vs predicted latency per target, with the latency budget and Pareto front."""
    tgts = report["targets"]
    if not tgts:
        return None
    acc = _accuracy(report)
    teacher = (report["comparison"]["rows"].get("teacher") or {}).get("accuracy")
    fig, axes = _figure(len(tgts))
    for ax, tgt in zip(axes, tgts, strict=True):
        pts = [
            (art, t)
            for art, t in target_rows(report["profiles"])
            if t["name"] == tgt["name"]
            and art in acc
            and (t.get("predicted") or {}).get("latency_ms") is not None
        ]
        for art, t in pts:
            p = t["predicted"]
            # a band that does not contain the point (a hand-edited manifest) is clamped
            lo = min(p.get("latency_ms_low") or p["latency_ms"], p["latency_ms"])
            hi = max(p.get("latency_ms_high") or p["latency_ms"], p["latency_ms"])
            ax.errorbar(
                p["latency_ms"], 100 * acc[art],
                xerr=[[p["latency_ms"] - lo], [hi - p["latency_ms"]]],
                fmt="o", color=COLORS.get(t["verdict"], "#57606a"), capsize=3,
            )  # fmt: skip
            ax.annotate(art, (p["latency_ms"], 100 * acc[art]), textcoords="offset points",
                        xytext=(5, 5), fontsize=8)  # fmt: skip
        front = report["pareto_front"].get(tgt["name"], [])
        lat = {a: t["predicted"]["latency_ms"] for a, t in pts}
        if len(front) > 1:
            ax.step([lat[a] for a in front], [100 * acc[a] for a in front], where="post",
                    color="#0969da", lw=1, ls="--", label="Pareto front")  # fmt: skip
        budget = tgt["budget"]
        if budget.get("latency_ms"):
            ax.axvline(budget["latency_ms"], color=COLORS["fail"], lw=1.2, label="latency budget")
        if budget.get("min_accuracy"):
            ax.axhline(100 * budget["min_accuracy"], color=COLORS["fail"], lw=1, ls=":",
                       label="min accuracy")  # fmt: skip
        if teacher is not None:
            ax.axhline(100 * teacher, color=SERIES["teacher"], lw=1, ls="-.", label="teacher")
        ax.set_xscale("log")
        ax.set_title(f"{tgt['name']} ({tgt['runtime']})")
        ax.set_xlabel("predicted latency (ms, log)")
        ax.set_ylabel("test accuracy (%)")
        ax.legend(fontsize=7, loc="lower right")
    return fig


def budget_use(report: dict[str, Any]) -> Any:
    """Predicted use of each budget (% of the limit) of the chosen artifact per target."""
    use = report["budget_use"]
    if not use:
        return None
    keys = list(BUDGET_TO_PREDICTED)
    fig, (ax,) = _figure(1, height=0.5 + 0.75 * len(use))
    names = list(use)
    h = 0.8 / len(keys)
    colors = ["#0969da", "#1a7f37", "#9a6700", "#8250df"]
    for i, key in enumerate(keys):
        vals = [use[n]["use_pct"].get(key) for n in names]
        ys = [j + (i - (len(keys) - 1) / 2) * h for j in range(len(names))]
        shown = [(y, v) for y, v in zip(ys, vals, strict=True) if v is not None]
        if not shown:
            continue
        ax.barh([y for y, _ in shown], [max(v, 1e-3) for _, v in shown], height=h,
                color=colors[i], label=BUDGET_LABEL[key])  # fmt: skip
        for y, v in shown:
            ax.annotate(f"{v:.3g}%", (max(v, 1e-3), y), xytext=(3, 0), textcoords="offset points",
                        va="center", fontsize=7)  # fmt: skip
    ax.axvline(100, color=COLORS["fail"], lw=1.2, label="100% = budget")
    ax.set_xscale("log")
    top = max([100.0, *(v for u in use.values() for v in u["use_pct"].values())])
    ax.set_xlim(1e-3, top * 5)
    ax.set_yticks(range(len(names)), [f"{n}\n{use[n]['artifact']}" for n in names])
    ax.invert_yaxis()
    ax.set_xlabel("% of budget used (log; missing bar = no budget)")
    ax.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=5, frameon=False)
    return fig


def _op_label(op: dict[str, Any]) -> str:
    """'/features/block1/conv/Conv' (Conv) -> 'block1/conv · Conv'."""
    parts = [p for p in op["name"].split("/") if p]
    if len(parts) > 1 and parts[-1] == op["op_type"]:
        parts = parts[:-1]
    return f"{'/'.join(parts[-2:]) or op['name']} · {op['op_type']}"


def top_ops_plot(report: dict[str, Any], n: int = 8) -> Any:
    """The ops with the most predicted time, for the chosen artifact on each target."""
    rows = []
    for tgt in report["targets"]:
        art = (report["chosen"].get(tgt["name"]) or {}).get("artifact")
        for a, t in target_rows(report["profiles"]):
            if a == art and t["name"] == tgt["name"] and t.get("top_ops"):
                rows.append((tgt, art, t))
    if not rows:
        return None
    fig, axes = _figure(len(rows), ncols=len(rows) if len(rows) <= 3 else 2, height=0.6 + 0.3 * n)
    for ax, (tgt, art, t) in zip(axes, rows, strict=True):
        ops = sorted(t["top_ops"], key=lambda o: -(o.get("latency_ms") or 0))[:n]
        ax.barh(range(len(ops)), [o["latency_ms"] for o in ops], color="#0969da")
        ax.set_yticks(range(len(ops)), [_op_label(o) for o in ops],
                      fontsize=7)  # fmt: skip
        ax.invert_yaxis()
        total = (t.get("predicted") or {}).get("latency_ms")
        ax.set_title(f"{tgt['name']}: {art}" + (f" ({total:.3g} ms)" if total else ""), fontsize=9)
        ax.set_xlabel("predicted ms")
    return fig


def training(report: dict[str, Any]) -> Any:
    """Training loss and validation accuracy per epoch, distilled vs baseline."""
    hist = report["training"]
    if not any(h.get("train_loss") or h.get("val_accuracy") for h in hist.values()):
        return None
    fig, (loss_ax, acc_ax) = _figure(2, ncols=2, height=3.0)
    for name, h in hist.items():
        color = SERIES.get(name, "#57606a")
        if h.get("train_loss"):
            loss_ax.plot(range(1, len(h["train_loss"]) + 1), h["train_loss"], marker=".",
                         color=color, label=name)  # fmt: skip
        if h.get("val_accuracy"):
            acc_ax.plot(range(1, len(h["val_accuracy"]) + 1),
                        [100 * v for v in h["val_accuracy"]], marker=".", color=color,
                        label=name)  # fmt: skip
    loss_ax.set_title("training loss (distilled: KD objective, baseline: CE)", fontsize=9)
    acc_ax.set_title("validation accuracy", fontsize=9)
    from matplotlib.ticker import MaxNLocator

    for ax, ylabel in ((loss_ax, "loss"), (acc_ax, "accuracy (%)")):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    return fig
