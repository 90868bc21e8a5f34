"""``edgekd fit``: bad inputs exit 2 with one message; the search skips what cannot fit,
stops what cannot win, writes every trial, runs the chosen model through the pipeline and
continues with ``--resume``."""

from __future__ import annotations

import json

import pytest

from edgekd.errors import BudgetError
from edgekd.fit.space import Candidate, Space
from tests.conftest import FAST

TINY = [*FAST, "--set", "distill.epochs=10", "--set", "prune.fine_tune.epochs=2"]
SPACE = Space(archs=("cnn",), widths=(8,), depths=(1,), prune=(0.0, 0.25), precisions=("int8",))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--target is required"),
        (["--target", "no-such-board"], "no-such-board"),
        (["--target", "nano-33-ble", "--budget", "latency_ms"], "expected KEY=VALUE"),
        (["--target", "nano-33-ble", "--budget", "latency_ms=fast"], "is not a number"),
        (["--target", "nano-33-ble", "--budget", "speed=3"], "unknown budget key 'speed'"),
        (["--target", "nano-33-ble", "--trials", "0"], "--trials 0: must be at least 1"),
        (["--target", "nano-33-ble", "--time-budget", "0"], "must be more than 0 minutes"),
        (["--target", "nano-33-ble", "--set", "student.model=torchvision:resnet18"],
         "edgekd fit searches zoo students"),
        (["--target", "nano-33-ble", "--resume"], "--resume: no unfinished edgekd fit"),
        (["--target", "nano-33-ble", "--set", "task=causal_lm", "--set", "data.source=completions",
          "--set", "data.path=x.jsonl"], "edgekd fit searches classification students"),
    ],
)  # fmt: skip
def test_bad_inputs_exit_2_with_one_message(cli, tmp_path, args, message):
    r = cli("fit", "--out", str(tmp_path), "--quiet", *args)
    assert r.exit_code == 2, r.stdout + r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_candidate_recipe_is_the_searched_student_for_the_target():
    from edgekd.recipe.schema import Recipe

    r = Candidate("cnn", 12, 3, 0.25, "int8").recipe(Recipe(), "nano-33-ble", {"latency_ms": 2})
    assert (r.student.width, r.student.depth, r.prune.sparsity) == (12, 3, 0.25)
    assert r.quantize.method == "static" and r.export.tflite.precision == ["int8"]
    assert r.targets.names == ["nano-33-ble"] and r.targets.budgets["nano-33-ble"] == {
        "latency_ms": 2
    }
    assert Candidate("cnn", 12, 3, 0.0, "fp32").recipe(Recipe(), "x", {}).prune.method == "none"
    assert Candidate("cnn", 16, 2, 0.5, "fp32").pruned_width == 8


def test_early_stop_only_against_a_finished_no_slower_candidate():
    import optuna

    from edgekd.fit.search import Watch

    study = optuna.create_study(directions=["maximize", "minimize"])
    done = optuna.trial.create_trial(
        values=[0.95, 1.0], user_attrs={"curve": [0.9] * 8}, params={}, distributions={}
    )
    done.set_constraint("budget", -1.0)  # feasible
    study.add_trial(done)
    slower = Watch(study.ask(), latency=2.0, epochs=8)
    slower.update(1, "loss=1.0 val_acc=0.5000")  # before the warm-up: never stopped
    with pytest.raises(optuna.TrialPruned):
        slower.update(2, "loss=1.0 val_acc=0.5000")
    assert "stopped at epoch 2" in slower.trial.user_attrs["outcome"]
    faster = Watch(study.ask(), latency=0.5, epochs=8)  # could still be on the front
    for e in range(1, 9):
        faster.update(e, "loss=1.0 val_acc=0.5000")
    assert faster.curve == [0.5] * 8


def _recipe(*extra: str):
    from edgekd.recipe.load import load_recipe

    sets = [v for i, v in enumerate([*TINY, *extra]) if i % 2 == 1]
    return load_recipe(None, sets)


