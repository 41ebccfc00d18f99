"""Tests of natural-gradient stochastic VI (rgfactor.inference.cavi_stochastic.fit_cavi_stochastic)."""

from __future__ import annotations

import numpy as np
import pytest

from rgfactor.errors import SpecError
from rgfactor.inference.cavi_stochastic import fit_cavi_stochastic
from test_cavi import matched_abs_corr

from conftest import cavi_cohort as simulate, cavi_model, fit_cavi_quiet


@pytest.mark.slow   # 6,000 closed-form sweeps to reach a state that is a fixed point to 1e-5 (20 s)
@pytest.mark.timeout(120)
def test_the_cavi_optimum_is_a_fixed_point_of_the_full_batch_unit_step():
    """One batch of all subjects and rho = 1 is CAVI with another block order, so a converged CAVI
    state must be (numerically) a fixed point of the stochastic step: five steps from it move no
    posterior mean by more than 1e-4 (Gaussian + NB views, site effects, N=150, K=3, seed 0). A wrong
    rescaling, a missing prior term or a block whose target is not its coordinate optimum moves it
    by orders of magnitude more (the factors by ~1e-1)."""
    import jax
    import jax.numpy as jnp

    from rgfactor.inference.cavi_init import make_plan, prepare_data
    from rgfactor.inference.cavi_stochastic import _make_svi_step

    arrays, _, _ = simulate(n=150, likelihoods=("gaussian", "negative_binomial"), n_sites=2,
                            factor_scales=(2.0, 1.2, 0.6))
    model = cavi_model(arrays, 3, sparsity="ard", site_effects=True)
    cavi = fit_cavi_quiet(arrays, 3, sparsity="ard", site_effects=True, tol=1e-13, max_iter=6000, num_draws=2)
    plan = make_plan(model, arrays, dense=False)
    step = _make_svi_step(model, plan, 2)
    with jax.enable_x64(True):
        data = prepare_data(model, plan, arrays)
        state = jax.tree_util.tree_map(jnp.asarray, cavi.state)
        state["sweep"] = jnp.asarray(0, dtype=jnp.int32)
        new = state
        for _ in range(5):
            new = step(jnp.asarray(1.0), new, data, jnp.arange(arrays.n_subjects), jnp.asarray(1.0))
        new = jax.tree_util.tree_map(np.asarray, new)
    np.testing.assert_allclose(new["local"]["Z_m"], cavi.state["local"]["Z_m"], atol=1e-4)
    for m in range(2):
        g_new, g_old = new["global"]["views"][m], cavi.state["global"]["views"][m]
        np.testing.assert_allclose(g_new["loadings"]["Ew"], g_old["loadings"]["Ew"], atol=1e-4)
        np.testing.assert_allclose(g_new["terms"]["m"], g_old["terms"]["m"], atol=1e-4)
    np.testing.assert_allclose(new["global"]["views"][1]["lik"]["log_phi"],
                               cavi.state["global"]["views"][1]["lik"]["log_phi"], atol=1e-4)


# a fixed budget of 100 epochs: the test is of recovery, not of the criterion
@pytest.mark.filterwarnings("ignore::rgfactor.errors.ConvergenceWarning")
@pytest.mark.timeout(120)
def test_minibatch_svi_recovers_factors():
    """Minibatches of 50 of 200 subjects, rho_t = (t + 1)^-0.75, 100 epochs: true factors recovered
    with mean max-|corr| >= 0.9 (Gaussian + Bernoulli views, 2 sites, 1 covariate, seed 0)."""
    arrays, z, _ = simulate(n=200, likelihoods=("gaussian", "bernoulli"), n_sites=2, n_cov=1)
    res = fit_cavi_stochastic(cavi_model(arrays, 3, sparsity="ard", site_effects=True), arrays, batch_size=50,
                              n_epochs=100, num_draws=4)
    assert matched_abs_corr(z, res.moments["Z"]).mean() >= 0.9
    assert res.draws["site_effect_v0"].shape == (1, 4, 2, 30)
    assert res.draws["beta_v1"].shape == (1, 4, 1, 25)


def test_stochastic_vi_rejects_spike_and_slab():
    arrays, _, _ = simulate(n=20, dims=(5, 5))
    with pytest.raises(SpecError, match="SpikeSlabLoadings"):
        fit_cavi_stochastic(cavi_model(arrays, 2, sparsity="spike_and_slab"), arrays)


def test_stochastic_vi_warns_when_the_epochs_run_out():
    """Like the full-batch engine, a fit that stops at its epoch limit says so (two epochs cannot meet tol)."""
    from rgfactor.errors import ConvergenceWarning

    arrays, _, _ = simulate(n=40, dims=(8, 6))
    with pytest.warns(ConvergenceWarning, match="n_epochs=2"):
        res = fit_cavi_stochastic(cavi_model(arrays, 2, sparsity="ard"), arrays, batch_size=20, n_epochs=2,
                                  num_draws=2)
    assert not res.converged
