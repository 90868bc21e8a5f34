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

from edgekd.report import fmt
from edgekd.report.analysis import BUDGET_TO_PREDICTED, target_rows
from edgekd.report.fmt import BUDGET_LABEL
from edgekd.report.oplabels import op_label
from edgekd.report.ship import shown

COLORS = {"pass": "#1a7f37", "fail": "#cf222e", "unsupported": "#9a6700"}
SERIES = {"distilled": "#0969da", "baseline": "#8c959f", "teacher": "#8250df"}
# Colour-blind-safe qualitative palette (Okabe & Ito 2008) and distinct markers per artifact.
PALETTE = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#000000"]
MARKERS = ["o", "s", "D", "^", "v", "P", "X", "*"]
BUDGET_SPAN = 30  # a latency budget > 30x right of every point is named, not drawn
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


def _figure(
    n: int, ncols: int = 3, width: float = 9.5, height: float = 3.0, **kw: Any
) -> tuple[Any, list]:
    """``n`` panels in a grid of ``ncols`` columns; the figure grows by rows, so panels keep
    their size however many there are."""
    from matplotlib.figure import Figure

    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(width, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _accuracy(report: dict[str, Any]) -> dict[str, float]:
    return {
        a["id"]: a["metrics"]["accuracy"]
        for a in report["artifacts"]
        if (a.get("metrics") or {}).get("accuracy") is not None
    }


def _styles(arts: list[str]) -> dict[str, tuple[str, str]]:
    """A (colour, marker) per artifact, the same in every panel."""
    return {a: (PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)]) for i, a in enumerate(arts)}


def _latency_points(report: dict[str, Any], target: str, acc: dict[str, float]) -> list:
    return [
        (art, t)
        for art, t in target_rows(report["profiles"])
        if t["name"] == target and art in acc and (t.get("predicted") or {}).get("latency_ms")
    ]


