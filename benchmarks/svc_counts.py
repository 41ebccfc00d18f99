"""SVC with counts (issue 11): negative binomial counts with log size factors on a 12 x 12 grid, a constant
intercept and a slope varying from 0.2 to 0.8 across the grid; rgf.SVC (NUTS on the non-centred program)
against mgwr's Poisson GWR (AICc bandwidth, exposure exp(offset)), the reference the issue names.

    python benchmarks/svc_counts.py [--replicates 1]

Reports per replicate: RMSE of each surface, 95% interval coverage of the true surfaces, divergent
transitions, max R-hat and times. Results: benchmarks/results/svc_counts.{csv,md}. (Too slow for the test
suite: minutes per fit on 2 cores.)
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"
SURFACES = {"intercept": lambda u, v: np.full_like(u, 1.0), "x": lambda u, v: 0.2 + 0.6 * (u + v) / 22.0}


def one(replicate: int) -> dict:
    from mgwr.gwr import GWR
    from mgwr.sel_bw import Sel_BW
    from spglm.family import Poisson

    from rgfactor.simulate_svc import grid_design, surface_recovery
    from rgfactor.svc import SVC

    y, X, C, truth = grid_design(SURFACES, n_side=12, likelihood="negative_binomial", dispersion=10.0,
                                 log_offset_sd=0.3, random_state=3 + replicate)
    beta = truth["beta"].to_numpy()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        svc = SVC("negative_binomial", num_warmup=300, num_draws=300, target_accept=0.9,
                  random_state=replicate).fit(y, X, C, offset=truth["offset"])
    t_svc = time.perf_counter() - t0
    rmse, cover = surface_recovery(svc, beta)

    coords, yv, xv = C.to_numpy(), y.to_numpy()[:, None], X.to_numpy()
    exposure = np.exp(truth["offset"].to_numpy())[:, None]
    t0 = time.perf_counter()
    bw = Sel_BW(coords, yv, xv, family=Poisson(), offset=exposure, n_jobs=1).search()
    gwr = GWR(coords, yv, xv, bw, family=Poisson(), offset=exposure, n_jobs=1).fit().params
    t_gwr = time.perf_counter() - t0
    rmse_gwr = np.sqrt(((gwr - beta) ** 2).mean(axis=0))
    return {"replicate": replicate, "svc_rmse_intercept": rmse[0], "svc_rmse_slope": rmse[1],
            "svc_cover_intercept": cover[0], "svc_cover_slope": cover[1],
            "svc_divergent": svc.diagnostics_.get("n_divergent"), "svc_max_rhat": svc.diagnostics_.get("max_r_hat"),
            "svc_s": t_svc, "gwr_rmse_intercept": rmse_gwr[0], "gwr_rmse_slope": rmse_gwr[1], "gwr_s": t_gwr}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--replicates", type=int, default=1)
    args = ap.parse_args(argv)
    rows = []
    for r in range(args.replicates):
        rows.append(one(r))
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    RESULTS.mkdir(exist_ok=True)
    table.to_csv(RESULTS / "svc_counts.csv", index=False)
    (RESULTS / "svc_counts.md").write_text(
        "# SVC with negative binomial counts vs mgwr Poisson GWR (12 x 12 grid, slope 0.2..0.8)\n\n"
        f"`python benchmarks/svc_counts.py --replicates {args.replicates}`\n\n"
        + table.to_markdown(index=False, floatfmt=".3f") + "\n")
    print(table.to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
