"""Multi-region factors on simulated cohorts with known truth: SVI and NUTS side by side.

Data: ``rgf.simulate.regions(S, R, shares=((0.5, 0.4, 0.1), (0.9, 0.0, 0.1)), lengthscales=(0.4, 0.4),
trend_sd=(0.5, 0.0), factor_scales=(1.0, 0.6))``: factor 1 has a population trend and a smooth
within-subject deviation, factor 2 neither; exact SE GP draws (the fit uses the HSGP basis), a Gaussian
region-level view (30 features) and a Gaussian subject-level view (20 features), noise sd 0.5.
Fit: ``GFA(n_factors=2, factor_prior="gp")`` by SVI (``method='auto'``, 2000 steps) and NUTS (2 chains,
500 warmup, 500 draws). Reported per true factor: |corr| of the matched fitted Z with the truth, the
finite-population shares (truth; estimate [95% interval]), the lengthscale, time end to end, and NUTS
diagnostics.

    python benchmarks/region_factors_recovery.py [--subjects 80] [--regions 5] [--seed 0] [--no-nuts]

Writes benchmarks/results/region_factors_recovery.md (``_seed<N>`` appended for seed N > 0).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import rgfactor as rgf
from rgfactor.generative.region_factors import SHARE_PARTS

OUT = Path(__file__).resolve().parent / "results" / "region_factors_recovery.md"


def worst_r_hat(diagnostics: dict, n: int = 3) -> str:
    """The ``n`` worst R-hats of a NUTS fit (aligned posterior), 'variable R-hat' joined by commas."""
    summ = pd.DataFrame(diagnostics["summary"]).sort_values("r_hat", ascending=False).head(n)
    return ", ".join(f"{v} {r:.3f}" for v, r in zip(summ["variable"], summ["r_hat"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=80)
    ap.add_argument("--regions", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-nuts", action="store_true")
    args = ap.parse_args()
    data, truth = rgf.simulate.regions(args.subjects, args.regions, shares=((0.5, 0.4, 0.1), (0.9, 0.0, 0.1)),
                                       lengthscales=(0.4, 0.4), trend_sd=(0.5, 0.0), factor_scales=(1.0, 0.6),
                                       random_state=args.seed)
    lines = ["# Multi-region factors: recovery on simulated cohorts", "",
             f"`python benchmarks/region_factors_recovery.py --subjects {args.subjects} --regions {args.regions} "
             f"--seed {args.seed}{' --no-nuts' if args.no_nuts else ''}`; "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
             f"{np.round(np.array(os.getloadavg()), 1).tolist()} (2 shared cores).", "",
             f"Truth: factor 1 trend + smooth deviation (lengthscale 0.4), factor 2 none. Data: {data}", ""]
    rows = []
    for method in ("svi",) + (() if args.no_nuts else ("nuts",)):
        kw = {"num_warmup": 500, "num_draws": 500, "num_chains": 2} if method == "nuts" else {"max_iter": 2000}
        t0 = time.time()
        model = rgf.GFA(n_factors=2, factor_prior="gp", random_state=0, progress=False, **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(data, method=method)
        seconds = time.time() - t0
        z = model.idata_.posterior["Z"].mean(("chain", "draw")).values
        c = np.corrcoef(np.c_[z, truth["Z"]].T)[:2, 2:]
        shares = model.region_shares()
        d = model.diagnostics_
        diag = "" if method == "svi" else (f"max R-hat {d['max_r_hat']:.3f}, min bulk ESS {d['min_ess_bulk']:.0f}, "
                                           f"divergent {d['n_divergent']}; worst: {worst_r_hat(d)}")
        for j in range(2):
            k = int(np.argmax(np.abs(c[:, j])))
            row = {"method": method, "true factor": j + 1, "|corr| Z": round(abs(c[k, j]), 3)}
            for i, part in enumerate(SHARE_PARTS):
                f = shares.iloc[k]
                row[part] = f"{truth['shares'][i, j]:.3f}; {f[part]:.3f} [{f[part + '_2.5%']:.3f}, {f[part + '_97.5%']:.3f}]"
            f = shares.iloc[k]
            row["lengthscale"] = (f"{truth['lengthscale'][j]:.2f}; {f['lengthscale']:.2f} "
                                  f"[{f['lengthscale_2.5%']:.2f}, {f['lengthscale_97.5%']:.2f}]")
            row["time_s"], row["diagnostics"] = round(seconds, 1), diag
            rows.append(row)
        table = pd.DataFrame(rows)
        print(table.to_string())
        out = OUT if args.seed == 0 else OUT.with_name(f"{OUT.stem}_seed{args.seed}.md")
        out.write_text("\n".join(lines + ["Shares and lengthscale: truth; posterior mean [95% interval].", "",
                                          table.to_markdown(index=False), ""]))


if __name__ == "__main__":
    main()
