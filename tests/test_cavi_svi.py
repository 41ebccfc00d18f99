"""Tests of natural-gradient SVI (rgfactor.inference.cavi_svi.fit_svi_natural)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from rgfactor.errors import SpecError
from rgfactor.inference.cavi_svi import fit_svi_natural

# the simulator and helpers of test_cavi.py, loaded by path (works with or without tests/__init__.py)
_spec = importlib.util.spec_from_file_location("_cavi_helpers", Path(__file__).with_name("test_cavi.py"))
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)
fit_quiet, matched_abs_corr, simulate = _helpers.fit_quiet, _helpers.matched_abs_corr, _helpers.simulate


@pytest.mark.timeout(120)
def test_full_batch_unit_step_reaches_the_cavi_fixed_point():
    """One batch of all subjects and rho_t = 1 (forgetting = 0) is CAVI with another block order,
    so it must reach the same optimum as fit_cavi(sparsity='ard') (N=200, K=3, seed 0; distinct
    factor scales so that both converge in a few hundred sweeps)."""
    arrays, _, _ = simulate(n=200, likelihoods=("gaussian", "negative_binomial"), factor_scales=(2.0, 1.2, 0.6))
    cavi = fit_quiet(arrays, 3, sparsity="ard", tol=1e-10, max_iter=3000, num_draws=2)
    svi = fit_svi_natural(arrays, 3, batch_size=200, forgetting=0.0, n_epochs=1500, tol=1e-10, num_draws=2)
    assert matched_abs_corr(cavi.moments["Z"], svi.moments["Z"]).min() > 0.9999
    np.testing.assert_allclose(svi.moments["W_v0"], cavi.moments["W_v0"], atol=2e-2)
    np.testing.assert_allclose(svi.moments["dispersion_v1"], cavi.moments["dispersion_v1"], rtol=5e-3)


@pytest.mark.timeout(120)
def test_minibatch_svi_recovers_factors():
    """Minibatches of 50 of 200 subjects, rho_t = (t + 1)^-0.75, 100 epochs: true factors recovered
    with mean max-|corr| >= 0.9 (Gaussian + Bernoulli views, 2 sites, 1 covariate, seed 0)."""
    arrays, z, _ = simulate(n=200, likelihoods=("gaussian", "bernoulli"), n_sites=2, n_cov=1)
    res = fit_svi_natural(arrays, 3, batch_size=50, n_epochs=100, site_effects=True, num_draws=4)
    assert matched_abs_corr(z, res.moments["Z"]).mean() >= 0.9
    assert res.draws["site_effect_v0"].shape == (1, 4, 2, 30)
    assert res.draws["beta_v1"].shape == (1, 4, 1, 25)


def test_svi_rejects_spike_and_slab():
    arrays, _, _ = simulate(n=20, dims=(5, 5))
    with pytest.raises(SpecError, match="ard"):
        fit_svi_natural(arrays, 2, sparsity="spike_and_slab")
