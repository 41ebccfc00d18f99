"""Each registered likelihood's log-density against scipy, in one case table."""

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from scipy.special import expit

from rgfactor.generative.likelihoods import LIKELIHOODS, get


def nb_ref(mean, phi):
    # scipy nbinom(n, p): mean n(1-p)/p; with n = phi, p = phi / (phi + mean): variance mean + mean^2/phi
    return stats.nbinom(phi, phi / (phi + mean)).logpmf


CASES = [  # (likelihood, eta, nuisance, y, scipy reference)
    ("gaussian", 0.3, {"sigma": 1.7}, 0.9, stats.norm(0.3, 1.7).logpdf),
    ("gaussian", -2.0, {"sigma": 0.2}, -2.5, stats.norm(-2.0, 0.2).logpdf),
    ("negative_binomial", np.log(4.0), {"dispersion": 2.5}, 7, nb_ref(4.0, 2.5)),
    ("negative_binomial", np.log(1500.0), {"dispersion": 0.8}, 0, nb_ref(1500.0, 0.8)),
    ("negative_binomial", np.log(0.05), {"dispersion": 40.0}, 3, nb_ref(0.05, 40.0)),
    ("bernoulli", -0.4, {}, 1, stats.bernoulli(expit(-0.4)).logpmf),
    ("bernoulli", 6.0, {}, 0, stats.bernoulli(expit(6.0)).logpmf),
    ("poisson", np.log(3.2), {}, 5, stats.poisson(3.2).logpmf),
    ("poisson", np.log(0.01), {}, 0, stats.poisson(0.01).logpmf),
]


@pytest.mark.parametrize("name,eta,nuisance,y,ref", CASES)
def test_log_density_matches_scipy(name, eta, nuisance, y, ref):
    lik = get(name)
    params = {k: jnp.asarray(v) for k, v in nuisance.items()}
    got = float(lik.distribution(jnp.asarray(eta), params).log_prob(jnp.asarray(y, dtype=jnp.float32)))
    np.testing.assert_allclose(got, ref(y), rtol=2e-5, atol=2e-5)


MEAN_CASES = [  # E[y | eta] against the scipy distribution's mean
    ("gaussian", 0.7, {"sigma": 2.0}, stats.norm(0.7, 2.0).mean()),
    ("negative_binomial", np.log(12.0), {"dispersion": 3.0}, stats.nbinom(3.0, 3.0 / 15.0).mean()),
    ("bernoulli", 1.1, {}, expit(1.1)),
    ("poisson", np.log(6.0), {}, 6.0),
]


@pytest.mark.parametrize("name,eta,nuisance,expected", MEAN_CASES)
def test_mean_matches_scipy(name, eta, nuisance, expected):
    lik = get(name)
    got = float(lik.mean(jnp.asarray(eta), {k: jnp.asarray(v) for k, v in nuisance.items()}))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_registry_has_the_contract_likelihoods():
    assert set(LIKELIHOODS) >= {"gaussian", "negative_binomial", "bernoulli", "poisson"}


@pytest.mark.parametrize("name", ["gaussian", "negative_binomial", "bernoulli", "poisson"])
def test_latent_variance_positive_and_finite(name):
    eta = jnp.linspace(-5, 8, 7)
    params = {"sigma": jnp.asarray(0.5), "dispersion": jnp.asarray(2.0)}
    v = np.asarray(get(name).latent_variance(eta, params))
    assert v.shape == (7,) and np.all(np.isfinite(v)) and np.all(v > 0)


def test_unknown_likelihood_is_a_clear_error():
    from rgfactor.errors import SpecError

    with pytest.raises(SpecError, match="unknown likelihood 'gamma'"):
        get("gamma")
