"""The search: an Optuna study maximizing validation accuracy and minimizing the target's
predicted latency, with the target's budgets as constraints.

Each trial samples a :class:`~edgekd.fit.space.Candidate`; the simulator's estimate comes
first, and a candidate that cannot fit is recorded as infeasible without training (its
constraint, set with ``Trial.set_constraint``, steers the TPE sampler away from it). Others
are distilled from the one set of cached teacher outputs, then pruned and fine-tuned under
the same loss. Optuna's pruners are single-objective only, so early stopping is edgekd's
own rule, applied by raising ``optuna.TrialPruned``: a candidate is stopped at an epoch
where a finished, feasible and no slower candidate already had ``MARGIN`` more validation
accuracy at the same epoch (it cannot reach the Pareto front ahead of that one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekd.fit.space import Candidate, Space, estimate, over_budget

if TYPE_CHECKING:
    import numpy as np
    import optuna

    from edgekd.data.loaders import DataSplits
    from edgekd.progress import Reporter
    from edgekd.recipe.schema import Recipe

STUDY = "edgekd-fit"
MARGIN = 0.02  # validation accuracy a dominating candidate must lead by to stop another


@dataclass
class Search:
    """Everything a trial needs; estimates are memoized per candidate."""

    recipe: Recipe
    data: DataSplits
    teacher_logits: dict[str, np.ndarray]
    target: str
    budget: dict[str, float]
    space: Space
    run_dir: Path
    reporter: Reporter
    estimates: dict[Candidate, dict[str, Any]] = field(default_factory=dict)

    def candidate(self, trial: optuna.Trial) -> Candidate:
        s = self.space
        return Candidate(
            arch=trial.suggest_categorical("arch", list(s.for_input(self.data.input_shape))),
            width=trial.suggest_categorical("width", list(s.widths)),
            depth=trial.suggest_categorical("depth", list(s.depths)),
            prune=trial.suggest_categorical("prune", list(s.prune)),
            precision=trial.suggest_categorical("precision", list(s.precisions)),
        )

    def estimate(self, cand: Candidate) -> dict[str, Any]:
        if cand not in self.estimates:
            self.estimates[cand] = estimate(
                cand, self.data.input_shape, self.data.num_classes, self.target, self.budget,
                self.run_dir / "estimates",
            )  # fmt: skip
        return self.estimates[cand]

    def objective(self, trial: optuna.Trial) -> tuple[float, float]:
        """(val accuracy, predicted latency ms) of one candidate."""
        cand = self.candidate(trial)
        est = self.estimate(cand)
        trial.set_user_attr("candidate", cand.label)
        trial.set_user_attr("estimate", est)
        trial.set_constraint("budget", over_budget(est))
        latency = float(est["latency_ms"] or 0.0)
        if est["verdict"] != "pass":
            why = "; ".join(str(v.get("message")) for v in est["violations"])
            trial.set_user_attr("outcome", f"skipped, cannot fit: {why}")
            self.reporter.log(f"trial {trial.number}: {cand.label} skipped ({why})")
            return 0.0, latency
        acc = self.train(trial, cand, latency)
        trial.set_user_attr("outcome", "trained")
        self.reporter.log(
            f"trial {trial.number}: {cand.label}: val {acc:.2%}, {latency:.4g} ms predicted"
        )
        return acc, latency

    def train(self, trial: optuna.Trial, cand: Candidate, latency: float) -> float:
        """Distill (with the early-stopping watch), prune and fine-tune; val accuracy."""
        from edgekd.distill.api import distill
        from edgekd.models.config import StudentConfig
        from edgekd.prune.api import prune
        from edgekd.train.finetune import val_accuracy

        student = StudentConfig(arch=cand.arch, width=cand.width, depth=cand.depth)
        watch = Watch(trial, latency, self.recipe.distill.epochs)
        model = distill(
            self.data, self.teacher_logits, student, self.recipe.distill,
            teacher_logits=self.teacher_logits, reporter=watch,
        ).model  # fmt: skip
        trial.set_user_attr("curve", watch.curve)
        if cand.prune:
            cfg = self.recipe.prune.model_copy(update={"method": "structured",
                                                       "sparsity": cand.prune})  # fmt: skip
            model, _ = prune(model, cfg, self.data, self.teacher_logits["train"],
                             self.recipe.distill)  # fmt: skip
        return float(val_accuracy(model, self.data))


class Watch:
    """A progress reporter that reads each epoch's validation accuracy from the training
    loop and stops the trial (``optuna.TrialPruned``) when it cannot beat a finished one."""

    def __init__(self, trial: optuna.Trial, latency: float, epochs: int) -> None:
        self.trial, self.latency, self.epochs = trial, latency, epochs
        self.curve: list[float] = []

    def task(self, description: str, total: int) -> Watch:
        return self

    def log(self, message: str) -> None:
        pass

    def close(self) -> None:
        pass

    def update(self, completed: int, info: str = "") -> None:
        fields = dict(p.split("=", 1) for p in info.split() if "=" in p)
        if "val_acc" not in fields:
            return
        self.curve.append(float(fields["val_acc"]))
        self.check(len(self.curve))

    def check(self, epoch: int) -> None:
        import optuna

        if epoch < max(2, self.epochs // 4):
            return
        mine = self.curve[epoch - 1]
        done = (optuna.trial.TrialState.COMPLETE,)
        for t in self.trial.study.get_trials(deepcopy=False, states=done):
            curve = t.user_attrs.get("curve") or []
            feasible = t.constraints.get("budget", 1.0) <= 0
            if not feasible or t.values[1] > self.latency or len(curve) < epoch:
                continue
            if curve[epoch - 1] - mine > MARGIN:
                self.trial.set_user_attr("curve", self.curve)
                self.trial.set_user_attr(
                    "outcome",
                    f"stopped at epoch {epoch}: val {mine:.2%}, trial {t.number} (no slower) "
                    f"had {curve[epoch - 1]:.2%} there",
                )
                raise optuna.TrialPruned()


def open_study(db: Path, seed: int, trials: int) -> optuna.Study:
    """The study in ``db`` (SQLite), created or loaded: a resumed search continues it."""
    from edgekd.errors import require

    optuna = require("optuna", "search")

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(5, max(1, trials // 3)))
    return optuna.create_study(
        study_name=STUDY,
        storage=f"sqlite:///{db}",
        directions=["maximize", "minimize"],
        sampler=sampler,
        load_if_exists=True,
    )


def seeds(recipe: Recipe, space: Space, input_shape: tuple[int, ...]) -> list[dict[str, Any]]:
    """The first candidates: the recipe's student (its depth, prune ratio and int8) at each
    width of the space up to its own, widest first, which is what shrinking it by hand
    tries, then the recipe's student in each other family of the space that reads the data
    (same width, depth, pruning and precision), so that the family is compared from the start;
    those predicted not to fit cost only their estimate. The sampler takes over after."""

    def near(values: tuple, want: Any) -> Any:
        return min(values, key=lambda v: abs(v - want))

    s, archs = recipe.student, space.for_input(input_shape)
    base = {
        "arch": s.arch if s.arch in archs else archs[0],
        "depth": near(space.depths, s.depth),
        "prune": near(space.prune, recipe.prune.sparsity if recipe.prune.method == "structured"
                      else 0.0),
        "precision": "int8" if "int8" in space.precisions else space.precisions[0],
    }  # fmt: skip
    widths = sorted((w for w in space.widths if w <= s.width), reverse=True)
    first = [{**base, "width": w} for w in widths or [min(space.widths)]]
    width = near(space.widths, s.width)
    return first + [{**base, "arch": a, "width": width} for a in archs if a != base["arch"]]


def trial_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """Every trial as plain data (``trials.json``, the report)."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        if not t.state.is_finished():  # enqueued starting points not run yet
            continue
        attrs = t.user_attrs
        rows.append(
            {
                "number": t.number,
                "state": t.state.name.lower(),
                "params": dict(t.params),
                "candidate": attrs.get("candidate"),
                "val_accuracy": t.values[0] if t.values else None,
                "latency_ms": (attrs.get("estimate") or {}).get("latency_ms"),
                "feasible": t.constraints["budget"] <= 0 if "budget" in t.constraints else None,
                "estimate": attrs.get("estimate"),
                "outcome": attrs.get("outcome"),
                "curve": attrs.get("curve"),
                "seconds": (t.datetime_complete - t.datetime_start).total_seconds()
                if t.datetime_complete and t.datetime_start
                else None,
            }
        )
    return rows


