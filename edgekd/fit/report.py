"""The fit's ``report.html``: the Pareto front plot (validation accuracy vs the target's
predicted latency, every trial), the chosen candidate and its pipeline verdict, and every
trial with its outcome. Self-contained like the run reports (inline SVG, no scripts)."""

from __future__ import annotations

from html import escape
from typing import Any

from edgekd.report import fmt
from edgekd.report.sections import Section

CAPTION = (
    "Every trial: validation accuracy vs predicted latency on the target. Blue: trained and "
    "feasible (the line joins the Pareto front); grey crosses: skipped, predicted not to fit "
    "(drawn at 0); orange: stopped early (at their last validation accuracy); the star is the "
    "chosen candidate; the dashed line is the latency budget."
)


def pareto_plot(fit: dict[str, Any]) -> str | None:
    """The plot as inline ``<svg>``, or None without matplotlib or trials."""
    from edgekd.report.plots import RC, available, to_svg

    rows = [r for r in fit["trials"] if r.get("latency_ms")]
    if not available() or not rows:
        return None
    import matplotlib
    from matplotlib.figure import Figure

    front = set(fit["pareto_front"])
    with matplotlib.rc_context(RC):  # type: ignore[arg-type]
        fig = Figure(figsize=(7.5, 4.0), layout="constrained")
        ax = fig.subplots()
        groups = {
            "trained": [r for r in rows if r["outcome"] == "trained"],
            "skipped": [r for r in rows if str(r["outcome"]).startswith("skipped")],
            "stopped": [r for r in rows if r["state"] == "pruned"],
        }
        style = {"trained": ("o", "#1f6feb"), "skipped": ("x", "#8c959f"),
                 "stopped": ("s", "#d4a72c")}  # fmt: skip
        for name, pts in groups.items():
            if pts:
                marker, color = style[name]
                xs, ys = [r["latency_ms"] for r in pts], [_y(r) for r in pts]
                label = f"{name} ({len(pts)})"
                ax.scatter(xs, ys, marker=marker, color=color, label=label, zorder=3)
        line = sorted((r for r in rows if r["number"] in front), key=lambda r: r["latency_ms"])
        if line:
            ax.step([r["latency_ms"] for r in line], [r["val_accuracy"] for r in line],
                    where="post", color="#1f6feb", lw=1, label="Pareto front")  # fmt: skip
        chosen = fit.get("chosen")
        if chosen:
            label = f"chosen (trial {chosen['number']})"
            xy = ([chosen["latency_ms"]], [chosen["val_accuracy"]])
            ax.scatter(*xy, marker="*", s=220, color="#cf222e", zorder=4, label=label)
        limit = (fit.get("budget") or {}).get("latency_ms")
        if limit:
            ax.axvline(limit, ls="--", color="#cf222e", lw=1, label="latency budget")
        ax.set_xscale("log")
        ax.set_xlabel(f"predicted latency on {fit['target']} (ms, log)")
        ax.set_ylabel("validation accuracy")
        ax.legend(fontsize=7, loc="lower right")
        return to_svg(fig, "pareto")


def _y(r: dict[str, Any]) -> float:
    if r["state"] == "pruned":
        return (r.get("curve") or [0.0])[-1]
    return float(r.get("val_accuracy") or 0.0)


def sections(fit: dict[str, Any]) -> list[Section]:
    chosen, pipe = fit.get("chosen"), fit.get("pipeline") or {}
    top = Section("Chosen model")
    if chosen is None:
        top.text = ["No candidate of the search space fits the budgets."]
    else:
        top.text = [
            (
                f"Trial {chosen['number']}: **{chosen['candidate']}**, validation accuracy "
                f"{fmt.pct(chosen['val_accuracy'])}, predicted {fmt.ms(chosen['latency_ms'])} "
                f"on {fit['target']}."
            )
        ]
        if pipe:
            verdict = "passes every budget" if pipe["fits"] else "does not fit"
            top.text.append(
                f"Through the whole pipeline (`{pipe['run_dir']}`): ship `{pipe['artifact']}`, "
                f"test accuracy {fmt.pct(pipe['test_accuracy'])}, "
                f"{fmt.nbytes(pipe['file_bytes'])}; it {verdict} on {fit['target']}."
            )
    top.notes = [f"budget: {fmt.BUDGET_LABEL.get(k, k)} {fmt.value(k, v)}"
                 for k, v in (fit.get("budget") or {}).items()]  # fmt: skip
    trials = Section("Trials")
    trials.header = ["trial", "candidate", "state", "val accuracy", "predicted latency",
                     "RAM", "flash", "seconds", "outcome"]  # fmt: skip
    for r in fit["trials"]:
        est = r.get("estimate") or {}
        trials.rows.append(
            [str(r["number"]) + (" ★" if r["number"] in fit["pareto_front"] else ""),
             str(r.get("candidate") or fmt.DASH), r["state"], fmt.pct(r.get("val_accuracy")),
             fmt.ms(r.get("latency_ms")), fmt.nbytes(est.get("peak_ram_bytes")),
             fmt.nbytes(est.get("flash_bytes")), fmt.sig(r.get("seconds")),
             str(r.get("outcome") or fmt.DASH)]
        )  # fmt: skip
    trials.notes = ["★: on the Pareto front (feasible, trained, not beaten on both axes)."]
    return [top, trials]


def render_fit_html(fit: dict[str, Any]) -> str:
    from edgekd.report.html import page, section

    svg = pareto_plot(fit)
    plot = (
        f"<figure>{svg}<figcaption>{escape(CAPTION)}</figcaption></figure>"
        if svg
        else '<p class="note">Plot not drawn: matplotlib is not installed.</p>'
    )
    body = "\n".join(section(s, {}, False) for s in sections(fit))
    pareto = f"<section><h2>Pareto front</h2>\n{plot}\n</section>"
    return page(f"edgekd fit: {fit['target']}", f"{pareto}\n{body}")
