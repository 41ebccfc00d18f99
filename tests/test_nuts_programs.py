"""NUTS compiled once per model and settings (rgfactor.inference.nuts): reuse, determinism, and the
warmup/sampling split, checked against the exact posterior of a conjugate model."""

import warnings

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

import rgfactor as rgf
from rgfactor.inference import nuts as N

PROGRAMS = (N._initial_params, N._start, N._advance, N._constrain)


def normal_mean(y):
    """y_i ~ N(mu, 1), mu ~ N(0, 10^2): posterior N(sum y / (n + 0.01), 1 / (n + 0.01))."""
    mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
    numpyro.deterministic("mu_twice", 2.0 * mu)
    with numpyro.plate("obs", y.shape[0]):
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)


@pytest.mark.timeout(300)
def test_draws_match_the_exact_posterior_and_warmup_is_left_out():
    y = jnp.asarray(np.random.default_rng(0).normal(1.5, 1.0, 40))
    res = N.run_sampler(normal_mean, y, num_warmup=300, num_samples=500, num_chains=2, random_state=0)
    mu = res.draws["mu"]
    assert mu.shape == (2, 500) and res.draws["mu_twice"].shape == (2, 500)
    np.testing.assert_allclose(res.draws["mu_twice"], 2.0 * mu, rtol=1e-6)   # deterministic sites constrained too
    prec = y.shape[0] + 0.01
    mean, sd = float(jnp.sum(y)) / prec, prec**-0.5
    # NUTS on a 1-D Gaussian: effective sample size about the number of draws (1,000); 4 MCSE at half that
    mcse = sd / np.sqrt(500)
    assert abs(mu.mean() - mean) < 4 * mcse, (mu.mean(), mean)
    assert 0.85 < mu.std() / sd < 1.15, (mu.std(), sd)
    for name in N.FIELDS:
        assert res.sample_stats[name].shape == (2, 500), name
    # adaptation ends with the warmup: one step size per chain over all kept draws
    steps = res.sample_stats["step_size"]
    assert np.all(steps == steps[:, :1])
    assert not res.sample_stats["diverging"].any()


def _mediation_fit(seed):
    data, clin, _ = rgf.simulate.mediation(120, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rgf.Mediation(mediators=["mediators"], num_warmup=100, num_draws=100, num_chains=2, progress=False,
                             random_state=seed).fit(data, exposure=clin["exposure"], outcome=clin["y"])


@pytest.mark.timeout(300)
def test_a_second_fit_of_an_equal_model_compiles_nothing_and_the_seed_decides():
    first = _mediation_fit(0)
    sizes = [f._cache_size() for f in PROGRAMS]
    again = _mediation_fit(0)
    other = _mediation_fit(1)                      # another replicate of the same design: same shapes
    assert [f._cache_size() for f in PROGRAMS] == sizes
    np.testing.assert_array_equal(first.effects_["NIE"].values, again.effects_["NIE"].values)
    assert not np.array_equal(first.effects_["NIE"].values, other.effects_["NIE"].values)


def log_rate_model(y):
    """Poisson counts with a log rate: the log density is -inf at a rate of 0."""
    rate = numpyro.sample("rate", dist.Exponential(1.0))
    with numpyro.plate("obs", y.shape[0]):
        numpyro.sample("y", dist.Poisson(rate), obs=y)


@pytest.mark.timeout(120)
def test_a_start_with_a_non_finite_log_density_is_refused_with_an_inference_error():
    from rgfactor.errors import InferenceError

    y = jnp.asarray([1.0, 3.0, 2.0])
    with pytest.raises(InferenceError, match="not finite at the starting values"):
        N.run_sampler(log_rate_model, y, num_warmup=10, num_samples=10, num_chains=1, init_values={"rate": 0.0})
    res = N.run_sampler(log_rate_model, y, num_warmup=50, num_samples=50, num_chains=1, init_values={"rate": 2.0})
    assert np.isfinite(res.draws["rate"]).all()