def test_no_candidate_fits_exits_3_without_training(tmp_path):
    from edgekd.cli import main
    from edgekd.fit.api import fit

    with pytest.raises(BudgetError, match="no candidate of the search space fits nano-33-ble"):
        fit(_recipe(), "nano-33-ble", {"latency_ms": 1e-9}, trials=2, out_dir=tmp_path,
            space=SPACE)  # fmt: skip
    (run,) = tmp_path.iterdir()
    rows = json.loads((run / "trials.json").read_text())  # skipped ones do not count: 5 per
    assert len(rows) == 10  # trial are sampled before giving up
    assert all(r["outcome"].startswith("skipped, cannot fit: latency_ms") for r in rows)
    assert json.loads((run / "manifest.json").read_text())["status"] == "failed"
    code = main(["fit", "--target", "nano-33-ble", "--budget", "latency_ms=1e-9", "--trials",
                 "1", "--out", str(tmp_path / "cli"), "--quiet", *TINY])  # fmt: skip
    assert code == 3


@pytest.mark.slow
def test_fit_searches_ships_the_chosen_model_and_resumes(tmp_path):
    from edgekd.fit.api import fit

    result = fit(_recipe(), "nano-33-ble", {"latency_ms": 50}, trials=2, out_dir=tmp_path,
                 space=SPACE)  # fmt: skip
    run, f = result.run_dir, result.fit
    assert (run / "study.db").is_file() and (run / "fit.json").is_file()
    assert len(json.loads((run / "trials.json").read_text())) == 2
    chosen = f["chosen"]
    assert chosen["number"] in f["pareto_front"] and chosen["outcome"] == "trained"
    assert chosen["estimate"]["verdict"] == "pass"
    # the whole pipeline ran on it: exported, checked, evaluated, judged on the target
    pipe = f["pipeline"]
    report = json.loads((run / pipe["run_dir"] / "report.json").read_text())
    assert pipe["fits"] and pipe["artifact"] in {a["id"] for a in report["artifacts"]}
    assert report["recipe"]["student"]["width"] == 8
    assert pipe["test_accuracy"] > 0.3  # 10 epochs of a one-block student; chance is 0.1
    html = (run / "report.html").read_text()
    assert "<svg" in html and "Pareto front" in html and "<script" not in html
    # --resume continues the same study (two more trials), the teacher not trained again
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["status"] = "interrupted"  # as a Ctrl-C leaves it
    (run / "manifest.json").write_text(json.dumps(manifest))
    again = fit(_recipe(), "nano-33-ble", {"latency_ms": 50}, trials=4, out_dir=tmp_path,
                space=SPACE, resume=True)  # fmt: skip
    assert again.run_dir == run and len(again.fit["trials"]) == 4
    skipped = json.loads((run / "manifest.json").read_text())["stages"]
    assert skipped["teacher"]["attempt"] == 1  # done by the first search, not redone


def test_search_starts_by_hand_then_tries_every_family_that_reads_the_data():
    from edgekd.fit.search import seeds
    from edgekd.recipe.schema import Recipe

    recipe = Recipe()  # the default student: cnn 16x2, pruned 25%
    first = seeds(recipe, Space(), (1, 8, 8))
    # what shrinking it by hand tries, widest first, then the same student as an mlp
    assert [(p["arch"], p["width"]) for p in first] == [
        ("cnn", 16), ("cnn", 12), ("cnn", 8), ("cnn", 6), ("cnn", 4), ("mlp", 16)
    ]  # fmt: skip
    assert all((p["depth"], p["prune"], p["precision"]) == (2, 0.25, "int8") for p in first)
    # rows of features: a cnn cannot read them, so only the mlp family is searched
    assert Space().for_input((30,)) == ("mlp",)
    assert {p["arch"] for p in seeds(recipe, Space(), (30,))} == {"mlp"}
    assert Space(archs=("cnn",)).for_input((30,)) == ()
