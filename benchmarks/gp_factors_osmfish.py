"""Spatially smooth factors on osmFISH (Codeluppi et al. 2018): layer separation and time, GP vs normal prior.

Data: ``../shared/data/osmfish_cortex`` (33 genes x 5,328 cells, counts, x/y, cortical layer labels;
one cell with no count dropped). Every method sees all cells; the layer labels (`Region`, cells
labelled 'Excluded' left out) are used only to score the factors:

* ``cv_accuracy``: 5-fold stratified cross-validated accuracy of a multinomial logistic regression
  (scikit-learn, standardised factors) predicting the layer from the factors;
* ``ari``: adjusted Rand index between k-means on the standardised factors (k = number of layers,
  10 starts, seed 0) and the layers.

Methods: rgfactor GFA (NB likelihood with size factors, or with ``--log-counts`` a Gaussian view of
MEFISTO's input; K factors, ``method='auto'``) with
``factor_prior='gp'`` on each basis ('hsgp', 'convolution'; each scored by E[z] and by the smooth part
alone) and with the normal prior (also scored after averaging each cell's factors over its 50 nearest
cells: how much a post-hoc spatial smoother gives); the x/y coordinates themselves as a reference row
(how much of the layer labels position alone gives); optionally MEFISTO (mofapy2, Gaussian on
log1p of library-size-normalised counts, sparse GP with a ``--mefisto-inducing`` fraction of the cells as inducing points).
Times are end to end (MultiViewData in, fitted model out), in this process.

    python benchmarks/gp_factors_osmfish.py [--factors 10] [--lengthscale-lower 0.05] [--svi] [--warm] [--mefisto] [--log-counts]

Writes benchmarks/results/gp_factors_osmfish.md (``--log-counts``: gp_factors_osmfish_logcounts.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import rgfactor as rgf

DATA = Path("../shared/data/osmfish_cortex")
RESULTS = Path(__file__).resolve().parent / "results"
KNN = 50   # neighbours of the post-hoc smoothing reference row


def load():
    x = pd.read_csv(DATA / "osmFISH_prep_expression.txt", sep="\t", index_col=0).T
    coords = pd.read_csv(DATA / "osmFISH_prep_cell_coordinates.txt", sep="\t", index_col=0)
    meta = pd.read_csv(DATA / "osmFISH_prep_cell_metadata.txt", sep="\t", index_col=0)
    keep = x.index[x.sum(axis=1) > 0]
    return x.loc[keep], coords.loc[keep, ["X", "Y"]], meta.loc[keep, "Region"]


def layer_scores(factors: np.ndarray, region: pd.Series, seed: int = 0) -> dict:
    labelled = (region != "Excluded").to_numpy()
    f, y = factors[labelled], region[labelled].to_numpy()
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
    acc = cross_val_score(clf, f, y, cv=StratifiedKFold(5, shuffle=True, random_state=seed))
    km = KMeans(n_clusters=len(np.unique(y)), n_init=10, random_state=seed).fit(StandardScaler().fit_transform(f))
    return {"cv_accuracy": float(acc.mean()), "cv_accuracy_sd": float(acc.std()),
            "ari": float(adjusted_rand_score(y, km.labels_))}


def neighbour_average(values: np.ndarray, xy: np.ndarray, k: int = KNN) -> np.ndarray:
    """Each row of ``values`` averaged over its cell's ``k`` nearest cells (itself included) in ``xy``."""
    from scipy.spatial import cKDTree

    _, idx = cKDTree(xy).query(xy, k=k)
    return values[idx].mean(axis=1)


def log_counts(x: pd.DataFrame) -> pd.DataFrame:
    """log1p of library-size-normalised counts (scaled to the median library): MEFISTO's input."""
    lib = x.sum(axis=1).to_numpy()
    return pd.DataFrame(np.log1p(x.to_numpy() / lib[:, None] * np.median(lib)), index=x.index, columns=x.columns)


def run_rgfactor(x, coords, k, prior, seed, method="auto", lengthscale_lower=None, logged=False, gp_basis="hsgp"):
    t0, c0 = time.perf_counter(), time.process_time()
    view, lik = (log_counts(x), "gaussian") if logged else (x, "negative_binomial")
    data = rgf.MultiViewData.from_pandas({"rna": view}, {"rna": lik}, coordinates=coords)
    extra = {"gp_basis": gp_basis} if prior == "gp" else {}
    if lengthscale_lower is not None:
        span = float(np.ptp(coords.to_numpy(), axis=0).max())
        extra["lengthscale_range"] = (lengthscale_lower * span, span)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = rgf.GFA(n_factors=k, factor_prior=prior, method=method, progress=False, random_state=seed,
                        **extra).fit(data)
    return model, time.perf_counter() - t0, time.process_time() - c0


