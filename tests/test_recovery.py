"""Statistical tests: parameter recovery on simulated data with known truth, NUTS convergence."""

import warnings

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

import rgfactor as rgf


def matched_abs_corr(z_true: np.ndarray, z_hat: np.ndarray) -> np.ndarray:
    """max |corr| per true factor after Hungarian matching (sign/permutation alignment to the truth)."""
    k = z_true.shape[1]
    c = np.abs(np.corrcoef(z_true.T, z_hat.T)[:k, k:])
    rows, cols = linear_sum_assignment(-c)
    return c[rows, cols]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_svi_recovers_factors_nb_gaussian_bernoulli_with_sites_and_missing_views():
    """N=300, K=3, NB (200) + Gaussian (100) + Bernoulli (40), 3 sites, 10% of subjects missing each of the
    last two views, 2% missing entries, seed 0. Threshold 0.9 (issue #2): measured 0.98/0.99/0.97."""
    data, truth = rgf.simulate.multiview(n_subjects=300, n_factors=3, n_sites=3, random_state=0)
    assert data.views["radiomics"].isna().all(axis=1).any()  # the design has missing whole views
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = rgf.GFA(n_factors=3, site_effects=True, num_draws=100, random_state=0).fit(data)
    r = matched_abs_corr(truth["Z"], model.factors_.values)
    assert r.mean() >= 0.9, r
    # loadings of the Gaussian view are recovered too (same matching)
    k = 3
    c = np.abs(np.corrcoef(truth["Z"].T, model.factors_.values.T)[:k, k:])
    rows, cols = linear_sum_assignment(-c)
    w_true, w_hat = truth["W"]["radiomics"], model.loadings_["radiomics"].values
    active = np.flatnonzero(truth["activity"][1])
    for j in active:
        jj = cols[list(rows).index(j)]
        assert abs(np.corrcoef(w_true[:, j], w_hat[:, jj])[0, 1]) > 0.8
    # site effects: posterior means track the true site intercepts of the Gaussian view
    u_hat = model.idata_.posterior["site_effect_radiomics"].mean(("chain", "draw")).values
    u_true = truth["site_effect"]["radiomics"]
    u_true = u_true - u_true.mean(0)  # identified up to the intercept
    assert np.corrcoef(u_true.ravel(), (u_hat - u_hat.mean(0)).ravel())[0, 1] > 0.8


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_surplus_factors_are_switched_off_by_ard():
    """K=6 fitted to K=2 truth (all Gaussian): the 4 surplus factors explain < 1% each, and the two kept
    factors span the same subspace as a K=2 fit (surplus factors cost nothing). The subspace, not each
    factor, is compared: both true factors load on view b, so ARD alone leaves a rotation free."""
    from scipy.linalg import subspace_angles

    views = {"a": ("gaussian", 60), "b": ("gaussian", 80)}  # factor 2 is specific to view b
    data, truth = rgf.simulate.multiview(n_subjects=200, n_factors=2, views=views, n_sites=0,
                                         fraction_nonzero=0.5, random_state=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        surplus = rgf.GFA(n_factors=6, num_draws=50).fit(data)
        exact = rgf.GFA(n_factors=2, num_draws=50).fit(data)
    ve = surplus.variance_explained().values
    assert np.all(ve[:, 2:] < 0.01), ve

    def cosines(z_hat):
        return np.cos(subspace_angles(truth["Z"] - truth["Z"].mean(0), z_hat - z_hat.mean(0)))

    kept, ref = cosines(surplus.factors_.values[:, :2]), cosines(exact.factors_.values)
    assert kept.min() > 0.9, kept  # measured 0.94 (mean-field posterior means of a 1-view factor)
    np.testing.assert_allclose(kept, ref, atol=0.02)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_nuts_small_fit_converges_after_alignment():
    """NUTS, 4 chains x 1000 draws, N=60, K=2 shared factors, Gaussian + Bernoulli views: after
    sign/permutation/rotation alignment, R-hat < 1.01 for the loadings and ARD precisions and the
    factors are recovered."""
    views = {"a": ("gaussian", 12), "b": ("gaussian", 10), "m": ("bernoulli", 10)}
    data, truth = rgf.simulate.multiview(n_subjects=60, n_factors=2, views=views, n_sites=0, fraction_nonzero=0.6,
                                         missing_views=0.0, random_state=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = rgf.GFA(n_factors=2, method="nuts", num_warmup=1000, num_draws=1000, num_chains=4,
                        random_state=0).fit(data)
    import arviz as az

    rhat = az.rhat(model.idata_, var_names=["W_a", "W_b", "W_m", "Z", "alpha_a", "alpha_b", "alpha_m"])
    worst = max(float(rhat[v].max()) for v in rhat.data_vars)  # unrounded (az.summary rounds to 0.01)
    assert worst < 1.01, {v: float(rhat[v].max()) for v in rhat.data_vars}
    assert model.diagnostics_["n_divergent"] <= 5
    assert matched_abs_corr(truth["Z"], model.factors_.values).min() > 0.9
