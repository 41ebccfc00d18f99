"""PAM50 subtype of the 70 TCGA breast test patients (mRNA + miRNA only) from models fitted on the
150 train patients (mRNA, miRNA, protein): rgfactor PPLS vs scikit-learn baselines.

Methods (all fitted on the train patients only; test patients never seen in fitting):
- ``ppls_response``: PPLS (models/breast_tcga_ppls.toml) with the subtype as a one-hot Bernoulli
  response view; class = argmax of the posterior predictive probabilities given mRNA + miRNA.
- ``ppls_factors_logreg``: multinomial logistic regression on the PPLS predictor scores T
  (posterior mean on train; Laplace posterior mode on test, ``model.transform``).
- ``nearest_centroid``: nearest centroid on standardised mRNA + miRNA (NOTES.md baseline, ~0.94).
- ``sklearn_pls``: PLSRegression (PLS-DA) of the one-hot subtype on standardised mRNA + miRNA, same
  number of components, class = argmax of the prediction.

    python benchmarks/breast_pam50.py [--quick] [--components 3 6 10] [--cv 3 6 10]

``--components`` repeats the PPLS and sklearn PLS rows for other numbers of components (default:
the spec's n_components only); all other settings are the spec's.

Writes benchmarks/results/breast_pam50.{csv,md} (``--quick``: breast_pam50_quick.*).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.cross_decomposition import PLSRegression
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import NearestCentroid
from sklearn.preprocessing import StandardScaler

import rgfactor as rgf
from rgfactor.data.loaders import breast_tcga
from rgfactor.spec import ModelSpec

ROOT = Path(__file__).resolve().parent.parent
CLASSES = ["Basal", "Her2", "LumA"]


def run_cv(spec, train, train_lab, components) -> None:
    """3-fold subject-level CV on the train patients only: held-out subtype accuracy/AUC and log
    predictive densities per number of components (no test patient involved)."""
    from rgfactor.model_selection import SubjectKFold, cross_validate

    cv = SubjectKFold(3, stratify=train_lab["subtype"], random_state=spec.seed)
    parts = []
    for j in components:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = cross_validate(rgf.PPLS(**{**spec.estimator_params(), "n_components": j}), train, cv,
                                 response="subtype")
        parts.append(res.assign(n_components=j))
    res = pd.concat(parts, ignore_index=True)
    out = ROOT / "benchmarks" / "results"
    res.to_csv(out / "breast_pam50_cv.csv", index=False)
    mean = res.drop(columns=["fold"]).groupby("n_components").mean()
    lines = ["# PPLS n_components by 3-fold subject CV on the 150 train patients", "",
             "| n_components | accuracy | AUC | " + " | ".join(c for c in mean.columns if c.startswith("lpd_")) + " |",
             "|---" * (3 + sum(c.startswith("lpd_") for c in mean.columns)) + "|"]
    for j, r in mean.iterrows():
        lp = " | ".join(f"{r[c]:.1f}" for c in mean.columns if c.startswith("lpd_"))
        lines.append(f"| {j} | {r['accuracy']:.3f} | {r['auc']:.3f} | {lp} |")
    (out / "breast_pam50_cv.md").write_text("\n".join(lines) + "\n")
    print(mean.to_string())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--components", type=int, nargs="*", help="numbers of components to run")
    parser.add_argument("--cv", type=int, nargs="*", help="choose n_components among these by 3-fold subject CV "
                        "on the train patients (rgfactor.model_selection); writes breast_pam50_cv.{csv,md}")
    parser.add_argument("--method", choices=["auto", "cavi", "svi", "nuts"], help="override the spec's engine")
    parser.add_argument("--tag", default="", help="suffix of the result files (e.g. _cavi)")
    args = parser.parse_args()
    spec = ModelSpec.from_toml(ROOT / "models" / "breast_tcga_ppls.toml")
    if args.quick:
        spec = spec.with_quick()
    if args.method:
        spec.inference["method"] = args.method
    path = spec.data_path(ROOT)
    train, train_lab = breast_tcga(path, split="train")
    test, test_lab = breast_tcga(path, split="test")
    y_train, y_test = train_lab["subtype"].to_numpy(), test_lab["subtype"].to_numpy()
    rows = []
    if args.cv:
        run_cv(spec, train, train_lab, args.cv)

    x_train = pd.concat([train.views["mrna"], train.views["mirna"]], axis=1).to_numpy()
    x_test = pd.concat([test.views["mrna"], test.views["mirna"]], axis=1).to_numpy()
    sc = StandardScaler().fit(x_train)
    xs_train, xs_test = sc.transform(x_train), sc.transform(x_test)
    t0 = time.perf_counter()
    nc = NearestCentroid().fit(xs_train, y_train)
    rows.append(dict(method="nearest_centroid", features="mrna+mirna", n_components=np.nan,
                     test_accuracy=float((nc.predict(xs_test) == y_test).mean()), fit_s=time.perf_counter() - t0))
    onehot = pd.get_dummies(pd.Series(y_train), dtype=float)[CLASSES].to_numpy()
    for j in args.components or [spec.model["n_components"]]:
        params = {**spec.estimator_params(), "n_components": j}
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = rgf.PPLS(**params).fit(train)
        fit_s = time.perf_counter() - t0
        prob = model.predict(test)
        pred = np.array(prob["subtype_feature"].values)[prob.values.argmax(1)]
        rows.append(dict(method="ppls_response", features="mrna+mirna (+protein in train)", n_components=j,
                         test_accuracy=float((pred == y_test).mean()), fit_s=fit_s))
        t_train = model.factors_.values[:, :j]
        t_test = model.transform(test).values[:, :j]
        lr = LogisticRegression(max_iter=2000).fit(t_train, y_train)
        rows.append(dict(method="ppls_factors_logreg", features="PPLS scores T", n_components=j,
                         test_accuracy=float((lr.predict(t_test) == y_test).mean()), fit_s=fit_s))
        t0 = time.perf_counter()
        pls = PLSRegression(j).fit(xs_train, onehot)
        pred = np.array(CLASSES)[pls.predict(xs_test).argmax(1)]
        rows.append(dict(method="sklearn_pls", features="mrna+mirna", n_components=j,
                         test_accuracy=float((pred == y_test).mean()), fit_s=time.perf_counter() - t0))

    res = pd.DataFrame(rows)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stem = ("breast_pam50_quick" if args.quick else "breast_pam50") + args.tag
    res.to_csv(out / f"{stem}.csv", index=False)
    md = [f"# PAM50 on 70 TCGA breast test patients (train 150){' — quick settings' if args.quick else ''}", "",
          f"PPLS: {spec.model}, inference {spec.inference}, seed {spec.seed}; "
          f"engine {model.diagnostics_['method']}, converged (last fit): {model.diagnostics_.get('converged')}. "
          "Test patients have no protein view.", "",
          "n_components is chosen by 3-fold subject CV on the train patients only (`--cv`, "
          "breast_pam50_cv.md), never by test accuracy; other values are shown for reference.", "",
          "| method | features | components | test accuracy | fit (s) |", "|---|---|---|---|---|"]
    for r in rows:
        nc_ = "" if pd.isna(r["n_components"]) else int(r["n_components"])
        md.append(f"| {r['method']} | {r['features']} | {nc_} | {r['test_accuracy']:.3f} | {r['fit_s']:.1f} |")
    (out / f"{stem}.md").write_text("\n".join(md) + "\n")
    print(res.to_string(index=False))


if __name__ == "__main__":
    main()
