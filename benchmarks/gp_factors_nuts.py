"""NUTS on the GP factor prior: sampler health over seeds, and the closed form's (scale, lengthscale)
intervals against the NUTS posterior on the same data.

Design (the one of issue 12's NUTS item): ``rgf.simulate.spatial(80, lengthscales=(0.2, 0), views={"expr":
("gaussian", 15)}, n_coordinates=1, random_state=seed)``: 80 subjects on [0, 1], one smooth factor
(squared-exponential GP, lengthscale 0.2) and one N(0, 1) factor, one Gaussian view of 15 features.
Fits: ``GFA(n_factors=2, factor_prior="gp", method="nuts", num_chains=2)`` with the default warmup and
draws (500 + 500 per chain), default lengthscale_range and basis, ``random_state=0``; then
``method="cavi"`` (the default engine) on the same data.

Reported per seed (NUTS): divergent transitions, max R-hat (rank-normalised, Vehtari et al. 2021) over
the scalars (scale, lengthscale, ARD precisions, noise sds, intercepts) and over Z and the loadings
(after sign/permutation alignment), min bulk ESS over all of them, min E-BFMI, wall time of the fit
(MultiViewData in, fitted model out, compilation included) with the 1-minute load average at its end
(the machine is shared: 2 cores). Recovery: |corr| of the true smooth factor with its matched fitted
factor, whether that factor's 95% lengthscale interval holds 0.2, and the posterior of the other
factor's scale (median, 95% upper quantile). Then per seed and factor, the closed form's scale and
lengthscale (point, 95% interval from its grid conditional) beside NUTS's (median, 95% interval), and
the width ratio.

    python benchmarks/gp_factors_nuts.py [--seeds 0 1 2]

Writes benchmarks/results/gp_factors_nuts.md (after every seed).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd

import rgfactor as rgf

RESULTS = Path(__file__).resolve().parent / "results"
SCALARS = ("scale", "lengthscale", "alpha_expr", "sigma_expr", "intercept_expr")
BLOCKS = ("Z", "W_expr")


def simulate(seed: int):
    return rgf.simulate.spatial(80, (0.2, 0.0), views={"expr": ("gaussian", 15)}, n_coordinates=1, random_state=seed)


def fit(data, method: str):
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = rgf.GFA(n_factors=2, factor_prior="gp", method=method, num_chains=2, progress=False,
                        random_state=0).fit(data)
    return model, time.perf_counter() - t0, os.getloadavg()[0]


def smooth_index(model, truth) -> tuple[int, float]:
    """The fitted factor matched to the true smooth factor (column 0 of the truth) and its |corr|."""
    c = np.abs(np.corrcoef(np.c_[truth["Z"][:, 0], model.factors_.values].T)[0, 1:])
    return int(np.argmax(c)), float(c.max())


def nuts_row(seed, model, wall, load, truth) -> dict:
    post = model.idata_.posterior
    scalars = az.summary(model.idata_, var_names=[v for v in SCALARS if v in post], kind="diagnostics", round_to="none")
    blocks = az.summary(model.idata_, var_names=list(BLOCKS), kind="diagnostics", round_to="none")
    k, corr = smooth_index(model, truth)
    ls = post["lengthscale"].values[..., k].ravel()
    other = post["scale"].values[..., 1 - k].ravel()
    d = model.diagnostics_
    return {"seed": seed, "divergent": d["n_divergent"], "max_rhat_scalars": scalars["r_hat"].max(),
            "max_rhat_Z_W": blocks["r_hat"].max(), "min_ess_bulk": min(scalars["ess_bulk"].min(), blocks["ess_bulk"].min()),
            "min_bfmi": d.get("min_bfmi"), "time_s": wall, "load_avg": load, "smooth_corr": corr,
            "lengthscale_95": f"{np.quantile(ls, 0.025):.3f}-{np.quantile(ls, 0.975):.3f}",
            "holds_0.2": bool(np.quantile(ls, 0.025) <= 0.2 <= np.quantile(ls, 0.975)),
            "other_scale_median": np.median(other), "other_scale_97.5%": np.quantile(other, 0.975)}


def interval_rows(seed, nuts, cavi, truth) -> list[dict]:
    """Per factor (matched by the smooth factor), closed form vs NUTS for scale and lengthscale."""
    kn, _ = smooth_index(nuts, truth)
    kc, _ = smooth_index(cavi, truth)
    tn, tc = nuts.factor_smoothness(), cavi.factor_smoothness()
    rows = []
    for label, fn, fc in (("smooth", kn, kc), ("non-smooth", 1 - kn, 1 - kc)):
        for var in ("scale", "lengthscale"):
            a, b = tn.iloc[fn], tc.iloc[fc]
            draws = nuts.idata_.posterior[var].values[..., fn].ravel()
            wn, wc = a[f"{var}_97.5%"] - a[f"{var}_2.5%"], b[f"{var}_97.5%"] - b[f"{var}_2.5%"]
            rows.append({"seed": seed, "factor": label, "variable": var,
                         "nuts_median": np.median(draws), "nuts_95": f"{a[f'{var}_2.5%']:.3f}-{a[f'{var}_97.5%']:.3f}",
                         "cavi_point": b[var], "cavi_95": f"{b[f'{var}_2.5%']:.3f}-{b[f'{var}_97.5%']:.3f}",
                         "cavi_point_in_nuts_95": bool(a[f"{var}_2.5%"] <= b[var] <= a[f"{var}_97.5%"]),
                         "width_ratio_cavi_over_nuts": wc / wn})
    return rows


def write(nuts_rows, cavi_rows, cavi_times, started) -> None:
    RESULTS.mkdir(exist_ok=True)
    lines = ["# NUTS on the GP factor prior: sampler health, and the closed form's intervals against NUTS", "",
             f"Run {started} on {platform.node()} ({os.cpu_count()} cores, shared), `python benchmarks/gp_factors_nuts.py`;",
             "design and columns: the script's docstring. NUTS: 2 chains, 500 warmup + 500 draws each, random_state=0.", "",
             "## NUTS", "", pd.DataFrame(nuts_rows).to_markdown(index=False, floatfmt=".3f"), ""]
    if cavi_rows:
        lines += ["## Closed form (CAVI) vs NUTS: scale and lengthscale", "",
                  "`cavi_95` is the closed form's interval (its grid conditional given q(Z), q(u)); `nuts_95` the "
                  "NUTS posterior's central 95% interval.", "",
                  pd.DataFrame(cavi_rows).to_markdown(index=False, floatfmt=".3f"), "",
                  "Closed-form fit times (s): " + ", ".join(f"seed {s}: {t:.1f}" for s, t in cavi_times), ""]
    (RESULTS / "gp_factors_nuts.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    nuts_rows, cavi_rows, cavi_times = [], [], []
    for seed in args.seeds:
        data, truth = simulate(seed)
        nuts, wall, load = fit(data, "nuts")
        nuts_rows.append(nuts_row(seed, nuts, wall, load, truth))
        cavi, wall_c, _ = fit(data, "cavi")
        cavi_rows += interval_rows(seed, nuts, cavi, truth)
        cavi_times.append((seed, wall_c))
        print(nuts_rows[-1], flush=True)
        write(nuts_rows, cavi_rows, cavi_times, started)


if __name__ == "__main__":
    main()
