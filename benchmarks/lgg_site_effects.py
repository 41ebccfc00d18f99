"""TCGA-LGG: how much radiomic variance is site, harmonised radiomics next to neuroCombat's, and which
factor-label associations change once the site is modelled (issue 16).

Fits the spec models/lgg_radiogenomics.toml (GFA, 10 factors, ARD, CAVI) three times: site_effects
False, 'location' and True (location and scale on the radiomics, location on the mutations), and reports
- the site share of variance per radiomic feature (model.variance_components): quantiles, the number of
  features above 0.1 / 0.3, the least site-stable features;
- model.harmonize radiomics against neuroCombat (parametric EB, tissue source site as batch; the one-subject
  site EZ is merged into its nearest neighbour for ComBat, which cannot estimate a one-subject variance)
  per feature: correlation and RMS difference in feature sd units;
- per label, the strongest site-adjusted factor association of each fit (rgfactor.report's partial F-test;
  IDH1, a model input, scored as the report does on radiomics-only factors is left to the report).

Run:  python benchmarks/lgg_site_effects.py      (writes benchmarks/results/lgg_site_effects.md)
"""

from __future__ import annotations

import contextlib
import io
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import rgfactor as rgf
from rgfactor.report.associations import adjusted_associations, readable_labels
from rgfactor.sources import load_source
from rgfactor.spec import ModelSpec

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def main() -> None:
    spec = ModelSpec.from_toml(ROOT / "models" / "lgg_radiogenomics.toml")
    data, labels = load_source(spec.data["source"], dict(spec.data.get("options", {})),
                               spec.data_path(ROOT, None))
    labels = readable_labels(labels[[c for c in spec.report["labels"] if c != "IDH1"]], spec.report.get("levels"))
    fits, walls = {}, {}
    for setting in (False, "location", True):
        params = {**spec.estimator_params(), "site_effects": setting, "progress": False}
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits[setting] = rgf.GFA(**params).fit(data)
        walls[setting] = time.perf_counter() - t0
    lines = ["# TCGA-LGG: site effects on the radiomics", "",
             "`python benchmarks/lgg_site_effects.py`. Fit wall times (CAVI, in-process): " +
             ", ".join(f"site_effects={k!r}: {v:.0f} s" for k, v in walls.items()) + ".", ""]

    # 1. site share of variance per radiomic feature
    model = fits[True]
    vc = model.variance_components()
    icc = vc["site_icc_radiomics"].sel(statistic="mean").to_pandas()
    q = icc.quantile([0.1, 0.25, 0.5, 0.75, 0.9])
    lines += ["## Share of radiomic variance due to site (site ICC, posterior mean per feature)", "",
              f"{len(icc)} features. Quantiles: " + ", ".join(f"{k:.0%}: {v:.3f}" for k, v in q.items()) +
              f". Features with site ICC > 0.1: {(icc > 0.1).sum()}; > 0.3: {(icc > 0.3).sum()}.", "",
              "Least site-stable features:", "",
              vc["share_radiomics"].sel(statistic="mean").to_pandas().loc[icc.sort_values(ascending=False)
                                                                          .index[:10]].round(3).to_markdown(), ""]
    site_sites = data.site.value_counts()
    lines += [f"Subjects per site: {dict(site_sites)}.", ""]

    # 2. harmonised radiomics against neuroCombat
    from neuroCombat import neuroCombat

    ours = model.harmonize(data)["radiomics"]
    raw = data.views["radiomics"].loc[ours.index, ours.columns]
    batch = data.site.loc[ours.index].astype(str)
    small = batch.value_counts()[lambda c: c < 2].index
    if len(small):
        big = batch.value_counts().index[0]
        batch = batch.where(~batch.isin(small), big)
    keep = raw.notna().all(axis=0) & (raw.std() > 0)
    with contextlib.redirect_stdout(io.StringIO()):
        ref = neuroCombat(raw.loc[:, keep].to_numpy().T, pd.DataFrame({"batch": batch.to_numpy()}), "batch")["data"].T
    o = ours.loc[:, keep].to_numpy()
    corr = np.array([np.corrcoef(o[:, j], ref[:, j])[0, 1] for j in range(ref.shape[1])])
    rms = np.sqrt(np.mean((o - ref) ** 2, axis=0)) / raw.loc[:, keep].std().to_numpy()
    lines += ["## model.harmonize radiomics next to neuroCombat (EB)", "",
              f"{keep.sum()} features; site{' ' + ', '.join(small) + ' merged into ' + big if len(small) else ''}. "
              f"Per-feature correlation: median {np.median(corr):.3f}, 5th percentile {np.quantile(corr, 0.05):.3f}; "
              f"RMS difference in raw-sd units: median {np.median(rms):.3f}, 95th percentile "
              f"{np.quantile(rms, 0.95):.3f}.", ""]

    # 3. associations with and without site effects
    rows = []
    for setting, fit in fits.items():
        tab = adjusted_associations(fit.factors_, labels, site=data.site)
        for label, grp in tab.groupby("label"):
            best = grp.sort_values("p_value").iloc[0]
            rows.append({"label": label, "site_effects": repr(setting), "factor": best["factor"],
                         "effect": best["effect"], "measure": best["effect_measure"], "p_adj": best["p_adj"],
                         "n significant (p_adj<0.05)": int((grp["p_adj"] < 0.05).sum())})
        site_tab = adjusted_associations(fit.factors_, data.site.rename("site").to_frame())
        rows.append({"label": "site (unadjusted)", "site_effects": repr(setting),
                     "factor": site_tab.iloc[0]["factor"], "effect": site_tab.iloc[0]["effect"],
                     "measure": site_tab.iloc[0]["effect_measure"], "p_adj": site_tab.iloc[0]["p_adj"],
                     "n significant (p_adj<0.05)": int((site_tab["p_adj"] < 0.05).sum())})
    assoc = pd.DataFrame(rows).sort_values(["label", "site_effects"])
    lines += ["## Strongest factor association per label, by site setting", "",
              "Site-adjusted partial F-tests (rgfactor.report.associations); the last rows test the factors "
              "against the site itself (how much of the site the factors carry).", "",
              assoc.round(4).to_markdown(index=False), ""]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "lgg_site_effects.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
