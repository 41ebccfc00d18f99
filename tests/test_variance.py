"""Variance explained: definition checks on a Gaussian view with known truth."""

import jax.numpy as jnp
import numpy as np

from rgfactor.generative.config import ModelConfig
from rgfactor.generative.model import describe
from rgfactor.posterior.variance import variance_explained


def test_gaussian_variance_explained_matches_direct_computation():
    rng = np.random.default_rng(0)
    n, d = 400, 50
    z = rng.normal(size=(n, 2))
    w = np.stack([rng.normal(0, 1.0, d), rng.normal(0, 0.5, d)], axis=1)
    sigma = np.full(d, 0.8)
    data = {"views": {"a": {"y": jnp.zeros((n, d)), "mask": jnp.ones((n, d), bool), "log_offset": jnp.zeros(n)}}}
    means = {"Z": z, "W_a": w, "intercept_a": np.zeros(d), "sigma_a": sigma}
    config = ModelConfig(views=(("a", "gaussian", d),), n_factors=2)
    per_factor, total = variance_explained(means, data, describe(config))
    f = z @ w.T
    den = ((f - f.mean(0)) ** 2).sum() + n * d * 0.64
    for k in range(2):
        fk = np.outer(z[:, k], w[:, k])
        np.testing.assert_allclose(per_factor[0, k], ((fk - fk.mean(0)) ** 2).sum() / den, rtol=1e-5)
    # population value: sum_d w_dk^2 / (sum_d |w_d|^2 + d sigma^2)
    pop = (w**2).sum(0) / ((w**2).sum() + d * 0.64)
    np.testing.assert_allclose(per_factor[0], pop, rtol=0.15)
    assert 0.0 <= total[0] <= 1.0 and abs(total[0] - per_factor[0].sum()) < 0.05


def test_bernoulli_fraction_uses_logistic_variance():
    n, d = 200, 10
    rng = np.random.default_rng(1)
    z = rng.normal(size=(n, 1))
    w = np.full((d, 1), 2.0)
    data = {"views": {"b": {"y": jnp.zeros((n, d)), "mask": jnp.ones((n, d), bool), "log_offset": jnp.zeros(n)}}}
    means = {"Z": z, "W_b": w, "intercept_b": np.zeros(d)}
    config = ModelConfig(views=(("b", "bernoulli", d),), n_factors=1)
    per_factor, _ = variance_explained(means, data, describe(config))
    fk = z @ w.T
    ss = ((fk - fk.mean(0)) ** 2).sum()
    np.testing.assert_allclose(per_factor[0, 0], ss / (ss + n * d * np.pi**2 / 3), rtol=1e-5)


def test_masked_view_matches_the_definition_computed_directly(monkeypatch):
    """With missing entries (and blocks of subjects smaller than the cohort, as for a large one), the
    per-factor and total fractions equal the definition's masked sums computed directly: every mean and
    sum of squares over the observed subjects of each feature."""
    import rgfactor.posterior.variance as variance

    monkeypatch.setattr(variance, "BLOCK", 64)
    rng = np.random.default_rng(2)
    n, d = 300, 40
    z = rng.normal(size=(n, 2))
    w = rng.normal(size=(d, 2))
    sigma = rng.uniform(0.5, 1.5, d)
    mask = rng.random((n, d)) > 0.3
    data = {"views": {"a": {"y": jnp.zeros((n, d)), "mask": jnp.asarray(mask), "log_offset": jnp.zeros(n)}}}
    means = {"Z": z, "W_a": w, "intercept_a": rng.normal(size=d), "sigma_a": sigma}
    config = ModelConfig(views=(("a", "gaussian", d),), n_factors=2)
    per_factor, total = variance_explained(means, data, describe(config))

    def ss(x):
        mu = np.array([x[mask[:, j], j].mean() for j in range(d)])
        return sum(((x[mask[:, j], j] - mu[j]) ** 2).sum() for j in range(d))

    den = ss(z @ w.T) + (mask * sigma[None, :] ** 2).sum()
    for k in range(2):
        np.testing.assert_allclose(per_factor[0, k], ss(np.outer(z[:, k], w[:, k])) / den, rtol=1e-6)
    np.testing.assert_allclose(total[0], ss(z @ w.T) / den, rtol=1e-6)
