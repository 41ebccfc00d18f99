"""Scaling of spatially smooth factors (``factor_prior="gp"``, closed-form engine) to 20,000 and 100,000 cells.

    python benchmarks/gp_factors_scaling.py [--sizes 20000,100000] [--genes 40] [--factors 5] [--timeout 1800]
        [--gp-basis hsgp|convolution]

Design: ``rgf.simulate.spatial(N, lengthscales=(0.1, 0.3, 0, 0, 0))`` in the unit square (two smooth
factors, three N(0, 1) ones), one negative-binomial view of ``--genes`` genes (library sizes and size
factors as the simulator draws them), K = ``--factors``. The simulator draws its smooth factors exactly
(O(N^3)), so above 5,000 cells the factors here are drawn instead from the same kernel by random
Fourier features (2,000 features: a squared-exponential GP up to Monte Carlo error) and the counts by
:func:`rgfactor.simulate.multiview` given them. GFA with its defaults (``method='auto'``: closed form;
default lengthscale_range and basis), end to end: MultiViewData in, fitted model and
``factor_smoothness()`` out, JAX compilation included. Each size runs in its own process, so the peak
resident memory (ru_maxrss) is that run's alone; a run past ``--timeout`` s is killed and said so.

Writes benchmarks/results/gp_factors_scaling.{csv,md} (``--gp-basis convolution``:
gp_factors_scaling_convolution.{csv,md}).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"
LENGTHSCALES = (0.1, 0.3, 0.0, 0.0, 0.0)


def simulate(n: int, genes: int, k: int, seed: int = 0):
    """(MultiViewData with coordinates, true Z (n, k)): smooth factors by random Fourier features."""
    import numpy as np

    import rgfactor as rgf

    rng = np.random.default_rng(seed)
    coords = rng.random((n, 2))
    z = rng.normal(size=(n, k))
    n_feat = 2000
    for j, ls in enumerate(LENGTHSCALES[:k]):
        if ls > 0:   # SE kernel exp(-d^2 / 2 ls^2): frequencies ~ N(0, I / ls^2)
            omega = rng.normal(size=(2, n_feat)) / ls
            phase = rng.uniform(0, 2 * np.pi, n_feat)
            feats = np.sqrt(2.0 / n_feat) * np.cos(coords @ omega + phase)
            z[:, j] = feats @ rng.normal(size=n_feat)
    data, _ = rgf.simulate.multiview(n, k, views={"rna": ("negative_binomial", genes)}, n_sites=0,
                                     activity=np.ones((1, k), dtype=int), missing_views=0.0, values={"Z": z},
                                     random_state=seed)
    frame = pd.DataFrame(coords, index=data.subjects, columns=["x", "y"])
    return rgf.MultiViewData.from_pandas(data.views, data.likelihoods, coordinates=frame), z


def one_run(n: int, genes: int, k: int, gp_basis: str = "hsgp") -> dict:
    import resource
    import time
    import warnings

    import numpy as np
    from scipy.optimize import linear_sum_assignment

    import rgfactor as rgf

    t_sim = time.perf_counter()
    data, z = simulate(n, genes, k)
    t_sim = time.perf_counter() - t_sim
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = rgf.GFA(n_factors=k, factor_prior="gp", gp_basis=gp_basis, progress=False, random_state=0).fit(data)
        smooth = model.factor_smoothness()
    wall = time.perf_counter() - t0
    c = np.abs(np.corrcoef(np.c_[z, model.factors_.values].T)[:k, k:])
    rows, cols = linear_sum_assignment(-c)
    smooth_k = [j for j, ls in enumerate(LENGTHSCALES[:k]) if ls > 0]
    return {"n_cells": n, "gp_basis": gp_basis, "genes": genes, "factors": k, "time_s": wall, "simulate_s": t_sim,
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
            "engine": model.diagnostics_["method"], "sweeps": model.diagnostics_.get("n_steps"),
            "converged": model.diagnostics_.get("converged"), "basis_functions": model.model_.factors.basis.size,
            "smooth_factor_corr": ", ".join(f"{c[j, cols[j]]:.3f}" for j in smooth_k),
            "smooth_factor_lengthscale": ", ".join(f"{smooth['lengthscale'].iloc[cols[j]]:.3g}" for j in smooth_k),
            "smooth_factor_scale": ", ".join(f"{smooth['scale'].iloc[cols[j]]:.2f}" for j in smooth_k)}


def isolated(n: int, args) -> dict:
    """One size in a fresh process: its result row, or a row saying why there is none."""
    cmd = [sys.executable, __file__, "--one", str(n), str(args.genes), str(args.factors), "--gp-basis", args.gp_basis]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"n_cells": n, "engine": f"not finished in {args.timeout} s (killed)"}
    if out.returncode:
        return {"n_cells": n, "engine": f"failed: {(out.stderr.strip().splitlines() or ['?'])[-1][:200]}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def write(df: pd.DataFrame, args) -> None:
    """benchmarks/results/gp_factors_scaling.{csv,md}."""
    head = (f"# Spatially smooth factors: scaling (benchmarks/gp_factors_scaling.py)\n\n"
            f"`python benchmarks/gp_factors_scaling.py --sizes {args.sizes} --genes {args.genes} --factors "
            f"{args.factors} --gp-basis {args.gp_basis}`. Machine: {platform.platform()} ({os.cpu_count()} CPU cores shared with other jobs; "
            f"load average when written {os.getloadavg()[0]:.1f}). One NB view, true lengthscales "
            f"{list(LENGTHSCALES[:args.factors])} in the unit square. time_s: end to end (data in, fitted model "
            "and factor_smoothness() out, incl. JAX compilation); simulate_s: drawing the data (not included); "
            "peak_rss_gb: peak resident memory of the run's own process. smooth_factor_*: |corr| with the "
            "true smooth factors (Hungarian matching), their fitted lengthscale and scale.\n\n")
    RESULTS.mkdir(exist_ok=True)
    stem = "gp_factors_scaling" + ("" if args.gp_basis == "hsgp" else f"_{args.gp_basis}")
    df.to_csv(RESULTS / f"{stem}.csv", index=False)
    (RESULTS / f"{stem}.md").write_text(head + df.to_markdown(index=False, floatfmt=".3g") + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="20000,100000")
    ap.add_argument("--genes", type=int, default=40)
    ap.add_argument("--factors", type=int, default=5)
    ap.add_argument("--timeout", type=int, default=1800)
    ap.add_argument("--gp-basis", default="hsgp", choices=("hsgp", "convolution"))
    ap.add_argument("--one", nargs=3, type=int, metavar=("N", "GENES", "K"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(one_run(*args.one, args.gp_basis)))
        return 0
    rows = []
    for n in (int(v) for v in args.sizes.split(",")):
        rows.append(isolated(n, args))
        print(rows[-1], flush=True)
        write(pd.DataFrame(rows), args)      # after every size: a size cut short keeps the others
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
