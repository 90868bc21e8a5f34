"""``edgekd fit``: the best student for a target's budgets (Optuna search over the zoo's
families, width/depth, pruning ratio and precision), then the whole pipeline on it;
``edgekd.fit(...)``."""

from edgekd.api_module import make_callable

make_callable(__name__, "edgekd.fit.api:fit")
