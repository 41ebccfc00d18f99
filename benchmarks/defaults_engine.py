"""Evidence for the default engine and number of draws (issue 9), on the real cohorts.

Engine: GFA (K = 10, the default prior and view weights) fitted by each engine on TCGA-LGG
(``models/lgg_radiogenomics.toml``'s data: 851 FLAIR radiomic features + 20 mutation calls, site effects)
and on CLL (drugs + mutations), scored by the subject-level 3-fold held-out log predictive density of
each view given the others (``rgfactor.model_selection.cross_validate``), with the fit's wall time.
NUTS (1 chain, 300 + 300) only on CLL's first fold with ``--nuts`` (minutes per fit here).

Number of draws: the draws a fit stores feed every posterior summary, PSIS-LOO and ``compare``. For
S in 50 ... 1000, five fits of LGG with different seeds give the Monte Carlo spread of what a user
reads: elpd_loo (subject as the unit; rotation-invariant, so comparable across fits) as its sd over
seeds, p_loo and the largest Pareto k, with the wall time from data to LOO (draws and pointwise
log-likelihood included). The Monte Carlo error of a posterior mean from S independent draws of q is
the posterior sd / sqrt(S) (0.07 sd at S = 200).

    nice -n 5 python benchmarks/defaults_engine.py            # ~20 min on 2 cores
    nice -n 5 python benchmarks/defaults_engine.py --only draws

Writes benchmarks/results/defaults_engine.{csv,md}. Seeds fixed.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"
DRAWS = (50, 100, 200, 500, 1000)


def cohorts() -> dict:
    from rgfactor.data.loaders import cll, lgg_radiogenomics

    lgg, _ = lgg_radiogenomics(DATA / "tcga_lgg_radiogenomics")
    cll_data, _ = cll(DATA / "cll")
    return {"LGG": (lgg, True), "CLL": (cll_data, False)}


def engines(nuts: bool) -> list[dict]:
    import rgfactor as rgf
    from rgfactor.model_selection import SubjectKFold, cross_validate

    rows = []
    for cohort, (data, site) in cohorts().items():
        plan = [("cavi", {}, 3), ("svi", {}, 3)]
        if nuts and cohort == "CLL":
            plan.append(("nuts", {"num_chains": 1, "num_warmup": 300, "num_draws": 300}, 1))
        for method, extra, n_folds in plan:
            est = rgf.GFA(10, site_effects=site, method=method, progress=False, random_state=0, **extra)
            cv = SubjectKFold(3, random_state=0)
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if n_folds < 3:   # NUTS: the first fold only
                    first = next(iter(cv.split(data)))
                    scores = cross_validate(est, data, _OneSplit(first), num_draws=100)
                else:
                    scores = cross_validate(est, data, cv, num_draws=100)
            wall = (time.perf_counter() - t0) / len(scores)
            row = {"study": "engine", "cohort": cohort, "method": method, "folds": len(scores), "fit_s": wall}
            row.update({c: float(scores[c].mean()) for c in scores.columns if c.startswith("lpd_")})
            print(row, flush=True)
            rows.append(row)
    return rows


class _OneSplit:
    """A cross-validation split with one fold (the first of SubjectKFold's)."""

    def __init__(self, split):
        self._split = split

    def split(self, data):
        yield self._split


def draws(seeds: int = 5) -> list[dict]:
    import rgfactor as rgf
    from rgfactor.model_selection import loo

    data, _ = cohorts()["LGG"]
    rows = []
    for s in DRAWS:
        per_seed = []
        for seed in range(seeds):
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = rgf.GFA(10, site_effects=True, num_draws=s, progress=False, random_state=seed).fit(data)
                res = loo(model)
            per_seed.append({"elpd_loo": float(res.elpd_loo), "p_loo": float(res.p_loo),
                             "max_pareto_k": float(np.max(res.pareto_k)), "wall_s": time.perf_counter() - t0})
        frame = pd.DataFrame(per_seed)
        row = {"study": "draws", "cohort": "LGG", "method": "cavi", "num_draws": s,
               "fit_and_loo_s": float(frame["wall_s"].median()), "elpd_loo_mean": float(frame["elpd_loo"].mean()),
               "elpd_loo_sd_over_seeds": float(frame["elpd_loo"].std()), "p_loo_mean": float(frame["p_loo"].mean()),
               "max_pareto_k_mean": float(frame["max_pareto_k"].mean())}
        print(row, flush=True)
        rows.append(row)
    return rows


def markdown(table: pd.DataFrame, command: str) -> str:
    out = ["# Default engine and number of draws (issue 9)", "", f"`{command}`", ""]
    eng = table[table["study"] == "engine"].dropna(axis=1, how="all")
    if len(eng):
        out += ["## Engine: subject-level 3-fold held-out log predictive density (per subject, higher is better)", "",
                eng.drop(columns="study").to_markdown(index=False, floatfmt=".4g"), ""]
    dr = table[table["study"] == "draws"].dropna(axis=1, how="all")
    if len(dr):
        out += ["## Number of draws: Monte Carlo spread over 5 seeds (TCGA-LGG, CAVI, K = 10)", "",
                dr.drop(columns=["study", "cohort", "method"]).to_markdown(index=False, floatfmt=".4g"), ""]
    return "\n".join(out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=("engine", "draws"), action="append")
    ap.add_argument("--nuts", action="store_true", help="also NUTS on CLL's first fold (slow)")
    args = ap.parse_args(argv)
    only = set(args.only or ("engine", "draws"))
    rows = (engines(args.nuts) if "engine" in only else []) + (draws() if "draws" in only else [])
    table = pd.DataFrame(rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    table.to_csv(RESULTS / "defaults_engine.csv", index=False)
    command = "python benchmarks/defaults_engine.py " + " ".join(argv if argv is not None else __import__("sys").argv[1:])
    (RESULTS / "defaults_engine.md").write_text(markdown(table, command.strip()))
    print(markdown(table, command.strip()))


if __name__ == "__main__":
    main()
