"""Multi-region factors on TCGA-LGG: three MRI shells per tumour (region level) and 24 driver genes
(subject level), ``../shared/data/lgg_mri_shells`` (Mohammed et al. 2021, arXiv 2106.10941).

Views (:func:`rgfactor.data.lgg_shells.lgg_mri_shell_views`):

* ``imaging`` (region level, rows = (patient, shell)): the MRI principal-component scores. The PCs were
  computed **per shell** by the data's authors, so (1) only the 17 columns present in all three shell
  files are used (flair.1-4, t1.1-3, t1Gd.1-4, t2.1-6); (2) a PC's sign is arbitrary per shell: each
  column of shell 2 is sign-aligned to shell 1, and of shell 3 to the aligned shell 2, by the sign of
  their correlation across patients (adjacent shells correlate most); (3) a column whose aligned
  adjacent-shell correlations are not both >= ``--min-corr`` (default 0.5) is dropped, as it is not the
  same component in every shell (the model shares one loading per feature across shells). The flips
  and drops are printed and written to the results file.
* ``expression`` (subject level): centred log expression of the 24 driver genes.
* coordinate ``depth``: the shell's rank from the core (1, 2, 3; equal-volume shells).

Fit: ``GFA(n_factors=K, factor_prior="gp")`` (``method='auto'`` = SVI; ``--nuts`` adds a NUTS fit).
Reported: per factor the variance shares of the region-level factor (between patients, population
trend over depth, smooth within-tumour, independent) with 95% intervals, variance explained per view,
the top genes of each factor, time end to end, diagnostics.

    python benchmarks/region_factors_lgg.py [--factors 4] [--min-corr 0.5] [--nuts]

Writes benchmarks/results/region_factors_lgg.md.
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import rgfactor as rgf
from rgfactor.data.lgg_shells import lgg_mri_shell_views

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "lgg_mri_shells"
OUT = Path(__file__).resolve().parent / "results" / "region_factors_lgg.md"


def fit(data, k: int, method: str, seed: int = 0):
    t0 = time.time()
    model = rgf.GFA(n_factors=k, factor_prior="gp", random_state=seed, progress=False,
                    **({"num_warmup": 500, "num_draws": 500, "num_chains": 2} if method == "nuts" else {}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(data, method=method)
    return model, time.time() - t0, [str(w.message)[:160] for w in caught]


def describe(model, data, seconds, caught, label) -> list[str]:
    shares = model.region_shares()
    ve = pd.DataFrame(model.variance_explained_, index=model.config_.view_names,
                      columns=shares.index).round(3)
    w = model.idata_.posterior["W_expression"].mean(("chain", "draw")).to_pandas()
    top = {f: ", ".join(f"{g} ({w.loc[g, f]:+.2f})" for g in w[f].abs().sort_values(ascending=False).index[:4])
           for f in w.columns}
    d = model.diagnostics_
    diag = {k: d[k] for k in ("method", "n_steps", "max_r_hat", "min_ess_bulk", "n_divergent",
                              ) if k in d}
    cols = []
    for part in ("between_subject", "population_trend", "smooth_within", "independent", "lengthscale"):
        cols.append(shares[part].map("{:.3f}".format) + " [" + shares[f"{part}_2.5%"].map("{:.3f}".format)
                    + ", " + shares[f"{part}_97.5%"].map("{:.3f}".format) + "]")
    table = pd.concat(cols, axis=1, keys=["between patients", "population trend", "smooth within tumour",
                                          "independent", "lengthscale (shells)"])
    return [f"## {label}", "", f"Time end to end: {seconds:.1f} s. Diagnostics: {diag}", "",
            "Variance shares of each region-level factor (mean [2.5%, 97.5%]):", "", table.to_markdown(), "",
            "Variance explained (R2) per view and factor:", "", ve.to_markdown(), "",
            "Top genes per factor (posterior-mean loading on the standardised expression):", "",
            *[f"- {f}: {t}" for f, t in top.items()], "",
            "Warnings: " + ("; ".join(sorted(set(caught))) if caught else "none"), ""]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--factors", type=int, default=4)
    ap.add_argument("--min-corr", type=float, default=0.5)
    ap.add_argument("--nuts", action="store_true")
    args = ap.parse_args()
    data, labels = lgg_mri_shell_views(DATA, min_corr=args.min_corr)
    notes = labels.attrs["notes"]
    print(data)
    lines = ["# Multi-region factors on TCGA-LGG MRI shells", "",
             f"`python benchmarks/region_factors_lgg.py --factors {args.factors} --min-corr {args.min_corr}"
             f"{' --nuts' if args.nuts else ''}`; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
             f"{platform.processor() or platform.machine()}, load average {np.round(np.array(__import__('os').getloadavg()), 1).tolist()}.",
             "", f"Data: {data}", "", "Sign alignment and column selection of the per-shell PCs:", "",
             *[f"- {n}" for n in notes], ""]
    for method in ("svi",) + (("nuts",) if args.nuts else ()):
        model, seconds, caught = fit(data, args.factors, method)
        block = describe(model, data, seconds, caught, f"{method.upper()}, K = {args.factors}")
        print("\n".join(block))
        lines += block
        OUT.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
