"""Scaling of rgf.SVC to the sizes mgwr users report as too slow (issue 11): 5,000 and 20,000 units.

    python benchmarks/svc_scaling.py [--sizes 5000,20000] [--gwr-at 5000] [--gwr-timeout 300] [--dims 1]

Design: coordinates uniform on [0, 10]^D (D = ``--dims``), a constant intercept 1 and a varying slope
0.5 + sin(s_1 / 2) (+ cos(s_2 / 3) / 2 in 2-D), x ~ N(0, 1), Gaussian noise sd 0.5. The SVC runs with its
defaults (Gaussian: the collapsed program, whose NUTS step costs O(M^3) in the basis size M and not in
n; the O(n M^2) cross-products are formed once), end to end: data in, surfaces and
spatial_variation() out. Each run is its own process, so the peak resident memory (ru_maxrss) is that
run's alone. mgwr GWR (one AICc bandwidth, n_jobs=1) runs at ``--gwr-at`` units, killed after
``--gwr-timeout`` s. Results: benchmarks/results/svc_scaling.{csv,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"


def simulate(n: int, dims: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    s = rng.uniform(0.0, 10.0, (n, dims))
    x = rng.standard_normal(n)
    slope = 0.5 + np.sin(s[:, 0] / 2.0) + (np.cos(s[:, 1] / 3.0) / 2.0 if dims > 1 else 0.0)
    beta = np.column_stack([np.ones(n), slope])
    y = beta[:, 0] + beta[:, 1] * x + rng.normal(0.0, 0.5, n)
    units = [f"u{i}" for i in range(n)]
    return (pd.Series(y, index=units, name="y"), pd.DataFrame({"x": x}, index=units),
            pd.DataFrame(s, index=units, columns=["s1", "s2", "s3"][:dims]), beta)


def _worst(diagnostics: dict) -> str | None:
    """The variable with the largest R-hat (NUTS), e.g. 'lengthscale[intercept]'."""
    summ = diagnostics.get("summary")
    return None if not summ else summ["variable"][max(range(len(summ["r_hat"])), key=summ["r_hat"].__getitem__)]


def one_run(n: int, dims: int, method: str) -> dict:
    import resource
    import time
    import warnings

    import numpy as np

    y, X, C, beta = simulate(n, dims)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if method == "svc":
            from rgfactor.svc import SVC

            svc = SVC(random_state=0).fit(y, X, C)
            est = svc.coefficients_.transpose("unit", "term").values
            table = svc.spatial_variation()
            extra = {"engine": svc.diagnostics_["method"] + (" (collapsed)" if svc.model_.collapsed else ""),
                     "n_basis": table["n_basis"].iloc[0], "n_divergent": svc.diagnostics_.get("n_divergent"),
                     "max_r_hat": svc.diagnostics_.get("max_r_hat"), "r_hat_worst": _worst(svc.diagnostics_),
                     "min_ess_bulk": svc.diagnostics_.get("min_ess_bulk"),
                     "draws_per_chain": svc.idata_.posterior.sizes["draw"],
                     "p_constant_intercept": float(table["p_constant"].iloc[0])}
        else:
            from mgwr.gwr import GWR
            from mgwr.sel_bw import Sel_BW

            coords = C.to_numpy() if dims > 1 else np.column_stack([C.to_numpy()[:, 0], np.zeros(n)])
            yv, xv = y.to_numpy()[:, None], X.to_numpy()
            bw = Sel_BW(coords, yv, xv, n_jobs=1).search()
            est = GWR(coords, yv, xv, bw, n_jobs=1).fit().params
            extra = {"engine": f"mgwr GWR (AICc bandwidth {bw:g}, n_jobs=1)"}
    wall = time.perf_counter() - t0
    rmse = np.sqrt(((est - beta) ** 2).mean(axis=0))
    return {"method": method, "n_units": n, "dims": dims, "time_s": wall,
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
            "rmse_intercept": float(rmse[0]), "rmse_slope": float(rmse[1]), **extra}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="5000,20000")
    ap.add_argument("--dims", type=int, default=1)
    ap.add_argument("--gwr-at", type=int, default=5000)
    ap.add_argument("--gwr-timeout", type=int, default=300)
    ap.add_argument("--one", nargs=3, metavar=("N", "DIMS", "METHOD"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(one_run(int(args.one[0]), int(args.one[1]), args.one[2])))
        return 0
    jobs = [(int(n), "svc") for n in args.sizes.split(",")] + ([(args.gwr_at, "gwr")] if args.gwr_at else [])
    if args.dims > 2 and args.gwr_at:
        ap.error("mgwr's GWR takes 2-D coordinates: pass --gwr-at 0 with --dims 3")
    rows = []
    for n, method in jobs:
        cmd = [sys.executable, __file__, "--one", str(n), str(args.dims), method]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                                 timeout=args.gwr_timeout if method == "gwr" else None)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        except subprocess.TimeoutExpired:
            rows.append({"method": method, "n_units": n, "dims": args.dims,
                         "engine": f"mgwr GWR: not finished in {args.gwr_timeout} s (killed)"})
        print(rows[-1], flush=True)
        write(rows)
    return 0


def write(rows: list) -> None:
    """Merge ``rows`` into benchmarks/results/svc_scaling.csv (a new row replaces the one with the same method,
    size and dimension; the others are kept) and rewrite the markdown table from it."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "svc_scaling.csv"
    df = pd.DataFrame(rows)
    if path.exists():
        old = pd.read_csv(path)
        if "dims" not in old:
            old["dims"] = 1
        key = ["method", "n_units", "dims"]
        kept = old.merge(df[key], on=key, how="left", indicator=True)["_merge"].eq("left_only").to_numpy()
        df = pd.concat([old[kept], df], ignore_index=True).sort_values(["dims", "method", "n_units"],
                                                                        ascending=[True, False, True])
    df.to_csv(path, index=False)
    (RESULTS / "svc_scaling.md").write_text(
            "# SVC scaling, 1-D and 2-D Gaussian designs (benchmarks/svc_scaling.py)\n\n"
            f"Machine: {platform.platform()} (2 CPU cores shared with other jobs). Time end to end (data in, "
            "surfaces and spatial_variation() out, incl. JAX compilation), peak resident memory of the "
            "run's own process. Rows: `python benchmarks/svc_scaling.py --dims D --sizes N1,N2 --gwr-at N "
            "--gwr-timeout 300`.\n\n" + df.to_markdown(index=False, floatfmt=tuple(
                {"time_s": ".0f", "max_r_hat": ".4f", "min_ess_bulk": ".0f"}.get(c, ".3g") for c in df.columns)) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
