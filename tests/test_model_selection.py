"""Subject-level cross-validation (no leakage), held-out predictive density, PSIS-LOO, compare,
and the scikit-learn estimator contract of GFA, PCCA and PPLS."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.utils import estimator_checks as ec

import rgfactor as rgf
from rgfactor.errors import DataError
from rgfactor.model_selection import SubjectKFold, compare, cross_validate, heldout_log_density, loo

from test_ppls import ppls_blocks


@pytest.mark.parametrize("stratify", [False, True])
def test_subject_kfold_cannot_leak(small_cohort, stratify):
    """Every split: train and test subjects disjoint and covering the cohort, for every view."""
    data, truth = small_cohort
    labels = pd.Series(truth["Z"][:, 0] > 0, index=data.subjects) if stratify else None
    seen = []
    for train, test in SubjectKFold(4, stratify=labels, random_state=1).split(data):
        assert not set(train) & set(test) and set(train) | set(test) == set(data.subjects)
        tr, te = data.subset(train), data.subset(test)
        for v in data.view_names:
            assert not set(tr.views[v].dropna(how="all").index) & set(te.views[v].dropna(how="all").index)
            assert tr.views[v].shape[0] + te.views[v].shape[0] == data.n_subjects
        seen.extend(test)
    assert sorted(seen) == sorted(data.subjects)  # each subject is held out exactly once


def test_groups_stay_together_and_leaky_cv_is_refused(small_cohort):
    data, _ = small_cohort
    patient = pd.Series([s[:-1] for s in data.subjects], index=data.subjects)  # 10 subjects per group
    for train, test in SubjectKFold(3, groups=patient).split(data):
        assert not set(patient[train]) & set(patient[test])

    class Leaky:
        def split(self, data):
            yield np.asarray(data.subjects), np.asarray(data.subjects[:5])

    with pytest.raises(DataError, match="both sides"):
        cross_validate(rgf.GFA(1), data, Leaky())
    with pytest.raises(DataError, match="unknown"):
        data.subset(["nobody"])


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_cross_validate_ppls_with_binary_outcome():
    """2 folds, N=200: held-out log densities finite, outcome AUC well above chance (> 0.75)."""
    frames = ppls_blocks(200, n_components=1, seed=2, outcome=True)
    data = rgf.MultiViewData.from_pandas(frames, {"x": "gaussian", "y": "bernoulli"})
    cv = SubjectKFold(2, stratify=frames["y"]["y0"], random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = cross_validate(rgf.PPLS(1, response=["y"], max_iter=800, num_draws=30), data, cv, response="y")
    assert list(res.columns) == ["fold", "n_train", "n_test", "lpd_x", "lpd_y", "auc", "accuracy"]
    assert res["n_test"].sum() == 200 and np.isfinite(res[["lpd_x", "lpd_y"]].to_numpy()).all()
    assert res["auc"].mean() > 0.75


def test_heldout_density_matches_gaussian_closed_form(fitted_small, small_cohort):
    """For a Gaussian view the Monte Carlo log predictive density equals the closed form
    N(y; W m + b + u, W S W^T + diag sigma^2) under the same Laplace posterior N(m, S) of z."""
    import jax.numpy as jnp
    from scipy.stats import multivariate_normal

    from rgfactor.generative.model import model_data
    from rgfactor.inference.newsubjects import laplace_factors

    data, _ = small_cohort
    m = fitted_small
    got = heldout_log_density(m, data, "radiomics", num_draws=4000)
    arrays = data.to_arrays(m.preprocessing_)
    md = model_data(arrays)
    vd = md["views"]["radiomics"]
    masked = {**md, "views": {**md["views"], "radiomics": {**vd, "mask": jnp.zeros_like(vd["mask"])}}}
    params = m._global_means()
    mean, cov = laplace_factors(params, masked, m.model_)
    lin, nuis = m.model_.view_params("radiomics", params, md)
    mu = np.asarray(m.model_.linear_predictor("radiomics", lin, md, mean))
    # site_effects=True: the noise sd is per (subject, feature), sigma_d / sqrt(kappa[site(n), d])
    w = params["W_radiomics"]
    s2 = np.broadcast_to(np.asarray(nuis["sigma"]) ** 2, mu.shape)
    for n in range(10):
        obs = np.asarray(vd["mask"][n])
        if not obs.any():
            assert np.isnan(got[n])
            continue
        c = (w @ np.asarray(cov[n]) @ w.T + np.diag(s2[n]))[np.ix_(obs, obs)]
        ref = multivariate_normal(mu[n, obs], c).logpdf(np.asarray(vd["y"][n])[obs])
        assert abs(got[n] - ref) < 0.05 * max(1.0, abs(ref) / 10)


def test_loo_and_compare(fitted_small, small_cohort):
    data, _ = small_cohort
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = rgf.GFA(1, site_effects=True, max_iter=300, num_draws=50).fit(data)
        res = loo(fitted_small, pointwise=True)
        assert res["loo_i"].shape == (data.n_subjects,) and np.isfinite(res["elpd_loo"])
        table = compare({"K=3": fitted_small, "K=1": one})
    assert set(table.index) == {"K=3", "K=1"} and table["rank"].min() == 0


ESTIMATORS = [rgf.GFA(), rgf.PCCA(), rgf.PPLS(response=["y"])]
CHECKS = [ec.check_get_params_invariance, ec.check_set_params, ec.check_parameters_default_constructible,
          ec.check_no_attributes_set_in_init, ec.check_estimator_repr, ec.check_estimator_cloneable]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_sklearn_contract(estimator, check):
    """scikit-learn's own checks raise AssertionError on a violation; the estimator must be unchanged."""
    before = estimator.get_params()
    check(type(estimator).__name__, estimator)
    assert estimator.get_params() == before
