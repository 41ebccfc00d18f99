"""Factors and predictions for unseen subjects, given the fitted global parameters.

For a new subject n the global parameters (loadings, intercepts, site and covariate effects,
nuisance) are fixed at their posterior means (a plug-in approximation) and the posterior of z_n
is approximated by Laplace's method (Tierney & Kadane 1986): Newton iterations to the mode of

    log p(z_n) + sum_m sum_{d observed} log p(y^m_nd | eta^m_nd(z_n)),

with log p(z_n) the factor prior's (in the reported parameterisation), which is concave in z_n for
every registered likelihood (Gaussian; Bernoulli-logit; Poisson and
negative binomial with log link and fixed dispersion), and covariance minus the inverse Hessian
there. Views a subject lacks simply drop out of the sum, so a subject with radiomics only gets
factors from radiomics only. The Hessian is block-diagonal across subjects, so its K x K blocks come
from K Hessian-vector products.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from rgfactor.generative.model import Model


def _log_joint(z: jax.Array, params: dict, data: dict, model: Model) -> jax.Array:
    total = model.factors.log_density(z, data)
    for view in model.view_names:
        total = total + jnp.sum(model.log_likelihood(view, params, data, z))
    return total


@partial(jax.jit, static_argnames=("model", "n_iter"))
def laplace_factors(params: dict, data: dict, model: Model, n_iter: int = 30) -> tuple[jax.Array, jax.Array]:
    """Laplace approximation of p(z_n | y_n, globals) for every subject in ``data``.

    Returns
    -------
    mean : (n_subjects, K) posterior modes.
    cov : (n_subjects, K, K) posterior covariances (the prior's identity for a subject with no data).
    """
    n = next(iter(data["views"].values()))["y"].shape[0]
    k = model.n_factors
    f = partial(_log_joint, params=params, data=data, model=model)
    grad = jax.grad(f)

    def hess_blocks(z):
        eye = jnp.eye(k)
        cols = [jax.jvp(grad, (z,), (jnp.broadcast_to(eye[j], (n, k)),))[1] for j in range(k)]
        return jnp.stack(cols, axis=-1)  # (n, k, k): H_n[:, j]

    def step(z, _):
        g, h = grad(z), hess_blocks(z)
        return z - jnp.linalg.solve(h, g[..., None])[..., 0], None

    z, _ = jax.lax.scan(step, jnp.zeros((n, k)), None, length=n_iter)
    cov = jnp.linalg.inv(-hess_blocks(z))
    return z, 0.5 * (cov + jnp.swapaxes(cov, -1, -2))


@dataclass
class NewSubjects:
    """Laplace posterior of the factors of unseen subjects (see :func:`new_subject_posterior`).

    arrays : the subjects' ModelArrays (training preprocessing applied); data : model arrays;
    params : posterior-mean globals; mean : (subject, factor); cov : (subject, factor, factor).
    """

    arrays: object
    data: dict
    params: dict
    mean: jax.Array
    cov: jax.Array


def new_subject_posterior(model: Model, params: dict, arrays, data: dict, hide: str | None = None) -> NewSubjects:
    """Laplace posterior of the factors of ``arrays``' subjects given the globals ``params``, with
    view ``hide`` (if given) left out of it."""
    mean, cov = laplace_factors(params, data if hide is None else hide_view(data, hide), model)
    return NewSubjects(arrays, data, params, mean, cov)


def hide_view(data: dict, view: str) -> dict:
    """A copy of the model data in which ``view`` is fully masked (left out of every likelihood)."""
    vd = data["views"][view]
    return {**data, "views": {**data["views"], view: {**vd, "mask": jnp.zeros_like(vd["mask"])}}}


def laplace_draws(mean: jax.Array, cov: jax.Array, num_draws: int, random_state: int) -> jax.Array:
    """(num_draws, n_subjects, K) draws of z from the Laplace posteriors N(mean_n, cov_n)."""
    chol = jnp.linalg.cholesky(cov + 1e-9 * jnp.eye(cov.shape[-1]))
    eps = jax.random.normal(jax.random.PRNGKey(random_state), (num_draws,) + mean.shape)
    return mean + jnp.einsum("nij,snj->sni", chol, eps)


def predictive_mean(model: Model, view: str, params: dict, data: dict, mean: jax.Array, cov: jax.Array,
                    num_draws: int = 200, random_state: int = 0, include_offset: bool = False) -> np.ndarray:
    """E[y^view | y_observed] for new subjects: the inverse link averaged over the Laplace posterior of z.

    Counts are per unit size factor unless ``include_offset``. Returns (n_subjects, n_features).
    """
    zs = laplace_draws(mean, cov, num_draws, random_state)
    lin, nuis = model.view_params(view, params)
    lik = model.view(view).likelihood
    pred_data = data
    if not include_offset:
        views = dict(data["views"])
        views[view] = {**views[view], "log_offset": jnp.zeros_like(views[view]["log_offset"])}
        pred_data = {**data, "views": views}
    mu = jax.vmap(lambda z: lik.mean(model.linear_predictor(view, lin, pred_data, z), nuis))(zs)
    return np.asarray(mu.mean(0))