def run_mefisto(x, coords, k, frac_inducing, seed, n_iter=1000):
    import contextlib
    import io

    from mofapy2.run.entry_point import entry_point

    t0 = time.perf_counter()
    y = log_counts(x).to_numpy()
    with contextlib.redirect_stdout(io.StringIO()):
        ent = entry_point()
        ent.set_data_options(scale_views=False)
        ent.set_data_matrix([[y]], likelihoods=["gaussian"])
        ent.set_model_options(factors=k)
        ent.set_train_options(iter=n_iter, convergence_mode="fast", seed=seed, verbose=False, quiet=True)
        ent.set_covariates([coords.to_numpy()], covariates_names=["X", "Y"])
        ent.set_smooth_options(sparseGP=True, frac_inducing=frac_inducing, scale_cov=False, model_groups=False)
        ent.build()
        ent.run()
    z = ent.model.nodes["Z"].getExpectation()
    n_done = len(ent.model.getTrainingStats()["elbo"]) - 1   # the trace starts with the initial ELBO
    return z, time.perf_counter() - t0, n_done


def write(rows, smooth, args, n_cells, region) -> None:
    """benchmarks/results/gp_factors_osmfish.md from the rows so far."""
    df = pd.DataFrame(rows)
    RESULTS.mkdir(exist_ok=True)
    n_lab = int((region != "Excluded").sum())
    flags = (" --svi" if args.svi else "") + (" --warm" if args.warm else "") + (" --mefisto" if args.mefisto else "") + (" --log-counts" if args.log_counts else "")
    text = (f"# Spatially smooth factors on osmFISH (33 genes x {n_cells} cells)\n\n"
            f"`python benchmarks/gp_factors_osmfish.py{flags}` "
            f"(K={args.factors}, seed {args.seed}; {platform.machine()}, {os.cpu_count()} CPUs shared with "
            f"other jobs, load average when written {os.getloadavg()[0]:.1f}). Layer separation on the {n_lab} cells "
            f"with a `Region` label other than 'Excluded' ({region[region != 'Excluded'].nunique()} layers): "
            "5-fold CV accuracy of a logistic regression from the factors, ARI of k-means on the factors. "
            "time_s: wall time end to end (data in, fitted model out), the first fit of its model in this process "
            "(the first row's also the process's first fit); warm_s (``--warm``): the same fit again; cpu_s: CPU time "
            "of this process over the first fit (all threads; less sensitive to the other jobs on the machine). "
            "Each GP fit is scored twice: "
            "its factors' posterior means E[z] (`factors_`: smooth part plus the cell's own part) and the smooth "
            "part alone (`factors_at` the cells' coordinates).\n\n"
            + df.to_markdown(index=False, floatfmt=".3f"))
    for gp_basis, table in smooth.items():
        text += (f"\n\n## Smoothness of the GP factors, gp_basis='{gp_basis}' (posterior mean, 95% interval from the "
                 "draws)\n\n" + table.to_markdown(floatfmt=".3g"))
    (RESULTS / out_name(args)).write_text(text + "\n")


