"""SVC with a binary response (issue 11): Bernoulli (logit) responses on a grid with a constant intercept
and a slope varying across the grid; rgf.SVC (NUTS on the non-centred program) against mgwr's binomial
GWR (AICc bandwidth, n_jobs=1), the reference the issue names.

    python benchmarks/svc_bernoulli.py [--replicates 3] [--n-side 20]

Design (:data:`rgfactor.simulate_svc.BERNOULLI_SURFACES`): u, v = 0..n_side-1, logit P(y = 1) =
beta0 + beta1(u, v) x, beta0 = 0 (constant), beta1 rising linearly from -0.5 to 1.5 across the grid
diagonal, x ~ N(0, 1). Reports per replicate: RMSE of each surface, pointwise 95% interval coverage
of the true surfaces, divergent transitions, max R-hat, P(constant) per term and times end to end.
Results: benchmarks/results/svc_bernoulli.{csv,md}, written after every replicate.
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"
SETTINGS = {"num_warmup": 500, "num_draws": 500, "target_accept": 0.9}


def one(replicate: int, n_side: int) -> dict:
    from mgwr.gwr import GWR
    from mgwr.sel_bw import Sel_BW
    from spglm.family import Binomial

    from rgfactor.simulate_svc import bernoulli_design, surface_recovery
    from rgfactor.svc import SVC

    y, X, C, truth = bernoulli_design(n_side=n_side, random_state=replicate)
    beta = truth["beta"].to_numpy()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        svc = SVC("bernoulli", random_state=replicate, **SETTINGS).fit(y, X, C)
    t_svc = time.perf_counter() - t0
    rmse, cover = surface_recovery(svc, beta)
    table = svc.spatial_variation()
    row = {"replicate": replicate, "n_units": len(y), "svc_rmse_intercept": rmse[0], "svc_rmse_slope": rmse[1],
           "svc_cover_intercept": cover[0], "svc_cover_slope": cover[1],
           "svc_divergent": svc.diagnostics_.get("n_divergent"), "svc_max_rhat": svc.diagnostics_.get("max_r_hat"),
           "svc_p_constant_intercept": table["p_constant"].iloc[0], "svc_p_constant_slope": table["p_constant"].iloc[1],
           "svc_n_basis": table["n_basis"].iloc[0], "svc_refits": len(svc.diagnostics_["basis_refits"]),
           "svc_s": t_svc}

    coords, yv, xv = C.to_numpy(), y.to_numpy()[:, None], X.to_numpy()
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bw = Sel_BW(coords, yv, xv, family=Binomial(), n_jobs=1).search()
            gwr = GWR(coords, yv, xv, bw, family=Binomial(), n_jobs=1).fit().params
        rmse_gwr = np.sqrt(((gwr - beta) ** 2).mean(axis=0))
        row.update(gwr_bandwidth=bw, gwr_rmse_intercept=rmse_gwr[0], gwr_rmse_slope=rmse_gwr[1],
                   gwr_nan=int(np.isnan(gwr).any(axis=1).sum()))
    except Exception as err:   # mgwr's binomial GWR can fail (singular local fits); recorded, not fatal
        row.update(gwr_error=f"{type(err).__name__}: {err}"[:120])
    row["gwr_s"] = time.perf_counter() - t0
    return row


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--replicates", type=int, default=3)
    ap.add_argument("--n-side", type=int, default=20)
    args = ap.parse_args(argv)
    rows = []
    for r in range(args.replicates):
        rows.append(one(r, args.n_side))
        print(rows[-1], flush=True)
        write(pd.DataFrame(rows), args)


def write(table: pd.DataFrame, args) -> None:
    RESULTS.mkdir(exist_ok=True)
    table.to_csv(RESULTS / "svc_bernoulli.csv", index=False)
    means = table.drop(columns=[c for c in ("replicate", "gwr_error") if c in table]).mean(numeric_only=True)
    text = (f"# SVC with a Bernoulli response vs mgwr binomial GWR ({args.n_side} x {args.n_side} grid, "
            "constant intercept 0, slope -0.5..1.5)\n\n"
            f"`python benchmarks/svc_bernoulli.py --replicates {args.replicates} --n-side {args.n_side}`\n\n"
            f"Machine: {platform.platform()} (2 CPU cores shared with other jobs). SVC defaults (basis rule, "
            f"NUTS on the non-centred program), 2 chains x ({SETTINGS['num_warmup']} warmup + "
            f"{SETTINGS['num_draws']} draws), target_accept {SETTINGS['target_accept']}; mgwr n_jobs=1. "
            "Times end to end (data in, surfaces out).\n\n"
            + table.to_markdown(index=False, floatfmt=".3f") + "\n\nMeans over replicates:\n\n"
            + means.to_frame("mean").to_markdown(floatfmt=".3f") + "\n")
    (RESULTS / "svc_bernoulli.md").write_text(text)


if __name__ == "__main__":
    main()
