"""The closed-form engine and SVI fit the same model: for GFA, PCCA and PPLS their posterior-mean
factors agree after alignment (issue: one model description for every engine)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import rgfactor as rgf


def _data(structure):
    if structure == "PPLS":
        frames, _ = rgf.simulate.ppls(250, 2, n_predictors=20, n_responses=6, random_state=1)
        return rgf.MultiViewData.from_pandas(frames, {"x": "gaussian", "y": "gaussian"})
    views = {"g": ("gaussian", 30), "c": ("negative_binomial", 25), "b": ("bernoulli", 20)}
    act = None if structure == "GFA" else np.array([[1, 1, 1, 0, 0], [1, 1, 0, 1, 0], [1, 1, 0, 0, 1]])
    data, _ = rgf.simulate.multiview(n_subjects=250, n_factors=3 if act is None else 5, views=views, n_sites=0,
                                     activity=act, fraction_nonzero=0.5, missing_views=0.0, random_state=4)
    return data


ESTIMATORS = {"GFA": lambda **kw: rgf.GFA(3, **kw), "PCCA": lambda **kw: rgf.PCCA(2, 1, **kw),
              "PPLS": lambda **kw: rgf.PPLS(2, response=["y"], **kw)}


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("structure", ["GFA", "PCCA", "PPLS"])
def test_cavi_and_svi_factors_agree(structure):
    """Same data, same model (ARD loadings): after alignment (orthogonal Procrustes of the closed-form
    factors onto the SVI factors within each group of factors with the same activity pattern, as
    rgfactor aligns NUTS draws: a rotation inside a group leaves the likelihood unchanged and is only
    weakly identified by the priors), every factor that explains >= 10% of some view correlates
    >= 0.95 with its SVI counterpart. N=250; two fits of one posterior agree to ~0.99 on such factors,
    a different model or a broken engine gives ~0.3-0.8. (Weaker factors are left out: PPLS's residual
    scores H, ~5% of the response, scale with sigma_h, whose prior differs between the engines by
    declaration, HalfNormal(1) on sigma_h vs Gamma(2, 1) on 1/sigma_h^2; they agree to ~0.94.)"""
    from scipy.linalg import orthogonal_procrustes

    from rgfactor.posterior.idata import factor_groups

    data = _data(structure)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cavi = ESTIMATORS[structure](sparsity="ard", method="cavi", num_draws=50, random_state=0).fit(data)
        svi = ESTIMATORS[structure](sparsity="ard", method="svi", max_iter=4000, num_draws=50, random_state=0).fit(data)
    zc, zs = cavi.factors_.values, svi.factors_.values
    zc, zs = zc - zc.mean(0), zs - zs.mean(0)
    groups = factor_groups(cavi.model_)
    groups = np.zeros(zc.shape[1], dtype=int) if groups is None else groups
    active = cavi.variance_explained().values.max(axis=0) >= 0.10
    assert active.sum() >= 2, cavi.variance_explained().values
    corr = {}
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        rot, _ = orthogonal_procrustes(zc[:, idx], zs[:, idx])
        aligned = zc[:, idx] @ rot
        for j, col in zip(idx, aligned.T):
            if active[j]:
                corr[int(j)] = abs(np.corrcoef(col, zs[:, j])[0, 1])
    assert min(corr.values()) >= 0.95, {j: round(c, 3) for j, c in corr.items()}
