"""Calibration of rgf.Mediation in the standard single-mediator design (issue 10).

n = 200, a = b = c' = 0.39, binary exposure, gaussian mediator and outcome with unit error sd
(simulate.mediation defaults). Per replicate: NUTS (1 chain, 300 warm-up, 500 draws), the 95%
equal-tailed interval and the 94% HDI of NIE and NDE, and the OLS product-of-coefficients
reference (NIE = a b, NDE = c', second-order delta SE). Writes
benchmarks/results/mediation_calibration.csv and .md.

    PYTHONPATH=$PWD python benchmarks/mediation_calibration.py --replicates 200   # resumes from the CSV; --fresh reruns all
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import rgfactor as rgf

TRUTH = {"NIE": 0.39 * 0.39, "NDE": 0.39}


def ols_reference(x, m, y):
    """NIE = a b and NDE = c' by OLS with the second-order delta (Sobel-Aroian) SE of a b."""
    import statsmodels.api as sm

    fm = sm.OLS(m, sm.add_constant(x)).fit()
    fy = sm.OLS(y, sm.add_constant(np.c_[x, m])).fit()
    a, sa = fm.params[1], fm.bse[1]
    b, sb = fy.params[2], fy.bse[2]
    return {"NIE": a * b, "NIE_se": np.sqrt(a**2 * sb**2 + b**2 * sa**2 + sa**2 * sb**2),
            "NDE": fy.params[1], "NDE_se": fy.bse[1]}


def binomial_sd(hits: pd.Series) -> float:
    """Binomial standard error of an observed coverage, sqrt(p (1 - p) / R)."""
    p = float(hits.mean())
    return float(np.sqrt(p * (1 - p) / len(hits)))


def replicate(seed: int) -> dict:
    data, clin, _ = rgf.simulate.mediation(200, random_state=seed)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        med = rgf.Mediation(mediators=["mediators"], num_warmup=300, num_draws=500, num_chains=1, progress=False,
                            random_state=seed).fit(data, exposure=clin["exposure"], outcome=clin["y"])
    row = {"seed": seed, "seconds": time.perf_counter() - t0}
    ref = ols_reference(clin["exposure"].to_numpy(), data.views["mediators"]["m0"].to_numpy(), clin["y"].to_numpy())
    tab = med.summary(hdi_prob=0.94)
    for name, truth in TRUTH.items():
        d = med.effects_[name].values.ravel()
        lo, hi = np.quantile(d, [0.025, 0.975])
        row.update({f"{name}_mean": d.mean(), f"{name}_sd": d.std(ddof=1), f"{name}_cover95": lo <= truth <= hi,
                    f"{name}_width95": hi - lo,
                    f"{name}_cover94hdi": tab.loc[name, "hdi_3%"] <= truth <= tab.loc[name, "hdi_97%"],
                    f"{name}_ols": ref[name], f"{name}_ols_se": ref[f"{name}_se"]})
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "mediation_calibration"))
    ap.add_argument("--fresh", action="store_true", help="ignore the replicates already in the CSV")
    args = ap.parse_args()
    rows = []
    if not args.fresh and Path(args.out + ".csv").exists():     # resume: seeds already run are kept, not rerun
        rows = [r for r in pd.read_csv(args.out + ".csv").to_dict("records") if r["seed"] < args.replicates]
    done = {int(r["seed"]) for r in rows}
    for seed in range(args.replicates):     # the CSV grows per replicate: an interrupted run keeps its rows
        if seed in done:
            continue
        rows.append(replicate(seed))
        pd.DataFrame(rows).to_csv(args.out + ".csv", index=False)
        print(f"replicate {seed}: {rows[-1]['seconds']:.1f} s", flush=True)
    df = pd.DataFrame(rows)
    lines = [f"# rgf.Mediation calibration: standard design, {len(df)} replicates", "",
             "| estimand | truth | coverage 95% ET | coverage 94% HDI | mean width 95% | mean post. sd | "
             "mean OLS delta SE | mean |post. mean - OLS| |", "|---|---|---|---|---|---|---|---|"]
    for name, truth in TRUTH.items():
        lines.append(f"| {name} | {truth:.4f} | {df[f'{name}_cover95'].mean():.3f} | {df[f'{name}_cover94hdi'].mean():.3f} | "
                     f"{df[f'{name}_width95'].mean():.4f} | {df[f'{name}_sd'].mean():.4f} | "
                     f"{df[f'{name}_ols_se'].mean():.4f} | {(df[f'{name}_mean'] - df[f'{name}_ols']).abs().mean():.4f} |")
    lines += ["", f"Median seconds per fit (NUTS, 1 chain, 300 + 500): {df['seconds'].median():.2f}; "
              "binomial sd of a coverage of 0.95 over these replicates: "
              f"{np.sqrt(0.95 * 0.05 / len(df)):.3f}; binomial sd of the observed coverages: NIE "
              f"{binomial_sd(df['NIE_cover95']):.3f}, NDE {binomial_sd(df['NDE_cover95']):.3f}.", "",
              "Command: `PYTHONPATH=$PWD python benchmarks/mediation_calibration.py --replicates "
              f"{args.replicates}`"]
    Path(args.out + ".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