def _log_ticks(axis: Any, lo: float, hi: float) -> None:
    """Plain-number ticks on a log axis ('0.01', '0.02', '0.05'), as many as fit: 1-2-5 per
    decade over a short range, one per decade over a longer one; no minor labels."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    decades = math.log10(max(hi, lo * 1.0001) / lo)
    subs = (1.0, 2.0, 5.0) if decades <= 1.5 else (1.0,)
    axis.set_major_locator(LogLocator(base=10, subs=subs, numticks=6 if decades > 6 else 12))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def accuracy_latency(report: dict[str, Any]) -> Any:
    """Accuracy vs predicted latency per target, with the latency budget and Pareto front.

    Artifacts are told apart by colour and marker in one legend above the panels (no text
    next to points, so nothing overlaps however close the points are); a hollow marker fails
    a budget on that target."""
    from matplotlib.lines import Line2D

    tgts = report["targets"]
    acc = _accuracy(report)
    points = {t["name"]: _latency_points(report, t["name"], acc) for t in tgts}
    tgts = [t for t in tgts if points[t["name"]]]
    if not tgts:
        return None
    arts = list(dict.fromkeys(a for pts in points.values() for a, _ in pts))
    style = _styles(arts)
    teacher = (report["comparison"]["rows"].get("teacher") or {}).get("accuracy")
    ncols = min(3, len(tgts))
    fig, axes = _figure(len(tgts), ncols, width=min(9.5, 3.3 * ncols + 0.5), height=2.8)
    lines: dict[str, Any] = {}
    for ax, tgt in zip(axes, tgts, strict=True):
        pts = points[tgt["name"]]
        lo_all, hi_all = [], []
        for art, t in pts:
            p = t["predicted"]
            # a band that does not contain the point (a hand-edited manifest) is clamped
            lo = min(p.get("latency_ms_low") or p["latency_ms"], p["latency_ms"])
            hi = max(p.get("latency_ms_high") or p["latency_ms"], p["latency_ms"])
            lo_all.append(lo)
            hi_all.append(hi)
            color, marker = style[art]
            ax.errorbar(
                p["latency_ms"], 100 * acc[art],
                xerr=[[p["latency_ms"] - lo], [hi - p["latency_ms"]]], fmt=marker, ms=6,
                color=color, mfc=color if t["verdict"] == "pass" else "white", capsize=3,
                alpha=0.9,
            )  # fmt: skip
        front = report["pareto_front"].get(tgt["name"], [])
        lat = {a: t["predicted"]["latency_ms"] for a, t in pts}
        front = [a for a in front if a in lat]
        if len(front) > 1:
            lines["Pareto front"] = ax.step(
                [lat[a] for a in front], [100 * acc[a] for a in front], where="post",
                color="#0969da", lw=1, ls="--",
            )[0]  # fmt: skip
        ax.set_xscale("log")
        x_lo, x_hi = min(lo_all) / 1.5, max(hi_all) * 1.5
        xlabel = "predicted latency (ms, log)"
        limit = tgt["budget"].get("latency_ms")
        # a budget far right of every point would squeeze them into a corner: name it instead
        if limit and limit > max(hi_all) * BUDGET_SPAN:
            xlabel += f"; budget {fmt.ms(limit)} →"
        elif limit:
            lines["latency budget"] = ax.axvline(limit, color=COLORS["fail"], lw=1.2)
            x_lo, x_hi = min(x_lo, limit / 1.5), max(x_hi, limit * 1.5)
        ax.set_xlim(x_lo, x_hi)
        _log_ticks(ax.xaxis, x_lo, x_hi)
        budget = tgt["budget"]
        if budget.get("min_accuracy"):
            lines["min accuracy"] = ax.axhline(
                100 * budget["min_accuracy"], color=COLORS["fail"], lw=1, ls=":"
            )
        if teacher is not None:
            lines["teacher"] = ax.axhline(100 * teacher, color=SERIES["teacher"], lw=1, ls="-.")
        ax.margins(y=0.12)
        ax.set_title(f"{tgt['name']} ({tgt['runtime']})", fontsize=9)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test accuracy (%)")
    handles = [Line2D([], [], color=style[a][0], marker=style[a][1], ls="", label=a) for a in arts]
    handles += [Line2D([], [], color="#57606a", marker="o", mfc="white", ls="",
                       label="hollow: fails or unsupported")]  # fmt: skip
    handles += [h for h in lines.values()]
    labels = [*arts, "hollow: fails or unsupported", *lines]
    fig.legend(handles, labels, loc="outside upper center", ncols=min(4, len(labels)),
               fontsize=7, frameon=False)  # fmt: skip
    return fig


def budget_use(report: dict[str, Any]) -> Any:
    """Predicted use of each budget (% of the limit) of the chosen artifact per target."""
    use = report["budget_use"]
    if not use:
        return None
    keys = list(BUDGET_TO_PREDICTED)
    fig, (ax,) = _figure(1, height=0.8 + 0.75 * len(use))
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
    fig.legend(loc="outside upper center", fontsize=7, ncols=5, frameon=False)
    return fig


def _top_ops_rows(report: dict[str, Any], n: int) -> list[tuple[dict, str, dict, list]]:
    """(target, chosen artifact, its profile row, its ``n`` slowest ops with time > 0)."""
    rows = []
    for tgt in report["targets"]:
        art = shown(report["chosen"].get(tgt["name"]) or {})
        for a, t in target_rows(report["profiles"]):
            ops = [o for o in t.get("top_ops") or [] if (o.get("latency_ms") or 0) > 0]
            if a == art and t["name"] == tgt["name"] and ops:
                rows.append((tgt, art, t, sorted(ops, key=lambda o: -o["latency_ms"])[:n]))
    return rows


def top_ops_plot(report: dict[str, Any], n: int = 8) -> Any:
    """The ops with the most predicted time, for the chosen artifact on each target: one
    full-width panel per target, stacked, each as tall as its number of ops."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    rows = _top_ops_rows(report, n)
    if not rows:
        return None
    heights = [0.7 + 0.24 * len(ops) for *_, ops in rows]
    fig = Figure(figsize=(9.5, sum(heights) + 0.2 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), 1, squeeze=False, height_ratios=heights).ravel()
    for ax, (tgt, art, t, ops) in zip(axes, rows, strict=True):
        ms = [o["latency_ms"] for o in ops]
        total = (t.get("predicted") or {}).get("latency_ms") or sum(ms)
        ax.barh(range(len(ops)), ms, color="#0969da", height=0.7)
        ax.set_yticks(range(len(ops)), [op_label(o) for o in ops], fontsize=8)
        for y, v in enumerate(ms):
            ax.annotate(f"{fmt.ms(v)} · {100 * v / total:.0f}%", (v, y), xytext=(4, 0),
                        textcoords="offset points", va="center", fontsize=7)  # fmt: skip
        ax.invert_yaxis()
        ax.set_xlim(0, max(ms) * 1.3)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.grid(axis="y", visible=False)
        ax.set_title(f"{tgt['name']} ({tgt['runtime']}): {art}, {fmt.ms(total)} in all",
                     fontsize=9, loc="left")  # fmt: skip
    axes[-1].set_xlabel("predicted time per op (ms)")
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
