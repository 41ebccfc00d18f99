"""rgf.Mediation with a survival outcome: known proportion mediated of 0, 0.5 and 1 (issue 10).

Design (rgfactor.simulate.mediation_survival): binary exposure, one gaussian mediator m = a x + e,
Weibull PH outcome (shape 1.5) with hazard exp(intercept + direct x + b m), exponential censoring
(rate 0.3) and administrative censoring at 3; a = b = 0.6; the direct effect set so that
PM = NIE / TE of the survival probability at the horizon tau = 1 (the scale rgf.Mediation reports)
is 0 (a = 0, direct = 0.36), 0.5 (direct solved) or 1 (direct = 0). The truth of each estimand is a
Monte Carlo of 2e6 potential event times per arm combination, not the package's estimand code.

Per replicate: NUTS (1 chain, 300 warm-up, 500 draws), horizon = 1, the 95% equal-tailed interval of
NIE, NDE, TE, PM and the RMST effects. Writes benchmarks/results/mediation_survival.csv (grows per
replicate; a rerun resumes) and .md (coverage with its binomial sd, bias, width, run time).

    PYTHONPATH=$PWD python benchmarks/mediation_survival.py --replicates 30
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import rgfactor as rgf

DESIGNS = (0.0, 0.5, 1.0)
ESTIMANDS = ("NIE", "NDE", "TE", "PM", "NIE_rmst", "NDE_rmst")


def replicate(pm: float, seed: int, n: int) -> dict:
    data, clin, truth = rgf.simulate.mediation_survival(n, proportion_mediated=pm, random_state=seed)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        med = rgf.Mediation(mediators=["mediators"], outcome="survival", horizon=truth["horizon"], num_warmup=300,
                            num_draws=500, num_chains=1, progress=False, random_state=seed).fit(
            data, exposure=clin["exposure"], outcome=clin[["time", "event"]])
    row = {"pm": pm, "seed": seed, "seconds": time.perf_counter() - t0, "events": clin["event"].mean()}
    for name in ESTIMANDS:
        d = med.effects_[name].values.ravel()
        d = d[np.isfinite(d)]
        lo, hi = np.quantile(d, [0.025, 0.975])
        row.update({f"{name}_truth": truth[name], f"{name}_mean": d.mean(), f"{name}_median": np.median(d),
                    f"{name}_sd": d.std(ddof=1), f"{name}_lo": lo, f"{name}_hi": hi,
                    f"{name}_cover95": bool(lo <= truth[name] <= hi)})
    return row


def table(df: pd.DataFrame) -> list[str]:
    lines = ["| PM design | estimand | truth | coverage 95% ET (binomial sd) | bias of post. mean (MC se) | "
             "mean width 95% | mean post. sd | sd of post. means | sd of z |", "|---|---|---|---|---|---|---|---|---|"]
    for pm, g in df.groupby("pm"):
        r = len(g)
        for name in ESTIMANDS:
            cov = g[f"{name}_cover95"].astype(bool).mean()
            stat = "median" if name == "PM" else "mean"     # PM = NIE / TE: heavy-tailed draws where TE is near 0
            err = g[f"{name}_{stat}"] - g[f"{name}_truth"]
            lines.append(f"| {pm:g} | {name}{' (post. median)' if name == 'PM' else ''} | {g[f'{name}_truth'].mean():.4f} | "
                         f"{cov:.3f} ({np.sqrt(max(cov * (1 - cov), 0.95 * 0.05) / r):.3f}) | "
                         f"{err.mean():+.4f} ({err.std(ddof=1) / np.sqrt(r):.4f}) | "
                         f"{(g[f'{name}_hi'] - g[f'{name}_lo']).mean():.4f} | {g[f'{name}_sd'].mean():.4f} | "
                         f"{g[f'{name}_{stat}'].std(ddof=1):.4f} | {(err / g[f'{name}_sd']).std(ddof=1):.2f} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicates", type=int, default=30)
    ap.add_argument("--n-subjects", type=int, default=300)
    ap.add_argument("--fresh", action="store_true", help="ignore the replicates already in the CSV")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "mediation_survival"))
    args = ap.parse_args()
    rows = []
    if not args.fresh and Path(args.out + ".csv").exists():
        rows = [r for r in pd.read_csv(args.out + ".csv").to_dict("records") if r["seed"] < args.replicates]
    done = {(float(r["pm"]), int(r["seed"])) for r in rows}
    for seed in range(args.replicates):          # designs interleaved: an interrupted run covers all three
        for pm in DESIGNS:
            if (pm, seed) in done:
                continue
            rows.append(replicate(pm, seed, args.n_subjects))
            pd.DataFrame(rows).to_csv(args.out + ".csv", index=False)
            print(f"PM {pm:g}, replicate {seed}: {rows[-1]['seconds']:.1f} s", flush=True)
    df = pd.DataFrame(rows)
    r = df.groupby("pm").size().min()
    lines = [f"# rgf.Mediation, survival outcome with a known proportion mediated: {r} replicates per design", "",
             f"n = {args.n_subjects}, binary exposure, one gaussian mediator (a = b = 0.6), Weibull PH outcome "
             "(shape 1.5) with right censoring "
             f"({100 * (1 - df['events'].mean()):.0f}% censored on average); effects on the survival probability at "
             "the horizon tau = 1 (S(tau) = 0.5 for x = 0, m = 0) and on the RMST up to it; PM = NIE / TE of "
             "S(tau). Truth: Monte Carlo of 2e6 potential event times per arm combination "
             "(rgfactor.simulate.mediation_survival). NUTS 1 chain x (300 + 500).", "", *table(df), "",
             "z = (posterior mean - truth) / posterior sd (sd about 1 when the intervals are as wide as the sampling "
             "error). Binomial sd: sqrt(max(p (1 - p), 0.95 x 0.05) / replicates). The three designs share each "
             "replicate's seed (the same exposure, mediator noise and event-time draws), so their figures are "
             "correlated: about as many independent replicates as per design, not three times as many. "
             "Median seconds per fit: "
             + ", ".join(f"PM {pm:g}: {g['seconds'].median():.1f}" for pm, g in df.groupby("pm"))
             + f"; total {df['seconds'].sum() / 60:.1f} min of fitting.", "",
             f"Command: `PYTHONPATH=$PWD python benchmarks/mediation_survival.py --replicates {args.replicates} "
             f"--n-subjects {args.n_subjects}`"]
    Path(args.out + ".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
