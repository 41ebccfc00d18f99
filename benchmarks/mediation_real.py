"""rgf.Mediation on real cohorts (issue 10), reported whatever they show.

* CLL (Dietrich et al. 2018, MOFA's cohort): IGHV status -> drug-response factors -> time to
  treatment (TTT, event treatedAfter), Weibull survival outcome, age as confounder. Drug view: the
  mean viability over the 5 concentrations of each of the 62 drugs.
* TCGA-LGG: IDH1 -> FLAIR radiomics factors (the 107 'original_*' pyradiomics features,
  standardised) -> death (binary, death01), confounders site (site_tss) and age.

Writes benchmarks/results/mediation_real.md.

    PYTHONPATH=$PWD python benchmarks/mediation_real.py [--num-warmup 500 --num-draws 500 --num-chains 2]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import rgfactor as rgf
from rgfactor.data.loaders import cll as cll_loader
from rgfactor.data.loaders import lgg_radiogenomics

DATA = Path("../shared/data")


def cll():
    """The recipe of models/cll_mediation.toml (same loader, same columns)."""
    data, labels = cll_loader(DATA / "cll", drugs="mean", mutations=False)
    surv = labels[["TTT_or_censoring", "treated"]].set_axis(["time", "event"], axis=1)
    return data, labels["IGHV"], surv, labels[["age"]]


def lgg():
    """The recipe of models/lgg_mediation.toml (same loader, same columns)."""
    data, labels = lgg_radiogenomics(DATA / "tcga_lgg_radiogenomics", radiomic_features="original",
                                     transform="standardize", site=False, mutations=False)
    return data, labels["IDH1"], labels["death"], labels[["site", "age"]]


def run(name, data, exposure, outcome, kind, confounders, args):
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        med = rgf.Mediation(mediators="factors", n_factors=args.n_factors, outcome=kind, num_warmup=args.num_warmup,
                            num_draws=args.num_draws, num_chains=args.num_chains, progress=False,
                            random_state=0).fit(data, exposure=exposure, outcome=outcome, confounders=confounders)
    secs = time.perf_counter() - t0
    if args.save_idata:      # the draws, to look into convergence (per-chain effects, paths, loadings)
        out = Path(args.save_idata)
        out.mkdir(parents=True, exist_ok=True)
        tag = name.split(":")[0].lower()
        med.idata_.to_netcdf(out / f"{tag}_idata.nc")
        med.effects_.to_netcdf(out / f"{tag}_effects.nc")
    tab = med.summary()
    keep = [i for i in tab.index if not i.startswith(("ACME", "ADE"))]
    lines = [f"## {name}", "", f"n = {med.diagnostics_['n_subjects']}, outcome {kind}, NUTS {args.num_chains} x "
             f"({args.num_warmup} + {args.num_draws}), K = {args.n_factors}, wall time {secs:.0f} s"
             + (f", horizon {med.horizon_:.2f}" if kind == "survival" else ""), "",
             tab.loc[keep].round(4).to_markdown(), "",
             f"R-hat of NIE/NDE/TE: {med.diagnostics_.get('effects_r_hat')}; divergences: "
             f"{med.diagnostics_.get('n_divergent')}", "",
             "Warnings: " + "; ".join(dict.fromkeys(str(w.message)[:160] for w in caught
                                                    if "Shape validation" not in str(w.message))), ""]
    try:
        sens = med.sensitivity()
        lines += [f"Sensitivity: posterior mean NIE is 0 at rho = {sens.attrs['rho_at_zero_NIE']:.2f}", ""]
    except rgf.errors.SpecError as e:
        lines += [f"Sensitivity: {e}", ""]
    print("\n".join(lines), flush=True)
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--num-warmup", type=int, default=500)
    ap.add_argument("--num-draws", type=int, default=500)
    ap.add_argument("--num-chains", type=int, default=2)
    ap.add_argument("--n-factors", type=int, default=3)
    ap.add_argument("--cohorts", nargs="+", choices=("lgg", "cll"), default=["lgg", "cll"])
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "mediation_real.md"))
    ap.add_argument("--save-idata", default=None, help="folder for the posterior draws and effects (NetCDF)")
    args = ap.parse_args()
    lines = ["# rgf.Mediation on real data", ""]
    if "lgg" in args.cohorts:
        d, x, y, c = lgg()
        lines += run("TCGA-LGG: IDH1 -> FLAIR radiomics factors -> death", d, x, y, "bernoulli", c, args)
    if "cll" in args.cohorts:
        d, x, y, c = cll()
        lines += run("CLL: IGHV -> drug-response factors -> time to treatment", d, x, y, "survival", c, args)
    lines += ["Command: `PYTHONPATH=$PWD python benchmarks/mediation_real.py " +
              f"--num-warmup {args.num_warmup} --num-draws {args.num_draws} --num-chains {args.num_chains} "
              f"--n-factors {args.n_factors} --cohorts {' '.join(args.cohorts)}`"]
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