def out_name(args) -> str:
    return "gp_factors_osmfish_logcounts.md" if args.log_counts else "gp_factors_osmfish.md"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--factors", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mefisto", action="store_true", help="also run MEFISTO (mofapy2, sparse GP)")
    ap.add_argument("--mefisto-inducing", type=float, default=0.1, help="MEFISTO's frac_inducing")
    ap.add_argument("--mefisto-iter", type=int, default=1000, help="MEFISTO's maximum number of iterations")
    ap.add_argument("--lengthscale-lower", type=float, default=0.0,
                    help="an extra HSGP run with the lower end of lengthscale_range at this fraction of the coordinate range "
                         "(default 0: none)")
    ap.add_argument("--svi", action="store_true", help="also fit the GP prior by SVI")
    ap.add_argument("--warm", action="store_true", help="time each rgfactor fit a second time in the same process (warm_s)")
    ap.add_argument("--log-counts", action="store_true",
                    help="fit rgfactor to MEFISTO's input (log1p normalised counts, Gaussian) instead of NB counts; "
                         "writes gp_factors_osmfish_logcounts.md")
    ap.add_argument("--mefisto-only", action="store_true",
                    help="run MEFISTO alone; its row goes to gp_factors_osmfish_mefisto.md")
    args = ap.parse_args(argv)
    x, coords, region = load()
    if args.mefisto_only:
        c0 = time.process_time()
        z, wall, n_done = run_mefisto(x, coords, args.factors, args.mefisto_inducing, args.seed, args.mefisto_iter)
        row = {"method": f"MEFISTO (mofapy2, log1p counts, sparse GP, {args.mefisto_inducing:.0%} of cells inducing, "
                         f"{n_done} of at most {args.mefisto_iter} iterations)",
               "time_s": wall, "cpu_s": time.process_time() - c0, **layer_scores(z, region, args.seed)}
        text = (f"# MEFISTO on osmFISH\n\n`python benchmarks/gp_factors_osmfish.py --mefisto-only --mefisto-iter "
                f"{args.mefisto_iter}` (K={args.factors}, "
                f"load average when written {os.getloadavg()[0]:.1f}); scores as in gp_factors_osmfish.md.\n\n"
                + pd.DataFrame([row]).to_markdown(index=False, floatfmt=".3f") + "\n")
        (RESULTS / "gp_factors_osmfish_mefisto.md").write_text(text)
        print(text)
        return 0
    rows, smooth = [], {}
    rows.append({"method": "coordinates x/y only (reference)", "time_s": np.nan, "cpu_s": np.nan,
                 **layer_scores(coords.to_numpy(), region, args.seed)})
    runs = [("gp", "auto", None, "hsgp"), ("gp", "auto", None, "convolution"), ("normal", "auto", None, None)]
    runs += [("gp", "svi", None, "hsgp")] if args.svi else []
    runs += [("gp", "auto", args.lengthscale_lower, "hsgp")] if args.lengthscale_lower else []
    for prior, method, lower, gp_basis in runs:
        model, wall, cpu = run_rgfactor(x, coords, args.factors, prior, args.seed, method, lower, args.log_counts,
                                        gp_basis)
        warm = (run_rgfactor(x, coords, args.factors, prior, args.seed, method, lower, args.log_counts, gp_basis)[1]
                if args.warm else np.nan)   # the same fit again in this process: compiled programs reused
        d = model.diagnostics_
        name = f"rgfactor GFA factor_prior='{prior}'" + (f", gp_basis='{gp_basis}'" if prior == "gp" else "")
        name += f" ({d['method']}, {d['n_steps']} steps"
        if prior == "gp":
            name += f", {model.model_.factors.basis.size} basis functions"
            name += f", lengthscale_range from {lower} x range)" if lower else ")"
        else:
            name += ")"
        rows.append({"method": name + ": E[z]", "time_s": wall, "warm_s": warm, "cpu_s": cpu,
                     **layer_scores(model.factors_.values, region, args.seed)})
        print(rows[-1], flush=True)
        if prior == "normal":   # a post-hoc spatial smoother of the non-spatial factors, for reference
            rows.append({"method": name + f": E[z] averaged over each cell's {KNN} nearest cells (post hoc)",
                         "time_s": np.nan, "cpu_s": np.nan,
                         **layer_scores(neighbour_average(model.factors_.values, coords.to_numpy()), region, args.seed)})
            print(rows[-1], flush=True)
        if prior == "gp":   # the smooth part alone, sqrt(scale) f at the cells (factors_at)
            rows.append({"method": name + ": smooth part", "time_s": wall, "warm_s": warm, "cpu_s": cpu,
                         **layer_scores(model.factors_at(coords).values, region, args.seed)})
            print(rows[-1], flush=True)
            if lower is None and method == "auto":
                table = model.factor_smoothness()
                table.insert(0, "variance_explained", model.variance_explained().sel(view="rna").values)
                smooth[gp_basis] = table
        write(rows, smooth, args, len(x), region)      # after every run: a run cut short keeps the others
    if args.mefisto:
        c0 = time.process_time()
        z, wall, _ = run_mefisto(x, coords, args.factors, args.mefisto_inducing, args.seed)
        rows.append({"method": f"MEFISTO (mofapy2, log1p counts, sparse GP, {args.mefisto_inducing:.0%} of cells inducing)",
                     "time_s": wall, "cpu_s": time.process_time() - c0, **layer_scores(z, region, args.seed)})
        print(rows[-1], flush=True)
        write(rows, smooth, args, len(x), region)
    print((RESULTS / out_name(args)).read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