def pareto(rows: list[dict[str, Any]]) -> list[int]:
    """Trial numbers of the feasible, trained trials no other beats on both accuracy and
    predicted latency, fastest first."""
    pts = [r for r in rows if r["state"] == "complete" and r["feasible"]
           and r["outcome"] == "trained"]  # fmt: skip

    def beats(a: dict[str, Any], b: dict[str, Any]) -> bool:
        acc, lat = (
            a["val_accuracy"] - b["val_accuracy"],
            a["latency_ms"] - b["latency_ms"],
        )
        return acc >= 0 and lat <= 0 and (acc > 0 or lat < 0)

    front = [r for r in pts if not any(beats(o, r) for o in pts if o is not r)]
    return [r["number"] for r in sorted(front, key=lambda r: (r["latency_ms"], r["number"]))]


def ranked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Feasible trained trials in the order to try them through the pipeline: the front's
    most accurate first (ties: the faster, then the earlier), then the others by accuracy
    (a candidate the pipeline rejects, e.g. int8 missing its parity gate, gives way)."""
    front = set(pareto(rows))
    ok = [r for r in rows if r["state"] == "complete" and r["feasible"]
          and r["outcome"] == "trained"]  # fmt: skip
    seen: set[tuple] = set()
    out = []
    for r in sorted(ok, key=lambda r: (r["number"] not in front, -r["val_accuracy"],
                                       r["latency_ms"], r["number"])):  # fmt: skip
        key = tuple(sorted(r["params"].items()))
        if key not in seen:  # a candidate sampled twice is tried once
            seen.add(key)
            out.append(r)
    return out
