"""Large cohorts through the public API: float32 data stay float32 on their way to the engine, a
float32 cohort fits like its float64 copy, and ``batch_size=`` runs stochastic VI from ``fit``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import rgfactor as rgf
from test_cavi import matched_abs_corr


@pytest.fixture(scope="module")
def cohort():
    """N=240, Gaussian views of 40 and 30 features (5% missing entries), K=3, seed 0."""
    data, truth = rgf.simulate.multiview(
        n_subjects=240, n_factors=3, views={"a": ("gaussian", 40), "b": ("gaussian", 30)}, n_sites=0,
        fraction_nonzero=0.5, activity=np.ones((2, 3), dtype=int), factor_scales=(2.0, 1.5, 1.0),
        missing_entries=0.05, missing_views=0.0, noise_sd=0.7, random_state=0)
    return data, truth["Z"]


def as_float32(data):
    return rgf.MultiViewData.from_pandas({v: df.astype(np.float32) for v, df in data.views.items()},
                                         data.likelihoods)


def quiet_fit(est, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(data)


def test_float32_frames_stay_float32_and_preprocess_like_float64(cohort):
    """float32 frames are validated, standardised and handed on in float32 (half the memory of a
    float64 copy); the fitted preprocessing and the model-scale values agree with those of the same
    values in float64 to float32 round-off (relative 1e-6 of unit-sd values)."""
    data64, _ = cohort
    data32 = as_float32(data64)
    a64, a32 = data64.to_arrays(), data32.to_arrays()
    for v64, v32 in zip(a64.views, a32.views):
        assert data32.views[v32.name].to_numpy().dtype == np.float32 and v32.y.dtype == np.float32
        np.testing.assert_array_equal(v32.mask, v64.mask)
        np.testing.assert_allclose(v32.y, v64.y, atol=2e-5)
        np.testing.assert_allclose(v32.centre, v64.centre, atol=1e-5)
        np.testing.assert_allclose(v32.scale, v64.scale, rtol=1e-5)
    assert all(v.y.dtype == np.float64 for v in a64.views)   # float64 data are not narrowed


@pytest.mark.timeout(300)
def test_float32_cohort_fits_like_its_float64_copy(cohort):
    """The closed-form engine computes in float64 whatever the data's precision, so a float32 cohort's
    fit differs from its float64 copy's by the data's round-off only: factors and loadings within 1e-3
    (posterior sds here are ~0.1)."""
    data64, _ = cohort
    fits = [quiet_fit(rgf.GFA(n_factors=3, method="cavi", num_draws=10, random_state=0), d)
            for d in (data64, as_float32(data64))]
    np.testing.assert_allclose(fits[1].factors_.values, fits[0].factors_.values, atol=1e-3)
    for v in ("a", "b"):
        np.testing.assert_allclose(fits[1].loadings_[v].values, fits[0].loadings_[v].values, atol=1e-3)


@pytest.mark.timeout(300)
def test_batch_size_fits_by_stochastic_vi_from_the_public_api(cohort):
    """GFA(batch_size=60).fit: minibatches of 60 of 240 subjects, 40 epochs; sparsity='auto' means ARD
    there (spike-and-slab has no natural-gradient step), and the true factors are recovered (matched
    |corr| >= 0.9 each)."""
    data, z = cohort
    est = quiet_fit(rgf.GFA(n_factors=3, batch_size=60, max_iter=40, num_draws=10, random_state=0), data)
    assert est.diagnostics_["sparsity"] == "ard" and est.diagnostics_["batch_size"] == 60
    assert est.diagnostics_["n_steps"] <= 40 * 4
    assert matched_abs_corr(z, est.factors_.values).min() >= 0.9


# five fixed epochs (tol=0): the warning that they ran out is expected
@pytest.mark.filterwarnings("ignore::rgfactor.errors.ConvergenceWarning")
@pytest.mark.timeout(300)
def test_compact_device_data_give_the_same_stochastic_fit(cohort, monkeypatch):
    """Stochastic VI keeps the (subject, feature) data in their own precision with a boolean mask and
    casts each minibatch to float64; on float64 data this is the float64 path exactly (5 epochs agree
    to 1e-10)."""
    import rgfactor.inference.cavi_stochastic as cs
    from conftest import cavi_model

    arrays = rgf.simulate.model_arrays(cohort[0])
    model = cavi_model(arrays, 3, sparsity="ard")
    compact = cs.fit_cavi_stochastic(model, arrays, batch_size=60, n_epochs=5, tol=0.0, num_draws=2)
    full = cs.prepare_data
    monkeypatch.setattr(cs, "prepare_data", lambda model, plan, arrays, compact=False: full(model, plan, arrays))
    wide = cs.fit_cavi_stochastic(model, arrays, batch_size=60, n_epochs=5, tol=0.0, num_draws=2)
    for name in ("Z", "W_a", "W_b", "intercept_a"):
        np.testing.assert_allclose(compact.moments[name], wide.moments[name], rtol=1e-10, atol=1e-12, err_msg=name)
