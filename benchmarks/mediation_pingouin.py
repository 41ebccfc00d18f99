"""rgf.Mediation against pingouin's worked mediation example (issue 10).

pingouin ships ``mediation.csv`` (100 subjects; X, M, Y integer scores, Mbin, Ybin 0/1); it is read
through ``pingouin.read_dataset('mediation')`` and never copied into this repository (GPL-3).
pingouin.mediation_analysis fits OLS paths (M ~ X (+ covariates), Y ~ X + M (+ covariates)) and
reports the indirect effect a b per unit of X with a bias-corrected bootstrap CI, the direct effect
c' and the total effect c with OLS t intervals.

rgf.Mediation with one observed gaussian mediator, a gaussian outcome and the continuous exposure X
at control_value = mean(X), treat_value = mean(X) + 1: in the linear model without interaction
NIE = a b, NDE = c', TE = a b + c' per unit of X, the same estimands as pingouin's. Compared: the
posterior mean, sd and 95% equal-tailed interval (NUTS, 4 chains x (1000 + 2500)) next to pingouin's
estimate, SE and CI; the difference in units of the posterior sd and of its Monte Carlo SE.

Two of pingouin's documented examples: 1 (x='X', m='M', y='Y') and 4 (the same with covariates
Mbin and Ybin, as confounders). Writes benchmarks/results/mediation_pingouin.md.

    PYTHONPATH=$PWD python benchmarks/mediation_pingouin.py
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd

import rgfactor as rgf

ROWS = {"NIE": "Indirect", "NDE": "Direct", "TE": "Total"}


def compare(df: pd.DataFrame, covar: list[str] | None, args) -> tuple[pd.DataFrame, float]:
    import pingouin as pg

    ref = pg.mediation_analysis(data=df, x="X", m="M", y="Y", covar=covar, alpha=0.05, n_boot=args.n_boot,
                                seed=args.seed).set_index("path")
    data = rgf.MultiViewData.from_pandas({"mediator": df[["M"]]}, {"mediator": "gaussian"})
    x0 = float(df["X"].mean())
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        med = rgf.Mediation(mediators=["mediator"], outcome="gaussian", control_value=x0, treat_value=x0 + 1.0,
                            num_warmup=args.num_warmup, num_draws=args.num_draws, num_chains=args.num_chains,
                            progress=False, random_state=args.seed).fit(
            data, exposure=df["X"].astype(float), outcome=df["Y"].astype(float),
            confounders=df[covar].astype(float) if covar else None)
    secs = time.perf_counter() - t0
    rows = []
    for ours, theirs in ROWS.items():
        d = np.asarray(med.effects_[ours].transpose("chain", "draw"))
        lo, hi = np.quantile(d, [0.025, 0.975])
        mean, sd, mcse = d.mean(), d.std(ddof=1), float(az.mcse(d))
        r = ref.loc[theirs]
        rows.append({"estimand": f"{ours} ({theirs})", "rgf mean": mean, "rgf sd": sd, "rgf 95% ET": f"[{lo:.3f}, {hi:.3f}]",
                     "pingouin coef": r["coef"], "pingouin se": r["se"],
                     "pingouin 95% CI": f"[{r['CI2.5']:.3f}, {r['CI97.5']:.3f}]",
                     "diff / rgf sd": (mean - r["coef"]) / sd, "diff / MCSE": (mean - r["coef"]) / mcse,
                     "R-hat": float(az.rhat(d))})
    return pd.DataFrame(rows).set_index("estimand"), secs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--num-warmup", type=int, default=1000)
    ap.add_argument("--num-draws", type=int, default=2500)
    ap.add_argument("--num-chains", type=int, default=4)
    ap.add_argument("--n-boot", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "mediation_pingouin.md"))
    args = ap.parse_args()
    import pingouin as pg

    df = pg.read_dataset("mediation")
    lines = ["# rgf.Mediation vs pingouin.mediation_analysis (pingouin's worked example)", "",
             f"pingouin {pg.__version__}, data `pingouin.read_dataset('mediation')` (n = {len(df)}); continuous "
             "exposure X, effects per unit of X (control_value = mean X, treat_value = mean X + 1); rgf: NUTS "
             f"{args.num_chains} x ({args.num_warmup} + {args.num_draws}), 95% equal-tailed intervals; pingouin: "
             f"OLS point estimates, bias-corrected bootstrap CI of the indirect effect ({args.n_boot} resamples, "
             f"seed {args.seed}), t intervals of the direct and total effects.", ""]
    for title, covar in (("Example 1: X -> M -> Y", None), ("Example 4: X -> M -> Y, covariates Mbin, Ybin",
                                                              ["Mbin", "Ybin"])):
        tab, secs = compare(df, covar, args)
        lines += [f"## {title}", "", tab.round(4).to_markdown(), "", f"rgf.Mediation fit: {secs:.1f} s", ""]
        print("\n".join(lines[-5:]), flush=True)
    lines += ["Command: `PYTHONPATH=$PWD python benchmarks/mediation_pingouin.py` "
              f"(--num-warmup {args.num_warmup} --num-draws {args.num_draws} --num-chains {args.num_chains} "
              f"--n-boot {args.n_boot} --seed {args.seed})"]
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
